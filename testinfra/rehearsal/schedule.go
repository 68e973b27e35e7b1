package rehearsal

import (
	"fmt"
	"math"
	"time"

	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/plan"
	fctwin "github.com/kmsmig/kmsmig/twin/fc"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// schedule is the rehearsal's calendar in simulated time, read from the
// deployed timers: night k (1-based) begins when discover's timer fires
// for the k-th time; its window is the one open at, or next after, that
// moment; the rehearsal ends at the first firing of the sweep's timer
// after the last night's window.
type schedule struct {
	loc      *time.Location
	start    time.Time   // the clock's start: shortly before the first discover
	discover []time.Time // night k begins at discover[k-1]; one more than nights
	window   *app.DailyWindow
	windows  [][2]time.Time // night k's window at windows[k-1]
	end      time.Time
}

// startLead is how long before the first discover the clock starts.
const startLead = 30 * time.Second

func newSchedule(day time.Time, loc *time.Location, nights int, discoverCron, sweepCron, window string) (*schedule, error) {
	disc, err := fctwin.ParseCron(discoverCron)
	if err != nil {
		return nil, fmt.Errorf("rehearsal: discover's timer: %w", err)
	}
	sweep, err := fctwin.ParseCron(sweepCron)
	if err != nil {
		return nil, fmt.Errorf("rehearsal: the sweep's timer: %w", err)
	}
	s := &schedule{loc: loc}
	if window != "" {
		w, err := app.ParseDailyWindow(window)
		if err != nil {
			return nil, fmt.Errorf("rehearsal: window: %w", err)
		}
		s.window = &w
	}
	midnight := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
	at := midnight
	for range nights + 1 {
		at = disc.Next(at)
		s.discover = append(s.discover, at)
	}
	s.start = s.discover[0].Add(-startLead)
	for k := range nights {
		ws, we := s.discover[k], s.discover[k+1]
		if s.window != nil {
			ws, we = s.window.At(s.discover[k], loc)
		}
		s.windows = append(s.windows, [2]time.Time{ws, we})
	}
	s.end = sweep.Next(s.windows[nights-1][1])
	return s, nil
}

// night returns the night t falls in. Night k begins halfway between the
// discovers of nights k-1 and k (13:00 the day before, for a discover at
// 01:00), so that its evening comes before its discover, and its window
// and sweep after.
func (s *schedule) night(t time.Time) int {
	n := 1
	for k := 1; k < len(s.discover); k++ {
		if !t.Before(s.discover[k].Add(-s.discover[k].Sub(s.discover[k-1]) / 2)) {
			n = k + 1
		}
	}
	return n
}

// windowLength is how long one night's window is open; without a window,
// a whole day.
func (s *schedule) windowLength() time.Duration {
	if s.window == nil {
		return 24 * time.Hour
	}
	return s.windows[0][1].Sub(s.windows[0][0])
}

// cronAt is the six-field cron expression of a daily HH:MM.
func cronAt(hhmm time.Duration) string {
	return fmt.Sprintf("0 %d %d * * *", int(hhmm/time.Minute)%60, int(hhmm/time.Hour))
}

// LowerBound is the fewest nights an estate's first plan can take in a
// window, from the KMS twin's task timing alone.
type LowerBound struct {
	// Nights = ⌈Critical ÷ Window⌉ (0 when nothing is planned).
	Nights int `json:"nights"`
	// Critical is the task time of the busiest lane or target instance:
	// the sum, over the first night's planned batches, of TaskTiming's
	// duration (Base + PerResource × the batch's keys and secrets; 30 s +
	// 2 s by default), per lane and per instance (each runs one task at a
	// time), whichever sum is larger.
	Critical time.Duration `json:"critical"`
	// On names that lane or instance.
	On string `json:"on"`
	// Window is the window's length.
	Window time.Duration `json:"window"`
}

// lowerBound computes LowerBound. It ignores everything that can only add
// time (polling, restores, retries, later owners' changes, injected
// events) and that a batch cannot be split across two windows, so the
// rehearsal can never need fewer nights.
func lowerBound(p *plan.Plan, timing kmstwin.TaskTiming, window time.Duration) LowerBound {
	lb := LowerBound{Window: window}
	sums := map[string]time.Duration{}
	for _, lp := range p.Lanes {
		for _, b := range lp.Batches {
			d := timing.Duration(len(b.Keys) + len(b.Secrets))
			sums["lane "+b.Lane.String()] += d
			sums["instance "+b.InstanceID] += d
		}
	}
	for on, d := range sums {
		if d > lb.Critical || (d == lb.Critical && on < lb.On) {
			lb.Critical, lb.On = d, on
		}
	}
	if lb.Critical > 0 && window > 0 {
		lb.Nights = int(math.Ceil(float64(lb.Critical) / float64(window)))
	}
	return lb
}
