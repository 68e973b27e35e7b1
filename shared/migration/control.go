package migration

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// Control is an operator's controls of a run (statekeys.Control): while
// Paused, migrate switches nothing off and submits nothing (a batch whose
// rotation is already off gives it back and waits); poll, restore and the
// sweep go on.
type Control struct {
	Paused bool `json:"paused"`
	// Events is every operator action on the run, oldest first.
	Events []ControlEvent `json:"events,omitempty"`
}

// ControlEvent is one operator action.
type ControlEvent struct {
	Action  string    `json:"action"` // pause, resume or abort
	BatchID string    `json:"batchId,omitempty"`
	By      string    `json:"by,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
}

// Errors of the operator controls; test with errors.Is.
var (
	// ErrUnknownRun: the store has no plan for the run.
	ErrUnknownRun = errors.New("migration: unknown run")
	// ErrBatchEnded: the batch's task has already ended; there is nothing
	// to abort.
	ErrBatchEnded = errors.New("migration: batch already ended")
)

// errAlready aborts a control mutation that would change nothing.
var errAlready = errors.New("already so")

// Paused reports whether the run is paused.
func (e *Engine) Paused(ctx context.Context, runID string) (bool, error) {
	c, _, err := runstate.GetJSON[Control](ctx, e.Store, statekeys.Control(runID))
	if errors.Is(err, runstate.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("migration: read controls of %s: %w", runID, err)
	}
	return c.Paused, nil
}

// approved asks the approval gate, when there is one, whether runID may
// start batches.
func (e *Engine) approved(ctx context.Context, runID string) (bool, string, error) {
	if e.Approvals == nil {
		return true, "", nil
	}
	ok, why, err := e.Approvals.Approved(ctx, runID)
	if err != nil {
		return false, "", fmt.Errorf("migration: approval of %s: %w", runID, err)
	}
	return ok, why, nil
}

// Controls reads the operator's controls of a run (zero when none).
func (e *Engine) Controls(ctx context.Context, runID string) (Control, error) {
	c, _, err := runstate.GetJSON[Control](ctx, e.Store, statekeys.Control(runID))
	if err != nil && !errors.Is(err, runstate.ErrNotFound) {
		return Control{}, fmt.Errorf("migration: read controls of %s: %w", runID, err)
	}
	return c, nil
}

// Pause pauses a run (paused=true) or resumes it, recording who and why;
// changed is false when it already was so (nothing written). Unknown run:
// ErrUnknownRun, nothing written.
func (e *Engine) Pause(ctx context.Context, runID string, paused bool, by, reason string) (changed bool, err error) {
	if err := e.runExists(ctx, runID); err != nil {
		return false, err
	}
	action := "pause"
	if !paused {
		action = "resume"
	}
	now := e.now()
	_, err = runstate.MutateJSON(ctx, e.Store, statekeys.Control(runID), func(c *Control, exists bool) error {
		if c.Paused == paused {
			return errAlready
		}
		c.Paused = paused
		c.Events = append(c.Events, ControlEvent{Action: action, By: by, Reason: reason, At: now})
		return nil
	})
	if errors.Is(err, errAlready) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("migration: %s %s: %w", action, runID, err)
	}
	e.log(ctx, &BatchState{RunID: runID}, resourceRef{}, "Control", action, "", fmt.Sprintf("%s by %s: %s", action, orUnknown(by), reason))
	return true, nil
}

// AbortBatch is the operator's abort of one batch: it checks that the run
// and the batch exist and that the batch's task has not ended, records the
// action, and aborts (Abort). Unknown run: ErrUnknownRun; a batch not in
// the plan: ErrUnknownBatch; not started: ErrNoState; ended: ErrBatchEnded;
// in each case nothing is written.
func (e *Engine) AbortBatch(ctx context.Context, runID, batchID, by, reason string) (StepResult, error) {
	res := StepResult{BatchID: batchID, Step: "abort"}
	if err := e.runExists(ctx, runID); err != nil {
		return res, err
	}
	p, err := e.readPlan(ctx, runID)
	if err != nil {
		return res, err
	}
	if _, ok := p.Batch(batchID); !ok {
		return res, fmt.Errorf("%w: %s is not in the plan of run %s", ErrUnknownBatch, batchID, runID)
	}
	s, err := e.readBatch(ctx, runID, batchID)
	if err != nil {
		return res, err
	}
	if s.Phase.Ended() {
		return res, fmt.Errorf("%w: %s is %s", ErrBatchEnded, batchID, s.Phase)
	}
	now := e.now()
	if _, err := runstate.MutateJSON(ctx, e.Store, statekeys.Control(runID), func(c *Control, _ bool) error {
		c.Events = append(c.Events, ControlEvent{Action: "abort", BatchID: batchID, By: by, Reason: reason, At: now})
		return nil
	}); err != nil {
		return res, fmt.Errorf("migration: record abort of %s: %w", batchID, err)
	}
	why := "aborted by " + orUnknown(by)
	if reason != "" {
		why += ": " + reason
	}
	return e.Abort(ctx, runID, batchID, why)
}

// runExists reports ErrUnknownRun when the store has no plan for runID.
func (e *Engine) runExists(ctx context.Context, runID string) error {
	_, err := e.Store.Get(ctx, statekeys.Plan(runID))
	if errors.Is(err, runstate.ErrNotFound) {
		return fmt.Errorf("%w: %s (no plan in this store)", ErrUnknownRun, runID)
	}
	return err
}

func orUnknown(s string) string {
	if s == "" {
		return "an operator"
	}
	return s
}
