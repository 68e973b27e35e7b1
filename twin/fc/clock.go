package fc

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Clock is the twin's notion of time for scheduling: timer triggers, async
// retry back-off and the triggerTime of timer events. Simulated time runs
// speed times faster than wall-clock time, and may jump forward (Jump):
//
//	simulated = mapping.Simulated + speed × (wall-clock now − mapping.Wall)
//
// where the mapping is set by NewClock and moved by every Jump. Invocation
// deadlines, function timeouts and STS expiry stay in wall-clock time,
// since the function's code runs in real time. Publish writes the mapping
// to a file, kept up to date on every jump, so that other processes (the
// functions of a rehearsal) read the same simulated time. A Clock is safe
// for concurrent use.
type Clock struct {
	speed   float64
	mapping atomic.Pointer[ClockMapping]

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every jump
	file    string        // where Publish keeps the mapping; empty: nowhere
}

// ClockMapping ties simulated time to the wall clock: at wall-clock
// instant Wall the simulated time was Simulated, and it advances Speed
// simulated seconds per wall-clock second. It is also the JSON document
// Publish writes:
//
//	{"wall": "<RFC 3339, ns>", "simulated": "<RFC 3339, ns>", "speed": 60}
//
// Wall carries no monotonic reading: every reader computes from the wall
// clock, so that all of them agree.
type ClockMapping struct {
	Wall      time.Time `json:"wall"`
	Simulated time.Time `json:"simulated"`
	Speed     float64   `json:"speed"`
}

// At returns the simulated time at wall-clock instant wall.
func (m ClockMapping) At(wall time.Time) time.Time {
	return m.Simulated.Add(time.Duration(float64(wall.Round(0).Sub(m.Wall)) * m.Speed))
}

// NewClock returns a clock reading start now and advancing speed simulated
// seconds per wall-clock second. speed <= 0 means 1.
func NewClock(start time.Time, speed float64) *Clock {
	if speed <= 0 {
		speed = 1
	}
	c := &Clock{speed: speed, changed: make(chan struct{})}
	c.mapping.Store(&ClockMapping{Wall: time.Now().Round(0), Simulated: start, Speed: speed})
	return c
}

// RealClock returns a clock that reads wall-clock time.
func RealClock() *Clock { return NewClock(time.Now(), 1) }

// Now returns the simulated time.
func (c *Clock) Now() time.Time { return c.mapping.Load().At(time.Now()) }

// Mapping returns the current mapping from wall-clock to simulated time.
func (c *Clock) Mapping() ClockMapping { return *c.mapping.Load() }

// Speed returns the speed factor.
func (c *Clock) Speed() float64 { return c.speed }

// Real converts a simulated duration to the wall-clock time it takes.
func (c *Clock) Real(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.speed)
}

// Jump moves simulated time forward to `to` at once; every Sleep and
// SleepUntil re-reads the clock, so timers whose time has come fire. A
// `to` not after Now is a no-op (the clock never goes back). It returns
// how far the clock moved, and an error only when the published mapping
// (Publish) could not be rewritten: the clock has moved all the same.
func (c *Clock) Jump(to time.Time) (time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	wall := time.Now().Round(0)
	m := c.mapping.Load()
	now := m.At(wall)
	if !to.After(now) {
		return 0, nil
	}
	c.mapping.Store(&ClockMapping{Wall: wall, Simulated: to.In(m.Simulated.Location()), Speed: c.speed})
	close(c.changed)
	c.changed = make(chan struct{})
	return to.Sub(now), c.writeLocked()
}

// Publish writes the mapping to path (JSON, ClockMapping) now and again
// after every Jump, replacing the file atomically (a new file renamed over
// the old one), so that a reader never sees a partial document.
func (c *Clock) Publish(path string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.file = path
	return c.writeLocked()
}

func (c *Clock) writeLocked() error {
	if c.file == "" {
		return nil
	}
	b, err := json.Marshal(c.mapping.Load())
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(c.file), ".clock-*")
	if err != nil {
		return fmt.Errorf("fc: publish clock: %w", err)
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if err := firstErr(werr, cerr); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("fc: publish clock: %w", err)
	}
	if err := os.Rename(f.Name(), c.file); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("fc: publish clock: %w", err)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// jumped returns a channel closed at the next jump.
func (c *Clock) jumped() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// Sleep waits for simulated duration d (less wall-clock time if the clock
// jumps meanwhile). It returns ctx.Err() unchanged if ctx ends first.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	return c.SleepUntil(ctx, c.Now().Add(d))
}

// SleepUntil waits until the simulated time reaches at, waking at every
// jump to read the clock again. It returns ctx.Err() (nil once at is
// reached).
func (c *Clock) SleepUntil(ctx context.Context, at time.Time) error {
	for {
		jump := c.jumped()
		d := at.Sub(c.Now())
		if d <= 0 {
			return ctx.Err()
		}
		t := time.NewTimer(c.Real(d))
		select {
		case <-t.C:
		case <-jump:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}
