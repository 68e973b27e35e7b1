package migration

import "context"

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
