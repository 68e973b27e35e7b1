package migration

import (
	"context"
	"fmt"
	"time"
)

// Abort ends a batch that has not ended (an operator's decision, e.g.
// after a stalled-task alert): it becomes failed with reason Aborted, so
// that Restore and Sweep give its rotation back. A task already created is
// not cancelled (the provider has no such call); what it moved shows in
// the verification. Ended batch: OutcomeUnchanged. No state: ErrNoState.
//
// No function calls it yet; an operator action will.
func (e *Engine) Abort(ctx context.Context, runID, batchID, why string) (StepResult, error) {
	s, err := e.readBatch(ctx, runID, batchID)
	if err != nil {
		return StepResult{BatchID: batchID, Step: "abort"}, err
	}
	// Every phase the table lets fail: every phase before the task ended.
	res, err := e.fail(ctx, s, sources(PhaseFailed), ReasonAborted, why)
	res.Step = "abort"
	return res, err
}

// claimAbortedTask finds the task of a batch aborted in submitting, when
// the submission created one that nobody recorded (its invocation
// crashed after CreateTask): once the submission's lease has passed, it
// looks for the task with the recovery's rule (ownTask) and records it on
// the failed batch, so that the batch answers for it and its verification
// shows what the task moved; none found, the intent is marked as having
// created no task. It returns wait=true while the lease runs (the
// submitting invocation may still record its task, recordTask). Other
// batches: nothing to do.
func (e *Engine) claimAbortedTask(ctx context.Context, s BatchState) (st BatchState, wait bool, err error) {
	if s.Phase != PhaseFailed || s.Reason != ReasonAborted || s.TaskID != "" || s.Intent == nil || s.Intent.Refused {
		return s, false, nil
	}
	if lease := e.cfg().SubmitLease; lease > 0 && e.now().Sub(s.Intent.At) < lease {
		return s, true, nil
	}
	id, err := e.ownTask(ctx, s)
	if err != nil {
		return s, false, fmt.Errorf("migration: task of aborted %s: %w", s.ID, err)
	}
	intentID := s.Intent.ID
	st, changed, err := e.mutateBatch(ctx, s.RunID, s.ID, func(b *BatchState) (bool, error) {
		if b.TaskID != "" || b.Intent == nil || b.Intent.ID != intentID || b.Intent.Refused {
			return false, nil
		}
		if id == "" {
			b.Intent.Refused, b.Intent.Code = true, "NoTaskCreated"
		} else {
			b.TaskID = id
		}
		b.UpdatedAt = e.now()
		return true, nil
	})
	if err != nil || !changed || id == "" {
		return st, false, err
	}
	e.log(ctx, &st, resourceRef{}, "AdoptTask", "created", ReasonAborted,
		fmt.Sprintf("task %s of the submission aborted at %s: %d keys, %d secrets into %s", id,
			s.Intent.At.UTC().Format(time.RFC3339), len(st.Keys), len(st.Secrets), st.InstanceID))
	return st, false, nil
}
