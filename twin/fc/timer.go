package fc

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// cronParser accepts what FC timer triggers accept: "@every <duration>" and
// six-field cron expressions with seconds first ("?" allowed in the day
// fields), optionally prefixed with CRON_TZ=<zone>.
var cronParser = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCron parses a timer trigger's cronExpression. Without a CRON_TZ (or
// TZ) prefix the expression is read in UTC, as FC reads it.
func ParseCron(expr string) (cron.Schedule, error) {
	e := strings.TrimSpace(expr)
	if e == "" {
		return nil, fmt.Errorf("empty cron expression")
	}
	tz := strings.HasPrefix(e, "CRON_TZ=") || strings.HasPrefix(e, "TZ=")
	if tz && !strings.Contains(e, " ") {
		// cron's parser slices up to the first space and panics without one.
		return nil, fmt.Errorf("invalid cron expression %q: a time zone and no schedule", expr)
	}
	if !tz && !strings.HasPrefix(e, "@every") {
		e = "CRON_TZ=UTC " + e
	}
	s, err := cronParser.Parse(e)
	if err != nil {
		return nil, fmt.Errorf("invalid cron expression %q: %w", expr, err)
	}
	return s, nil
}

// TimerEvent is the event a timer trigger delivers (the shape of
// fc-runtime-go-sdk's events.TimerEvent).
type TimerEvent struct {
	TriggerTime string `json:"triggerTime"`
	TriggerName string `json:"triggerName"`
	Payload     string `json:"payload"`
}

// Firing is the next firing of a timer trigger.
type Firing struct {
	Function string
	Trigger  string
	// At is when it fires, simulated.
	At time.Time
	// Period is the time from At to the firing after it: a short one marks
	// a heartbeat (a poll every minute), a long one a schedule (a daily
	// run).
	Period time.Duration
}

// NextFirings returns the next firing of every enabled timer, earliest
// first. A timer whose time has come but that has not fired yet is listed
// with that time.
func (s *Server) NextFirings() []Firing {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firingsLocked()
}

func (s *Server) firingsLocked() []Firing {
	out := make([]Firing, 0, len(s.next))
	for _, n := range s.next {
		out = append(out, n.Firing)
	}
	slices.SortFunc(out, func(a, b Firing) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.Function+"\x00"+a.Trigger, b.Function+"\x00"+b.Trigger)
	})
	return out
}

// runTimer fires t for fn on the server's clock until ctx ends. Each firing
// is an asynchronous invocation.
func (s *Server) runTimer(ctx context.Context, fn string, t Timer) {
	sched, err := ParseCron(t.CronExpression)
	if err != nil {
		return // Deploy validated it
	}
	key := fn + "\x00" + t.Name
	s.mu.Lock()
	s.timerSeq++
	owner := s.timerSeq
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.next[key].owner == owner {
			delete(s.next, key)
		}
		s.mu.Unlock()
	}()
	next := sched.Next(s.clock.Now())
	for {
		s.mu.Lock()
		s.next[key] = timerNext{Firing: Firing{Function: fn, Trigger: t.Name, At: next, Period: sched.Next(next).Sub(next)}, owner: owner}
		s.mu.Unlock()
		if err := s.clock.SleepUntil(ctx, next); err != nil {
			return
		}
		ev, _ := json.Marshal(TimerEvent{
			TriggerTime: next.UTC().Format(time.RFC3339),
			TriggerName: t.Name,
			Payload:     t.Payload,
		})
		if _, err := s.invokeAsync(ctx, fn, ev, "", SourceTimer); err != nil {
			s.logf(fn, "timer %s: %v", t.Name, err)
		}
		n := sched.Next(next)
		if now := s.clock.Now(); n.Before(now) {
			// Fell behind (a very fast clock, or a jump): skip the missed
			// firings, as FC does not catch up.
			n = sched.Next(now)
		}
		next = n
	}
}
