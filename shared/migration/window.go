package migration

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// Window is when migration tasks may run (off-peak: the control plane of
// every resource in a task is frozen while it runs). A zero Start means
// open now; a zero End means no end.
type Window struct {
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
}

// automaticLead is how far ahead an automatic task is scheduled when the
// window is already open: the provider refuses a MigrationTime in the past.
const automaticLead = time.Minute

// admit decides when a batch estimated to take d may start: now (manual)
// or at the returned time (automatic). why is non-empty when it may not
// start in this window.
func (w Window) admit(now time.Time, d time.Duration, automatic bool) (at time.Time, why string) {
	at = now
	if automatic {
		at = now.Add(automaticLead)
	}
	if !w.Start.IsZero() && at.Before(w.Start) {
		if !automatic {
			return time.Time{}, "window opens at " + w.Start.UTC().Format(time.RFC3339)
		}
		at = w.Start
	}
	if !w.End.IsZero() && at.Add(d).After(w.End) {
		return time.Time{}, fmt.Sprintf("estimated %s from %s would end after the window closes at %s",
			d.Round(time.Second), at.UTC().Format(time.RFC3339), w.End.UTC().Format(time.RFC3339))
	}
	return at, ""
}

// Estimate is the run's per-resource task duration, an exponentially
// weighted moving average of observed completed tasks, kept at
// EstimateKey.
type Estimate struct {
	// PerResourceSeconds is the current estimate.
	PerResourceSeconds float64 `json:"perResourceSeconds"`
	Samples            int     `json:"samples"`
	// Batches lists the batches already counted, so that a repeated
	// completion is counted once.
	Batches []string `json:"batches,omitempty"`
}

// estimate returns how long a task of n resources is expected to take.
func (e *Engine) estimate(ctx context.Context, runID string, n int) (time.Duration, error) {
	est, _, err := runstate.GetJSON[Estimate](ctx, e.Store, statekeys.Estimate(runID))
	per := e.cfg().InitialPerResource
	switch {
	case err == nil && est.Samples > 0:
		per = time.Duration(est.PerResourceSeconds * float64(time.Second))
	case err != nil && !isNotFound(err):
		return 0, err
	}
	return per * time.Duration(n), nil
}

// observeDuration folds a completed task of n resources that took d into
// the estimate, once per batch.
func (e *Engine) observeDuration(ctx context.Context, runID, batchID string, n int, d time.Duration) error {
	if n <= 0 || d < 0 {
		return nil
	}
	w := e.cfg().EWMAWeight
	sample := d.Seconds() / float64(n)
	_, err := runstate.MutateJSON(ctx, e.Store, statekeys.Estimate(runID), func(est *Estimate, _ bool) error {
		if slices.Contains(est.Batches, batchID) {
			return nil
		}
		if est.Samples == 0 {
			est.PerResourceSeconds = sample
		} else {
			est.PerResourceSeconds = w*sample + (1-w)*est.PerResourceSeconds
		}
		est.Samples++
		est.Batches = append(est.Batches, batchID)
		return nil
	})
	return err
}
