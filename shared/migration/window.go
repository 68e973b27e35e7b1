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

// Estimate is how long the run's tasks take, kept at EstimateKey: the
// last completed tasks' sizes and durations, and (from before Tasks was
// kept) an exponentially weighted moving average per resource.
type Estimate struct {
	// PerResourceSeconds is the moving average of each task's time per
	// resource; used only while Tasks is empty (state written before it).
	PerResourceSeconds float64 `json:"perResourceSeconds"`
	Samples            int     `json:"samples"`
	// Batches lists the batches already counted, so that a repeated
	// completion is counted once.
	Batches []string `json:"batches,omitempty"`
	// Tasks are the last estimateTasks completed tasks. A task's time is a
	// fixed part and a part per resource, so the time per resource of a
	// small task (a retry, the tail of a lane) says little about a full
	// batch: averaging it made a full batch look several times longer than
	// it is, and the window refused batches it had room for.
	Tasks []TaskSample `json:"tasks,omitempty"`
}

// TaskSample is one completed task: how many resources it carried and how
// long it ran.
type TaskSample struct {
	Resources int     `json:"resources"`
	Seconds   float64 `json:"seconds"`
}

// estimateTasks is how many completed tasks an Estimate keeps.
const estimateTasks = 16

// duration is the time the samples predict for a task of n resources: the
// least-squares line through the tasks (fixed part and per resource, both
// at least zero) when they have at least two sizes; with one size n0
// taking d0, d0 for n ≤ n0 and d0·n/n0 above it (neither part can be
// negative, so neither under-estimates). ok is false without any task.
func (est Estimate) duration(n int) (d time.Duration, ok bool) {
	if len(est.Tasks) == 0 {
		if est.Samples == 0 {
			return 0, false
		}
		return time.Duration(est.PerResourceSeconds * float64(n) * float64(time.Second)), true
	}
	var sn, sd, snn, snd float64
	sizes := map[int]bool{}
	for _, t := range est.Tasks {
		x, y := float64(t.Resources), t.Seconds
		sn, sd, snn, snd = sn+x, sd+y, snn+x*x, snd+x*y
		sizes[t.Resources] = true
	}
	k := float64(len(est.Tasks))
	var fixed, per float64
	if len(sizes) == 1 {
		n0, d0 := sn/k, sd/k
		secs := d0
		if float64(n) > n0 && n0 > 0 {
			secs = d0 * float64(n) / n0
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	per = (k*snd - sn*sd) / (k*snn - sn*sn)
	fixed = (sd - per*sn) / k
	switch {
	case per < 0:
		fixed, per = sd/k, 0
	case fixed < 0:
		fixed, per = 0, sd/sn
	}
	return time.Duration((fixed + per*float64(n)) * float64(time.Second)), true
}

// estimate returns how long a task of n resources is expected to take:
// from the run's completed tasks, or else from the latest earlier run of
// the campaign that has any (the same estate and instances: a new night's
// run need not relearn from Config.InitialPerResource), or else
// InitialPerResource per resource.
func (e *Engine) estimate(ctx context.Context, runID string, n int) (time.Duration, error) {
	est, _, err := runstate.GetJSON[Estimate](ctx, e.Store, statekeys.Estimate(runID))
	if err != nil && !isNotFound(err) {
		return 0, err
	}
	if d, ok := est.duration(n); ok {
		return d, nil
	}
	c, _, err := runstate.GetJSON[Campaign](ctx, e.Store, statekeys.Campaign)
	if err != nil && !isNotFound(err) {
		return 0, err
	}
	for i := len(c.Runs) - 1; i >= 0; i-- {
		if c.Runs[i].RunID == runID {
			continue
		}
		prev, _, err := runstate.GetJSON[Estimate](ctx, e.Store, statekeys.Estimate(c.Runs[i].RunID))
		if err != nil && !isNotFound(err) {
			return 0, err
		}
		if d, ok := prev.duration(n); ok {
			return d, nil
		}
	}
	return e.cfg().InitialPerResource * time.Duration(n), nil
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
		est.Tasks = append(est.Tasks, TaskSample{Resources: n, Seconds: d.Seconds()})
		if len(est.Tasks) > estimateTasks {
			est.Tasks = est.Tasks[len(est.Tasks)-estimateTasks:]
		}
		return nil
	})
	return err
}
