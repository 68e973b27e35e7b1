package acs

import (
	"context"
	mrand "math/rand/v2"
	"sync"
	"time"
)

// Faults is the fault injection a twin applies in front of its operations,
// after authentication and throttling: a fixed latency, then a transient
// ServiceUnavailable (503) with probability ErrorRate drawn from an RNG
// seeded with Seed, so a chaos run is reproducible for a given call order.
type Faults struct {
	// Latency delays every affected call; the delay ends early when the
	// request's context is cancelled.
	Latency time.Duration
	// ErrorRate is the probability in [0, 1] that an affected call fails
	// with ErrUnavailable.
	ErrorRate float64
	// Seed seeds the RNG behind ErrorRate.
	Seed uint64
	// Actions limits the faults to these actions; empty means every action.
	Actions []string
}

// faultState is a Faults ready to apply.
type faultState struct {
	latency time.Duration
	rate    float64
	actions map[string]bool

	mu  sync.Mutex
	rng *mrand.Rand
}

func newFaultState(f Faults) *faultState {
	if f.Latency <= 0 && f.ErrorRate <= 0 {
		return nil
	}
	s := &faultState{latency: f.Latency, rate: f.ErrorRate, rng: mrand.New(mrand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))}
	if len(f.Actions) > 0 {
		s.actions = make(map[string]bool, len(f.Actions))
		for _, a := range f.Actions {
			s.actions[a] = true
		}
	}
	return s
}

// apply delays and possibly fails a call of action. It returns ctx.Err()
// when the context ends during the delay.
func (s *faultState) apply(ctx context.Context, action string) error {
	if s == nil || (s.actions != nil && !s.actions[action]) {
		return nil
	}
	if s.latency > 0 {
		t := time.NewTimer(s.latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	if s.rate > 0 {
		s.mu.Lock()
		fail := s.rng.Float64() < s.rate
		s.mu.Unlock()
		if fail {
			return ErrUnavailable
		}
	}
	return nil
}
