package fc

import (
	"context"
	"time"
)

// Clock is the twin's notion of time for scheduling: timer triggers, async
// retry back-off and the triggerTime of timer events. Simulated time runs
// speed times faster than wall-clock time from a chosen start:
//
//	simulated = start + speed × (wall-clock time elapsed since NewClock)
//
// Invocation deadlines, function timeouts and STS expiry stay in wall-clock
// time, since the function's code runs in real time. A Clock is safe for
// concurrent use.
type Clock struct {
	start time.Time
	real0 time.Time
	speed float64
}

// NewClock returns a clock reading start now and advancing speed simulated
// seconds per wall-clock second. speed <= 0 means 1.
func NewClock(start time.Time, speed float64) *Clock {
	if speed <= 0 {
		speed = 1
	}
	return &Clock{start: start, real0: time.Now(), speed: speed}
}

// RealClock returns a clock that reads wall-clock time.
func RealClock() *Clock { return NewClock(time.Now(), 1) }

// Now returns the simulated time.
func (c *Clock) Now() time.Time {
	return c.start.Add(time.Duration(float64(time.Since(c.real0)) * c.speed))
}

// Speed returns the speed factor.
func (c *Clock) Speed() float64 { return c.speed }

// Real converts a simulated duration to the wall-clock time it takes.
func (c *Clock) Real(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.speed)
}

// Sleep waits for simulated duration d. It returns ctx.Err() unchanged if
// ctx ends first.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(c.Real(d))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SleepUntil waits until the simulated time reaches at.
func (c *Clock) SleepUntil(ctx context.Context, at time.Time) error {
	for {
		d := at.Sub(c.Now())
		if d <= 0 {
			return ctx.Err()
		}
		if err := c.Sleep(ctx, d); err != nil {
			return err
		}
	}
}
