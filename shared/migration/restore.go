package migration

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// Restore ends a batch whose task has ended (completed or failed): it
// finishes the retry planning, sets every ledger entry the batch holds back
// to exactly its recorded policy and reads it back (entry → restored), then
// moves completed → rotation-restored (a failed batch records
// RotationRestored), verifies every resource against inventory.json and
// the ledger (instance id, aliases, tags, version counts; rotation equal to
// the ledger; entries → verified), moves rotation-restored → verified and
// chains migrate for the lane's next batch.
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
	if err := e.planRetries(ctx, s); err != nil {
		return res, err
	}
	if !s.RotationRestored {
		pending, err := e.restoreBatch(ctx, &s)
		if err != nil {
			return res, err
		}
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
	var from Phase
	st, changed, err := e.mutateBatch(ctx, s.RunID, s.ID, func(st *BatchState) (bool, error) {
		if !st.Phase.Ended() || done(st) {
			return false, nil
		}
		from = st.Phase
		f(st)
		if st.Phase != PhaseFailed && st.Phase != to {
			return true, st.to(to, now, requestID(ctx), "")
		}
		st.UpdatedAt = now
		return true, nil
	})
	if err != nil {
		if got, ok := e.landed(ctx, s.RunID, s.ID, to, now); ok && from != to {
			e.log(ctx, &got, resourceRef{}, "Transition", string(to), "", fmt.Sprintf("%s → %s", from, to))
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
// resources it could not restore yet.
func (e *Engine) restoreBatch(ctx context.Context, s *BatchState) ([]string, error) {
	var pending []string
	for _, r := range e.ledgerRefs(s) {
		le, ok, err := e.ledgerEntry(ctx, s.RunID, s.Lane, r)
		if err != nil {
			return nil, err
		}
		if !ok || le.BatchID != s.ID || !le.Off() {
			continue
		}
		p, err := e.restoreEntry(ctx, s.RunID, le)
		if err != nil {
			return nil, err
		}
		if p != "" {
			pending = append(pending, r.String()+": "+p)
		}
	}
	return pending, nil
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

// restoreEntry sets the recorded policy of an entry that is off and reads it
// back; the entry becomes restored. What KMS refuses or fails (a task holds
// the resource, a transient error, a read-back that differs) is returned
// as pending, recorded on the entry (LastError), to be retried later; err
// is for the run-state store and the context.
func (e *Engine) restoreEntry(ctx context.Context, runID string, le LedgerEntry) (pending string, err error) {
	r := resourceRef{le.Kind, le.ID}
	b := &BatchState{ID: le.BatchID, RunID: runID, Lane: le.Lane}
	now := e.now()
	refused := func(code string, kerr error) (string, error) {
		if isContext(kerr) {
			return "", kerr
		}
		e.log(ctx, b, r, "RestoreRotation", "refused", code, kerr.Error())
		err := e.markLedger(ctx, runID, le.Lane, r, le.BatchID, func(x *LedgerEntry) {
			x.LastError, x.LastAttempt = kerr.Error(), now
		})
		return kerr.Error(), err
	}
	cur, err := e.observe(ctx, le.Lane, r)
	if errors.Is(err, cloud.ErrNotFound) {
		// Nothing left to restore: the resource is gone.
		e.log(ctx, b, r, "RestoreRotation", "unchanged", ReasonResourceGone, "the resource no longer exists")
		return "", e.markLedger(ctx, runID, le.Lane, r, le.BatchID, func(x *LedgerEntry) {
			x.Status, x.RestoredAt, x.LastError = LedgerRestored, now, ReasonResourceGone
		})
	}
	if err != nil {
		return refused(cloud.Code(err), err)
	}
	if !sameRotation(cur.Rotation, le.Original) {
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
	}
	e.log(ctx, b, r, "RestoreRotation", "updated", "", "rotation restored to "+describe(le.Original)+" (read back)")
	return "", e.markLedger(ctx, runID, le.Lane, r, le.BatchID, func(x *LedgerEntry) {
		if x.Status == LedgerOff {
			x.Status, x.RestoredAt, x.LastError = LedgerRestored, now, ""
		}
	})
}

// verify compares every resource of s with the inventory and the ledger.
func (e *Engine) verify(ctx context.Context, s *BatchState) ([]string, error) {
	var problems []string
	inv, _, err := runstate.GetJSON[estate.Inventory](ctx, e.Store, statekeys.Inventory(s.RunID))
	var li *estate.LaneInventory
	switch {
	case err == nil:
		li, _ = inv.Lane(s.Lane)
	case errors.Is(err, runstate.ErrNotFound):
		problems = append(problems, "no inventory.json: only rotation verified")
	default:
		return nil, err
	}
	var aliases map[string][]string
	if len(s.Keys) > 0 && li != nil {
		if aliases, err = e.KMS.Aliases(ctx, s.Lane); err != nil {
			return nil, fmt.Errorf("migration: verify %s: %w", s.ID, err)
		}
	}
	for _, r := range e.ledgerRefs(s) {
		o, err := e.observe(ctx, s.Lane, r)
		if errors.Is(err, cloud.ErrNotFound) {
			problems = append(problems, r.String()+": no longer exists")
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("migration: verify %s: %w", s.ID, err)
		}
		bad := func(format string, args ...any) {
			problems = append(problems, r.String()+": "+fmt.Sprintf(format, args...))
		}
		out := s.outcome(r)
		wantInstance := ""
		switch {
		case out != nil && out.Result == ResultMigrated:
			wantInstance = s.InstanceID
		case out != nil && out.InstanceID != "":
			wantInstance = out.InstanceID
		}
		if o.InstanceID != wantInstance && !(wantInstance == "" && out == nil) {
			bad("instance %q, want %q", o.InstanceID, wantInstance)
		}
		le, ok, err := e.ledgerEntry(ctx, s.RunID, s.Lane, r)
		if err != nil {
			return nil, err
		}
		if ok && le.BatchID == s.ID {
			if !sameRotation(o.Rotation, le.Original) {
				bad("rotation %s, ledger says %s", describe(o.Rotation), describe(le.Original))
			} else if le.Status != LedgerVerified {
				now := e.now()
				if err := e.markLedger(ctx, s.RunID, s.Lane, r, s.ID, func(x *LedgerEntry) {
					x.Status, x.VerifiedAt = LedgerVerified, now
				}); err != nil {
					return nil, err
				}
			}
		}
		if li == nil {
			continue
		}
		if r.Kind == KindKey {
			k, found := findKey(li, r.ID)
			if !found {
				bad("not in the inventory")
				continue
			}
			if !ok && !sameRotation(o.Rotation, k.Rotation) {
				bad("rotation %s, inventory says %s", describe(o.Rotation), describe(k.Rotation))
			}
			got := slices.Sorted(slices.Values(aliases[r.ID]))
			if want := slices.Sorted(slices.Values(k.Aliases)); !slices.Equal(got, want) {
				bad("aliases %v, inventory says %v", got, want)
			}
			if !maps.Equal(o.Key.Tags, k.Tags) {
				bad("tags %v, inventory says %v", o.Key.Tags, k.Tags)
			}
			if k.VersionCount != 0 && o.Key.VersionCount != k.VersionCount {
				bad("%d versions, inventory says %d", o.Key.VersionCount, k.VersionCount)
			}
			continue
		}
		sec, found := findSecret(li, r.ID)
		if !found {
			bad("not in the inventory")
			continue
		}
		if !ok && !sameRotation(o.Rotation, sec.Rotation) {
			bad("rotation %s, inventory says %s", describe(o.Rotation), describe(sec.Rotation))
		}
		if !maps.Equal(o.Secret.Tags, sec.Tags) {
			bad("tags %v, inventory says %v", o.Secret.Tags, sec.Tags)
		}
		if sec.VersionCount != 0 && o.Secret.VersionCount != sec.VersionCount {
			bad("%d versions, inventory says %d", o.Secret.VersionCount, sec.VersionCount)
		}
	}
	return problems, nil
}

func findKey(li *estate.LaneInventory, id string) (estate.Key, bool) {
	for _, k := range li.Keys {
		if k.ID == id {
			return k, true
		}
	}
	return estate.Key{}, false
}

// findSecret prefers the secret of that name not yet in an instance (two
// secrets may share a name across KMS 1.0 and an instance).
func findSecret(li *estate.LaneInventory, name string) (estate.Secret, bool) {
	var out estate.Secret
	found := false
	for _, s := range li.Secrets {
		if s.Name == name && (!found || s.InstanceID == "") {
			out, found = s, true
		}
	}
	return out, found
}

// SweepResult says what Sweep did. Restored and Pending entries should be
// alerted on: a rotation stayed off past its batch.
type SweepResult struct {
	// Restored lists entries Sweep set back (account/region kind id).
	Restored []string `json:"restored,omitempty"`
	// Pending lists entries it could not restore yet, with the reason.
	Pending []string `json:"pending,omitempty"`
	// Held counts entries off because their batch is still in flight.
	Held int `json:"held"`
}

// Sweep restores every ledger entry of the run still off whose batch has
// ended (completed, failed, or beyond) or is gone, and reports what it
// restored so that the caller can alert. Entries of batches in flight are
// left alone (Held). Refusals are listed in Pending and retried on the next
// sweep. Cancellation: ctx.Err().
func (e *Engine) Sweep(ctx context.Context, runID string) (SweepResult, error) {
	var out SweepResult
	keys, err := e.Store.List(ctx, statekeys.LedgerPrefix(runID))
	if err != nil {
		return out, fmt.Errorf("migration: sweep %s: %w", runID, err)
	}
	for _, k := range keys {
		le, _, err := runstate.GetJSON[LedgerEntry](ctx, e.Store, k)
		if errors.Is(err, runstate.ErrNotFound) {
			continue
		}
		if err != nil {
			return out, err
		}
		if !le.Off() {
			continue
		}
		s, err := e.readBatch(ctx, runID, le.BatchID)
		switch {
		case errors.Is(err, ErrNoState):
		case err != nil:
			return out, err
		case !s.Phase.Ended():
			out.Held++
			continue
		}
		name := fmt.Sprintf("%s %s %s", le.Lane, le.Kind, le.ID)
		p, err := e.restoreEntry(ctx, runID, le)
		if err != nil {
			return out, err
		}
		if p != "" {
			out.Pending = append(out.Pending, name+": "+p)
			continue
		}
		out.Restored = append(out.Restored, name)
	}
	if len(out.Restored)+len(out.Pending) > 0 {
		b := &BatchState{RunID: runID}
		e.log(ctx, b, resourceRef{}, "Sweep", "alert", "RotationLeftOff",
			fmt.Sprintf("restored %d rotation policies left off; %d still pending", len(out.Restored), len(out.Pending)))
	}
	return out, nil
}

// Abort ends a batch that has not ended (an operator's decision, e.g.
// after a stalled-task alert): it becomes failed with reason Aborted, so
// that Restore and Sweep give its rotation back. A task already created is
// not cancelled (the provider has no such call); what it moved shows in
// the verification. Ended batch: OutcomeUnchanged. No state: ErrNoState.
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
