package migration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/estate"
)

// Restore ends a batch whose task has ended (completed or failed): it
// finishes the retry planning, sets every ledger entry the batch holds back
// to exactly its recorded policy and reads it back (entry → restored), then
// moves completed → rotation-restored (a failed batch records
// RotationRestored), verifies every resource against inventory.json and
// the ledger (instance id, aliases, tags, version counts; rotation equal to
// the ledger; entries → verified), moves rotation-restored → verified and
// chains migrate for the lane's next batch. With pipelining it also chains
// migrate once the rotation is restored, before verifying (pipeline.go).
//
// A rotation change refused because a task holds the resource (the control
// plane is frozen while a task runs) leaves the entry off and the result
// lists it in Pending with OutcomeDeferred: call again later; the ledger
// keeps it until it is restored. A batch still in flight:
// OutcomeWaiting. Finished: OutcomeUnchanged. No state: ErrNoState.
// Cancellation: ctx.Err().
func (e *Engine) Restore(ctx context.Context, runID, batchID string) (StepResult, error) {
	res := StepResult{BatchID: batchID, Step: "restore"}
	s, err := e.readBatch(ctx, runID, batchID)
	if err != nil {
		return res, err
	}
	res.Phase, res.TaskID = s.Phase, s.TaskID
	switch {
	case s.Finished():
		res.Outcome = OutcomeUnchanged
		return res, nil
	case !s.Phase.Ended():
		res.Outcome, res.Reason = OutcomeWaiting, "the batch's task has not ended"
		return res, nil
	}
	s, wait, err := e.claimAbortedTask(ctx, s)
	if err != nil {
		return res, err
	}
	if wait {
		res.Outcome, res.Reason = OutcomeWaiting, "the aborted submission may still record its task"
		return res, nil
	}
	res.TaskID = s.TaskID
	if err := e.planRetries(ctx, s); err != nil {
		return res, err
	}
	if !s.RotationRestored {
		pending, superseded, err := e.restoreBatch(ctx, &s)
		if err != nil {
			return res, err
		}
		res.Superseded = superseded
		if len(pending) > 0 {
			res.Outcome, res.Pending = OutcomeDeferred, pending
			res.Reason = "rotation not restored yet; retried later"
			return res, nil
		}
		s, _, err = e.advance(ctx, s, func(st *BatchState) bool { return st.RotationRestored }, PhaseRotationRestored, func(st *BatchState) {
			st.RotationRestored = true
		})
		if err != nil {
			return res, err
		}
	}
	if s.Phase == PhaseRotationRestored {
		// A batch prepared ahead that waited for this restore goes before
		// the verification.
		if err := e.submitAhead(ctx, s); err != nil {
			return res, err
		}
		// With this batch's rotation back, the lane's batch after the one
		// whose task runs may be prepared (laneFree): migrate does it
		// while this batch is verified, rather than once it is.
		if e.pipelining() {
			e.chain(ctx, e.cfg().Functions.Migrate, runID, "", s.Lane.String(), "restored_"+escapeTask(batchID))
		}
	}
	problems, err := e.verify(ctx, &s)
	if err != nil {
		return res, err
	}
	s, won, err := e.advance(ctx, s, func(st *BatchState) bool { return st.Verified }, PhaseVerified, func(st *BatchState) {
		st.Problems, st.Verified = problems, true
	})
	if err != nil {
		return res, err
	}
	res.Phase = s.Phase
	if !won {
		res.Outcome = OutcomeUnchanged
		return res, nil
	}
	outcome := "verified"
	if len(problems) > 0 {
		outcome = "failed"
	}
	e.log(ctx, &s, resourceRef{}, "Verify", outcome, "", strings.Join(problems, "; "))
	res.Outcome = OutcomeUpdated
	e.chain(ctx, e.cfg().Functions.Migrate, runID, "", s.Lane.String(), "after_"+escapeTask(batchID))
	return res, nil
}

// advance applies f to an ended batch unless done reports it already
// applied, and moves a completed or rotation-restored batch to phase to (a
// failed batch stays failed).
func (e *Engine) advance(ctx context.Context, s BatchState, done func(*BatchState) bool, to Phase, f func(*BatchState)) (BatchState, bool, error) {
	now := e.now()
	var (
		from  Phase
		base  BatchState // the batch as the last write attempt found it
		moved bool       // that attempt wrote a transition to phase to
	)
	st, changed, err := e.mutateBatch(ctx, s.RunID, s.ID, func(st *BatchState) (bool, error) {
		base, moved = *st, false
		if !st.Phase.Ended() || done(st) {
			return false, nil
		}
		from = st.Phase
		f(st)
		if st.Phase != PhaseFailed && st.Phase != to {
			moved = true
			return true, st.to(to, now, requestID(ctx), "")
		}
		st.UpdatedAt = now
		return true, nil
	})
	if err != nil {
		if moved {
			e.owedTransition(ctx, base, to, now, "", func(*BatchState) string { return fmt.Sprintf("%s → %s", from, to) })
		}
		return st, false, err
	}
	if changed && from != st.Phase {
		e.log(ctx, &st, resourceRef{}, "Transition", string(st.Phase), "", fmt.Sprintf("%s → %s", from, st.Phase))
	}
	return st, changed, nil
}

func escapeTask(s string) string { return strings.NewReplacer("/", "_").Replace(s) }

// restoreBatch restores every ledger entry batch s holds; it returns the
// resources it could not restore yet and those whose owner set a policy of
// their own meanwhile (left as they set it). An entry whose key its owner
// disabled or scheduled for deletion cannot be restored (only Enabled
// keys rotate) and does not hold the batch: it stays off, verification
// reports it, and the daily sweep gives it back once the key is enabled
// again.
//
// Entries are restored observeConcurrency of a kind at a time (each its own
// resource and ledger entry): one after another, a batch's restore held
// its next task, or the end of the night's work, for minutes.
func (e *Engine) restoreBatch(ctx context.Context, s *BatchState) (pending, superseded []string, err error) {
	refs := e.ledgerRefs(s)
	outs := make([]restored, len(refs))
	err = eachResource(ctx, refs, func(i int) error {
		le, ok, err := e.ledgerEntry(ctx, s.Lane, refs[i])
		if err != nil || !ok || !le.HeldBy(s.RunID, s.ID) || !le.Off() {
			return err
		}
		outs[i], err = e.restoreEntry(ctx, le)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	for i, out := range outs {
		switch {
		case out.Pending != "" && out.Owner:
		case out.Pending != "":
			pending = append(pending, refs[i].String()+": "+out.Pending)
		case out.Superseded:
			superseded = append(superseded, refs[i].String()+": "+out.Detail)
		}
	}
	return pending, superseded, nil
}

// ledgerRefs lists the resources whose ledger entries s may hold: its
// resources, including those dropped from the task.
func (e *Engine) ledgerRefs(s *BatchState) []resourceRef {
	out := s.resources()
	for _, o := range s.Resources {
		r := resourceRef{o.Kind, o.ID}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// restored is what restoreEntry did with an entry.
type restored struct {
	// Pending is why the restore must be tried again later.
	Pending string
	// Superseded: the owner set a policy of their own while kmsmig held
	// rotation off; it was left as they set it. Detail says what.
	Superseded bool
	Detail     string
	// Owner marks a Pending that waits for the resource's owner (a key
	// disabled or scheduled for deletion), not for KMS.
	Owner bool
}

// restoreEntry gives an entry that is off its recorded policy back. It
// first reads the current policy: kmsmig set it off, so a policy that is on
// now is the owner's (re-enabled, or another interval) and is never
// overwritten: the entry becomes superseded (audited; the caller alerts).
// Otherwise it sets the recorded policy and reads it back; the entry
// becomes restored. What KMS refuses or fails (a task holds the resource,
// a transient error, a read-back that differs) is returned as pending,
// recorded on the entry (LastError), to be retried later; err is for the
// run-state store and the context.
func (e *Engine) restoreEntry(ctx context.Context, le LedgerEntry) (restored, error) {
	r := resourceRef{le.Kind, le.ID}
	b := &BatchState{ID: le.BatchID, RunID: le.RunID, Lane: le.Lane}
	now := e.now()
	mark := func(f func(x *LedgerEntry)) error { return e.markLedger(ctx, le.Lane, r, le.RunID, le.BatchID, f) }
	refused := func(code string, kerr error) (restored, error) {
		if isContext(kerr) {
			return restored{}, kerr
		}
		e.log(ctx, b, r, "RestoreRotation", "refused", code, kerr.Error())
		err := mark(func(x *LedgerEntry) { x.LastError, x.LastAttempt = kerr.Error(), now })
		return restored{Pending: kerr.Error()}, err
	}
	cur, err := e.observe(ctx, le.Lane, r)
	if errors.Is(err, cloud.ErrNotFound) {
		// Nothing left to restore: the resource is gone.
		e.log(ctx, b, r, "RestoreRotation", "unchanged", ReasonResourceGone, "the resource no longer exists")
		return restored{}, mark(func(x *LedgerEntry) {
			x.Status, x.RestoredAt, x.LastError = LedgerRestored, now, ReasonResourceGone
		})
	}
	if err != nil {
		return refused(cloud.Code(err), err)
	}
	switch {
	case cur.Rotation.Enabled && sameRotation(cur.Rotation, le.Original):
		// Already as recorded (its owner switched it back on as it was).
		e.log(ctx, b, r, "RestoreRotation", "unchanged", "", "rotation already "+describe(le.Original)+" (read)")
	case cur.Rotation.Enabled:
		found := cur.Rotation
		detail := fmt.Sprintf("its owner set %s while kmsmig held it off (recorded %s); left as they set it", describe(found), describe(le.Original))
		e.log(ctx, b, r, "RestoreRotation", "superseded", ReasonOwnerChanged, detail)
		return restored{Superseded: true, Detail: detail}, mark(func(x *LedgerEntry) {
			if x.Status == LedgerOff {
				x.Status, x.Found, x.SupersededAt, x.LastError = LedgerSuperseded, &found, now, ""
			}
		})
	case r.Kind == KindKey && (cur.Key.State == estate.KeyDisabled || cur.Key.State == estate.KeyPendingDeletion):
		// Only Enabled keys rotate: the policy comes back (by the sweep)
		// once its owner enables the key again.
		code := ReasonKeyDisabled
		if cur.Key.State == estate.KeyPendingDeletion {
			code = ReasonKeyPendingDeletion
		}
		why := fmt.Sprintf("the key is %s: rotation %s is given back once its owner enables it", cur.Key.State, describe(le.Original))
		e.log(ctx, b, r, "RestoreRotation", "deferred", code, why)
		return restored{Pending: why, Owner: true}, mark(func(x *LedgerEntry) { x.LastError, x.LastAttempt = why, now })
	default:
		if err := e.setRotation(ctx, le.Lane, r, le.Original); err != nil {
			return refused(cloud.Code(err), err)
		}
		back, err := e.observe(ctx, le.Lane, r)
		if err != nil {
			return refused(cloud.Code(err), err)
		}
		if !sameRotation(back.Rotation, le.Original) {
			return refused("ReadBackMismatch", fmt.Errorf("rotation of %s reads back %s, want %s", r, describe(back.Rotation), describe(le.Original)))
		}
		e.log(ctx, b, r, "RestoreRotation", "updated", "", "rotation restored to "+describe(le.Original)+" (read back)")
	}
	return restored{}, mark(func(x *LedgerEntry) {
		if x.Status == LedgerOff {
			x.Status, x.RestoredAt, x.LastError = LedgerRestored, now, ""
		}
	})
}
