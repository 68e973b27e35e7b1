package migration

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/rules"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// Disable prepares a batch: it starts the batch's state from the plan (if
// absent), and for every resource whose automatic rotation is on it creates
// the ledger entry (create-if-absent, with the policy read now), switches
// rotation off and reads it back; then it moves the batch planned →
// rotation-off.
//
// It does nothing while the window does not admit the batch
// (OutcomeOutsideWindow), so that rotation is off only around a task. It
// waits (OutcomeWaiting) while a lower-seq batch of the lane has not
// finished, unless the batch may be prepared ahead of the lane's previous
// batch while that batch's task runs (pipeline.go; the window must then
// admit the batch after that task's estimated end, and a refusal by KMS
// records AheadRefused), and defers (OutcomeDeferred) when KMS refuses a rotation change
// because a migration task holds the resource. In a lane or account whose
// task backend cannot run (a TaskAPIBlock of the run) it switches nothing
// off and fails the batch with the block's reason. Past planned it does
// nothing (OutcomeUnchanged). Unknown batch: ErrUnknownBatch.
// Cancellation: ctx.Err(); the next call continues where it stopped.
func (e *Engine) Disable(ctx context.Context, runID, batchID string) (StepResult, error) {
	res := StepResult{BatchID: batchID, Step: "disable"}
	s, err := e.readBatch(ctx, runID, batchID)
	checked := false
	if errors.Is(err, ErrNoState) {
		// The run's documents that cannot be read refuse the batch before
		// its state is written: a broken control, or an inventory that
		// verification could not read (see below), starts nothing.
		if _, err := e.Paused(ctx, runID); err != nil {
			return res, err
		}
		if err := e.checkInventory(ctx, runID); err != nil {
			return res, err
		}
		checked = true
		s, err = e.start(ctx, runID, batchID)
	}
	if err != nil {
		return res, err
	}
	res.Phase, res.TaskID = s.Phase, s.TaskID
	if s.Phase != PhasePlanned {
		res.Outcome = OutcomeUnchanged
		return res, nil
	}
	if paused, err := e.Paused(ctx, runID); err != nil || paused {
		res.Outcome, res.Reason = OutcomeWaiting, "the run is paused"
		return res, err
	}
	if ok, why, err := e.approved(ctx, runID); err != nil || !ok {
		res.Outcome, res.Reason = OutcomeWaiting, why
		return res, err
	}
	prev, ok, why, err := e.laneFree(ctx, &s, stagePrepare)
	if err != nil || !ok {
		res.Outcome, res.Reason = OutcomeWaiting, why
		return res, err
	}
	// A lane or account whose task backend cannot run: no rotation goes
	// off; the batch fails at once with the block's reason.
	if b, err := e.taskAPIBlocked(ctx, runID, s.Lane); err != nil || b != nil {
		if err != nil {
			return res, err
		}
		return e.stopBatch(ctx, s, []Phase{PhasePlanned}, "disable", b)
	}
	// Rotation goes off only when the window admits the batch now.
	if why, err := e.outsideWindow(ctx, &s, prev); err != nil || why != "" {
		res.Outcome, res.Reason = OutcomeOutsideWindow, why
		return res, err
	}
	// Verification compares every moved resource with the run's inventory:
	// a stored one that cannot be read would leave the batch unverifiable
	// once moved. Nothing is asked of KMS, and no rotation goes off, until
	// it reads (a run without one is verified on rotation only).
	if !checked {
		if err := e.checkInventory(ctx, runID); err != nil {
			return res, err
		}
	}
	// The provider refuses an expired or not-Connected instance for good:
	// fail the batch before any rotation is switched off. (A missing
	// instance, or one that cannot be read now, is Submit's pre-flight's.)
	if in, err := e.KMS.Instance(ctx, s.Lane, s.InstanceID, ""); err == nil {
		if p := rules.CheckInstance(in.Status, in.Expires, e.now()); p != rules.InstanceUsable {
			res, err := e.failWith(ctx, s, []Phase{PhasePlanned}, ReasonInstanceState,
				fmt.Sprintf("instance %s is %s (status %q, ends %s): the migration tool refuses it; no rotation was switched off", s.InstanceID, p, in.Status, endDate(in.Expires)), nil)
			res.Step = "disable"
			return res, err
		}
	} else if isContext(err) {
		return res, err
	}
	// Rotation goes off for one batch ahead of the instance's task,
	// whatever lane it comes from (turn.go).
	if ok, why, err := e.takeTurn(ctx, &s); err != nil || !ok {
		res.Outcome, res.Reason = OutcomeWaiting, why
		return res, err
	}
	// Resources are prepared observeConcurrency of a kind at a time (each its own
	// ledger entry): one after another, preparing a batch of 100 took
	// longer than the task of 50 keys it is prepared behind. The first
	// failure in the batch's order decides, as it did one at a time;
	// resources already switched off keep their ledger entries, held by
	// this batch, and the next call carries on.
	rs := s.resources()
	var switched atomic.Int32
	err = eachResource(ctx, rs, func(i int) error {
		on, err := e.prepareResource(ctx, &s, rs[i])
		if on {
			switched.Add(1)
		}
		return err
	})
	if errors.Is(err, cloud.ErrConflict) {
		res.Outcome, res.Reason = OutcomeDeferred, "rotation change refused: "+err.Error()
		if prev != nil {
			// The provider freezes more than the task's own
			// resources: prepare once prev has finished.
			return res, e.markAheadRefused(ctx, &s, err)
		}
		return res, nil
	}
	if err != nil {
		return res, err
	}
	ahead, reason := "", ""
	if prev != nil {
		ahead = e.proveAhead(ctx, prev, int(switched.Load()))
		reason = "ahead of " + prev.ID + " (" + ahead + ")"
		if ahead == AheadUnproven {
			if by := e.provenBefore(ctx, &s); by != "" {
				ahead = AheadProven
				reason = "ahead of " + prev.ID + " (proven by " + by + ")"
			}
		}
	}
	s, won, err := e.transition(ctx, runID, batchID, []Phase{PhasePlanned}, PhaseRotationOff, reason, func(st *BatchState) {
		st.Ahead = ahead
	})
	if err != nil {
		return res, err
	}
	res.Phase, res.Outcome = s.Phase, OutcomeUpdated
	if !won {
		res.Outcome = OutcomeUnchanged
	}
	return res, nil
}

// prepareResource is Disable's work on one resource r of batch s: it
// switches r's rotation off (on: it was on) or takes over the entry
// kmsmig holds for it; a resource gone, dropped or already in s's
// instance is left to Submit. A refused rotation change matches
// cloud.ErrConflict.
func (e *Engine) prepareResource(ctx context.Context, s *BatchState, r resourceRef) (on bool, err error) {
	o, err := e.observe(ctx, s.Lane, r)
	switch {
	case errors.Is(err, cloud.ErrNotFound):
		return false, nil // Submit drops it.
	case isContext(err):
		return false, err
	case err != nil:
		return false, fmt.Errorf("migration: disable %s: %w", s.ID, err)
	}
	if o.InstanceID == s.InstanceID {
		return false, nil
	}
	if _, drop := dropFor(r, o, nil); drop {
		return false, nil // scheduled for deletion or disabled: Submit drops it.
	}
	if !o.Rotation.Enabled {
		// Off already: kmsmig may hold it off for an earlier batch of
		// this run or an earlier one; this batch takes its entry over.
		return false, e.holdOff(ctx, s, r)
	}
	if err := e.switchOff(ctx, s, r, o.Rotation); err != nil {
		return false, err
	}
	return true, nil
}

// start creates the state of a plan batch (create-if-absent), with each
// resource's attempt counted from the lane's earlier batches.
func (e *Engine) start(ctx context.Context, runID, batchID string) (BatchState, error) {
	p, err := e.readPlan(ctx, runID)
	if err != nil {
		return BatchState{}, err
	}
	pb, ok := p.Batch(batchID)
	if !ok {
		return BatchState{}, fmt.Errorf("%w: %s in run %s", ErrUnknownBatch, batchID, runID)
	}
	attempts, retryOf, err := e.attempts(ctx, runID, pb)
	if err != nil {
		return BatchState{}, err
	}
	now := e.now()
	var out BatchState
	var created, sent bool
	_, err = runstate.MutateJSON(ctx, e.Store, statekeys.Batch(runID, batchID), func(s *BatchState, exists bool) error {
		sent = !exists
		if !exists {
			*s = newBatchState(runID, pb, 1, retryOf, now)
			s.History[0].RequestID = requestID(ctx)
			s.Attempts = attempts
			for _, a := range attempts {
				s.Attempt = max(s.Attempt, a)
			}
			created = true
		}
		out = *s
		return nil
	})
	started := func(s *BatchState) string {
		return fmt.Sprintf("batch started: %d keys, %d secrets, attempt %d", len(s.Keys), len(s.Secrets), s.Attempt)
	}
	if err != nil {
		if sent {
			e.owedTransition(ctx, out, PhasePlanned, now, "", started)
		}
		return BatchState{}, fmt.Errorf("migration: start %s: %w", batchID, err)
	}
	if created {
		e.log(ctx, &out, resourceRef{}, "Transition", string(PhasePlanned), "", started(&out))
	}
	return out, nil
}

// attempts returns, for each resource of pb that failed in an earlier batch
// of the lane, the attempt pb is for it, and the batch it is retried from.
func (e *Engine) attempts(ctx context.Context, runID string, pb plan.Batch) (map[string]int, string, error) {
	states, err := e.laneStates(ctx, runID, pb.Lane)
	if err != nil {
		return nil, "", err
	}
	want := map[string]bool{}
	for _, id := range pb.Keys {
		want[attemptKey(resourceRef{KindKey, id})] = true
	}
	for _, n := range pb.Secrets {
		want[attemptKey(resourceRef{KindSecret, n})] = true
	}
	out := map[string]int{}
	retryOf := ""
	for _, st := range states {
		if st.ID == pb.ID || st.Seq >= pb.Seq {
			continue
		}
		for _, o := range st.Resources {
			k := attemptKey(resourceRef{o.Kind, o.ID})
			if o.Result == ResultFailed && want[k] && o.Attempt+1 > out[k] {
				out[k] = o.Attempt + 1
				retryOf = st.ID
			}
		}
	}
	if len(out) == 0 {
		return nil, "", nil
	}
	return out, retryOf, nil
}

func attemptKey(r resourceRef) string { return string(r.Kind) + ":" + r.ID }

// attemptOf returns the attempt batch s is for resource r.
func (s *BatchState) attemptOf(r resourceRef) int {
	if a := s.Attempts[attemptKey(r)]; a > 0 {
		return a
	}
	return 1
}

// holdOff hands the ledger entry of r, if kmsmig holds its rotation off
// for another batch, to batch s, keeping its original policy.
func (e *Engine) holdOff(ctx context.Context, s *BatchState, r resourceRef) error {
	le, ok, err := e.ledgerEntry(ctx, s.Lane, r)
	if err != nil || !ok || !le.Off() || (le.HeldBy(s.RunID, s.ID) && le.RunID == s.RunID) {
		return err
	}
	_, err = e.claimLedger(ctx, s, r, estate.Rotation{})
	return err
}

// switchOff records r in the ledger (keeping an existing original) and
// switches its rotation off, then reads it back.
func (e *Engine) switchOff(ctx context.Context, s *BatchState, r resourceRef, current estate.Rotation) error {
	if _, err := e.claimLedger(ctx, s, r, current); err != nil {
		return err
	}
	if err := e.setRotation(ctx, s.Lane, r, estate.Rotation{}); err != nil {
		e.log(ctx, s, r, "DisableRotation", "refused", cloud.Code(err), err.Error())
		return fmt.Errorf("migration: switch off rotation of %s in %s: %w", r, s.Lane, err)
	}
	back, err := e.observe(ctx, s.Lane, r)
	if err != nil {
		return fmt.Errorf("migration: read back rotation of %s in %s: %w", r, s.Lane, err)
	}
	if back.Rotation.Enabled {
		return fmt.Errorf("migration: rotation of %s in %s still on after switching it off", r, s.Lane)
	}
	e.log(ctx, s, r, "DisableRotation", "updated", "", "rotation was "+describe(current)+"; now off (read back)")
	return nil
}
