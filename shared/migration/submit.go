package migration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/rules"
	"github.com/kmsmig/kmsmig/shared/runstate"
)

// Submit creates the batch's migration task, exactly once.
//
// From rotation-off it checks that the lane is free, that the window admits
// the batch's estimated duration (if not, it restores the batch's rotation
// and goes back to planned: rotation is off only around a task), that no
// resource has rotation on again
// (switching it off if so) and that the instance has quota for every
// resource not yet in it; then it records the intent (rotation-off →
// submitting, CAS: the loser stops), calls CreateTask and records the task
// id (submitting → submitted, or scheduled for an automatic task).
//
// From submitting (a crash, an ambiguous CreateTask error, or a refusal) it
// waits for Config.SubmitLease unless the last attempt was refused, then
// adopts the lane's unclaimed task created after the intent in the batch's
// instance with the batch's counts; only when there is none does it submit
// again.
//
// A refusal on the merits (quota, image, sharing, ...) fails the batch with
// the provider's code; a busy instance or an ambiguous error defers it.
// Other phases: OutcomeUnchanged (planned: OutcomeWaiting). No state:
// ErrNoState. Cancellation: ctx.Err(), the intent stays recorded.
func (e *Engine) Submit(ctx context.Context, runID, batchID string) (StepResult, error) {
	res := StepResult{BatchID: batchID, Step: "submit"}
	s, err := e.readBatch(ctx, runID, batchID)
	if err != nil {
		return res, err
	}
	res.Phase, res.TaskID = s.Phase, s.TaskID
	switch s.Phase {
	case PhasePlanned:
		res.Outcome, res.Reason = OutcomeWaiting, "rotation not switched off yet (Disable)"
		return res, nil
	case PhaseRotationOff:
		return e.submitFresh(ctx, s)
	case PhaseSubmitting:
		return e.recoverSubmission(ctx, s)
	}
	res.Outcome = OutcomeUnchanged
	return res, nil
}

// giveBack restores the rotation batch s switched off and moves it
// rotation-off → planned (reason), until it may be submitted (the next
// window, or the run's resumption).
func (e *Engine) giveBack(ctx context.Context, s BatchState, res StepResult, reason, why string) (StepResult, error) {
	pending, superseded, err := e.restoreBatch(ctx, &s)
	res.Superseded = superseded
	if err != nil || len(pending) > 0 {
		res.Pending = pending
		return res, err
	}
	st, _, err := e.transition(ctx, s.RunID, s.ID, []Phase{PhaseRotationOff}, PhasePlanned, reason, func(st *BatchState) {
		st.Deferred = why
	})
	res.Phase = st.Phase
	return res, err
}

func (e *Engine) submitFresh(ctx context.Context, s BatchState) (StepResult, error) {
	res := StepResult{BatchID: s.ID, Step: "submit", Phase: s.Phase}
	cfg := e.cfg()
	if _, ok, why, err := e.laneFree(ctx, &s, stageSubmit); err != nil || !ok {
		res.Outcome, res.Reason = OutcomeWaiting, why
		if err != nil {
			return res, err
		}
		// Prepared ahead of a task that outlasts the window: the
		// rotation comes back until the next window.
		if wwhy, err := e.outsideWindow(ctx, &s, nil); err != nil || wwhy != "" {
			if err != nil {
				return res, err
			}
			res.Outcome, res.Reason = OutcomeOutsideWindow, wwhy
			return e.giveBack(ctx, s, res, "outside window", wwhy)
		}
		return res, nil
	}
	// Blocked since Disable (another lane of the account met an unlisted
	// refusal): nothing is submitted nor switched off again; the batch's
	// rotation comes back.
	if b, err := e.taskAPIBlocked(ctx, s.RunID, s.Lane); err != nil || b != nil {
		if err != nil {
			return res, err
		}
		return e.stopBatch(ctx, s, []Phase{PhaseRotationOff}, "submit", b)
	}
	d, err := e.estimate(ctx, s.RunID, len(s.Keys)+len(s.Secrets))
	if err != nil {
		return res, err
	}
	at, why := cfg.Window.admit(e.now(), d, cfg.Automatic)
	if why != "" {
		res.Outcome, res.Reason = OutcomeOutsideWindow, why
		return e.giveBack(ctx, s, res, "outside window", why)
	}
	if paused, err := e.Paused(ctx, s.RunID); err != nil || paused {
		res.Outcome, res.Reason = OutcomeWaiting, "the run is paused"
		if err != nil {
			return res, err
		}
		return e.giveBack(ctx, s, res, "paused", "the run is paused")
	}
	if ok, why, err := e.approved(ctx, s.RunID); err != nil || !ok {
		res.Outcome, res.Reason = OutcomeWaiting, why
		if err != nil {
			return res, err
		}
		return e.giveBack(ctx, s, res, "awaiting approval", why)
	}

	// Re-check right before submitting: rotation back on, resources gone,
	// scheduled for deletion or disabled (dropped), quota.
	var drops []dropped
	needKeys, needSecrets := 0, 0
	// Read concurrently: the instance may be idle until the task exists.
	rs := s.resources()
	obs, errs := e.observeAll(ctx, s.Lane, rs)
	for i, r := range rs {
		o, err := obs[i], errs[i]
		if err != nil && !errors.Is(err, cloud.ErrNotFound) {
			return res, fmt.Errorf("migration: submit %s: %w", s.ID, err)
		}
		if err == nil && o.InstanceID == s.InstanceID {
			continue
		}
		if d, ok := dropFor(r, o, err); ok {
			drops = append(drops, d)
			continue
		}
		if r.Kind == KindKey {
			needKeys++
		} else {
			needSecrets++
		}
		if o.Rotation.Enabled {
			if err := e.switchOff(ctx, &s, r, o.Rotation); err != nil {
				if errors.Is(err, cloud.ErrConflict) {
					res.Outcome, res.Reason = OutcomeDeferred, "rotation change refused: "+err.Error()
					return res, nil
				}
				return res, err
			}
		}
	}
	in, err := e.KMS.Instance(ctx, s.Lane, s.InstanceID, "")
	if err != nil && !errors.Is(err, cloud.ErrNotFound) {
		return res, fmt.Errorf("migration: submit %s: %w", s.ID, err)
	}
	var refusal string
	var state rules.InstanceProblem
	if err == nil {
		state = rules.CheckInstance(in.Status, in.Expires, e.now())
	}
	switch {
	case err != nil:
		refusal = "Forbidden.DKMSInstanceNotFound"
	case state != rules.InstanceUsable:
		// The provider's own rule: a task would be refused, for good.
		refusal = ReasonInstanceState
	case needKeys > in.FreeKeys() || needSecrets > in.FreeSecrets():
		refusal = ReasonInstanceQuota
	}
	if refusal != "" {
		msg := fmt.Sprintf("instance %s cannot take %d keys and %d secrets", s.InstanceID, needKeys, needSecrets)
		switch {
		case state != rules.InstanceUsable:
			msg = fmt.Sprintf("instance %s is %s (status %q, ends %s): the migration tool refuses it", s.InstanceID, state, in.Status, endDate(in.Expires))
		case err == nil:
			msg += fmt.Sprintf(" (free: %d keys, %d secrets)", in.FreeKeys(), in.FreeSecrets())
		}
		return e.failWith(ctx, s, []Phase{PhaseRotationOff}, refusal, msg, drops)
	}

	if cfg.Backend == BackendObserve {
		return e.handOff(ctx, s, drops)
	}
	known, blocked, err := e.lookalikes(ctx, &s, refs(drops))
	if blocked != nil && err != nil {
		// The task API cannot be listed: this batch's rotation is given
		// back, nothing is retried.
		return e.stopBatch(ctx, s, []Phase{PhaseRotationOff}, "submit", blocked, drops...)
	}
	if err != nil {
		return res, err
	}
	res.Blocked = blocked
	intent := &Intent{ID: newID(), At: e.now(), Since: e.now(), Automatic: cfg.Automatic, Listed: true, Known: known}
	if cfg.Automatic {
		intent.MigrationTime = at
	}
	s, won, err := e.transition(ctx, s.RunID, s.ID, []Phase{PhaseRotationOff}, PhaseSubmitting, "", func(st *BatchState) {
		st.Intent, st.Deferred = intent, ""
		for _, d := range drops {
			st.drop(d)
		}
	})
	if err != nil {
		return res, err
	}
	if !won {
		res.Phase, res.Outcome = s.Phase, OutcomeBusy
		return res, nil
	}
	e.logDrops(ctx, &s, drops, "task")
	return e.create(ctx, s, intent.ID)
}

// outsideWindow says why the window does not admit batch s now, or "";
// with prev (s prepared ahead of prev's task), s as if it started when
// prev's task, started now, would end.
func (e *Engine) outsideWindow(ctx context.Context, s, prev *BatchState) (string, error) {
	cfg := e.cfg()
	if cfg.Window == (Window{}) {
		return "", nil
	}
	d, err := e.estimate(ctx, s.RunID, len(s.Keys)+len(s.Secrets))
	if err != nil {
		return "", err
	}
	now := e.now()
	if prev != nil {
		pd, err := e.estimate(ctx, s.RunID, len(prev.Keys)+len(prev.Secrets))
		if err != nil {
			return "", err
		}
		now = now.Add(pd)
	}
	_, why := cfg.Window.admit(now, d, cfg.Automatic)
	return why, nil
}

// create calls CreateTask for the intent with id intentID and records what
// came of it.
func (e *Engine) create(ctx context.Context, s BatchState, intentID string) (StepResult, error) {
	res := StepResult{BatchID: s.ID, Step: "submit", Phase: s.Phase}
	if len(s.Keys)+len(s.Secrets) == 0 {
		return e.fail(ctx, s, []Phase{PhaseSubmitting}, ReasonAllDropped, "no resource of the batch is left to migrate: every one was dropped")
	}
	req := TaskRequest{InstanceID: s.InstanceID, KeyIDs: s.Keys, SecretNames: s.Secrets}
	if s.Intent != nil && s.Intent.Automatic {
		req.Automatic, req.MigrationTime = true, s.Intent.MigrationTime
	}
	var id string
	blocked, err := e.taskCall(ctx, &s, "CreateTask", func() (err error) {
		id, err = e.Tasks.CreateTask(ctx, s.Lane, req)
		return err
	})
	if err == nil {
		r, err := e.recordTask(ctx, s, id, false)
		r.Blocked = blocked
		return r, err
	}
	code := cloud.Code(err)
	switch fault := classifyTaskFault(err); {
	case isContext(err):
		return res, err
	case fault == faultUnavailable:
		// Refused before the provider acted, for good: no task exists.
		b, berr := e.blockLane(ctx, &s, "CreateTask", err)
		if berr != nil {
			return res, berr
		}
		return e.stopBatch(ctx, s, []Phase{PhaseSubmitting}, "submit", b)
	case fault == faultUnlisted && blocked != nil:
		// Refused twice with a code of no known kind.
		return e.stopBatch(ctx, s, []Phase{PhaseSubmitting}, "submit", blocked)
	case cloud.Retryable(err) || code == "" || code == "NetworkError":
		// Ambiguous: a task may exist. Recovery looks before submitting
		// again.
		res.Outcome, res.Reason = OutcomeDeferred, "CreateTask outcome unknown: "+err.Error()
		return res, nil
	case errors.Is(err, cloud.ErrConflict):
		// Refused: the instance or a resource is held by a running task.
		// No task was created by this call; recovery may look at once.
		_, _, merr := e.mutateBatch(ctx, s.RunID, s.ID, func(st *BatchState) (bool, error) {
			if st.Phase != PhaseSubmitting || st.Intent == nil || st.Intent.ID != intentID {
				return false, nil
			}
			st.Intent.Refused, st.Intent.Code = true, code
			st.Deferred = err.Error()
			return true, nil
		})
		res.Outcome, res.Reason = OutcomeDeferred, "instance busy: "+err.Error()
		return res, merr
	}
	return e.fail(ctx, s, []Phase{PhaseSubmitting}, code, err.Error())
}

// recordTask records task id as the batch's task (submitting → submitted
// or scheduled). A batch that already has another task: ErrDuplicateTask.
func (e *Engine) recordTask(ctx context.Context, s BatchState, id string, adopted bool) (StepResult, error) {
	res := StepResult{BatchID: s.ID, Step: "submit", TaskID: id}
	to, status := PhaseSubmitted, TaskPending
	if s.Intent != nil && s.Intent.Automatic {
		to, status = PhaseScheduled, TaskScheduled
	}
	reason := ""
	if adopted {
		reason = "adopted"
	}
	now := e.now()
	st, won, err := e.transition(ctx, s.RunID, s.ID, []Phase{PhaseSubmitting}, to, reason, func(st *BatchState) {
		st.TaskID, st.TaskStatus, st.TaskStatusSince, st.Deferred = id, status, now, ""
	})
	if err != nil {
		return res, err
	}
	res.Phase = st.Phase
	if won {
		action := "SubmitTask"
		if adopted {
			action = "AdoptTask"
		}
		e.log(ctx, &st, resourceRef{}, action, "created", "", fmt.Sprintf("task %s: %d keys, %d secrets into %s", id, len(st.Keys), len(st.Secrets), st.InstanceID))
		res.Outcome = OutcomeUpdated
		return res, nil
	}
	if st.TaskID == id {
		res.Outcome = OutcomeUnchanged
		return res, nil
	}
	if st.Phase == PhaseFailed && st.TaskID == "" {
		// Aborted while the task was being created: keep the task claimed
		// and visible to verification.
		st, _, err = e.mutateBatch(ctx, s.RunID, s.ID, func(st *BatchState) (bool, error) {
			if st.TaskID != "" {
				return false, nil
			}
			st.TaskID = id
			return true, nil
		})
		e.log(ctx, &st, resourceRef{}, "SubmitTask", "alert", ReasonAborted, "task "+id+" was created for a batch aborted meanwhile")
		res.Outcome = OutcomeUnchanged
		return res, err
	}
	e.log(ctx, &st, resourceRef{}, "SubmitTask", "alert", "DuplicateTask",
		fmt.Sprintf("task %s was created but the batch records %q (phase %s)", id, st.TaskID, st.Phase))
	return res, fmt.Errorf("%w: batch %s has %q, also created %s", ErrDuplicateTask, s.ID, st.TaskID, id)
}

// recoverSubmission resolves a batch left in submitting.
func (e *Engine) recoverSubmission(ctx context.Context, s BatchState) (StepResult, error) {
	res := StepResult{BatchID: s.ID, Step: "submit", Phase: s.Phase}
	cfg := e.cfg()
	if s.Intent == nil {
		s.Intent = &Intent{At: time.Time{}, Refused: true}
	}
	if !s.Intent.Refused && cfg.SubmitLease > 0 && e.now().Sub(s.Intent.At) < cfg.SubmitLease {
		res.Outcome, res.Reason = OutcomeBusy, "another invocation is submitting since "+s.Intent.At.Format(time.RFC3339)
		return res, nil
	}
	id, err := e.ownTask(ctx, s)
	switch classifyTaskFault(err) {
	case faultUnavailable:
		// The lane cannot list its tasks, so none can be adopted nor
		// created: the batch ends and its rotation comes back (a task that
		// holds a resource defers that resource to the sweep).
		b, berr := e.blockLane(ctx, &s, "ListTasks", err)
		if berr != nil {
			return res, berr
		}
		return e.stopBatch(ctx, s, []Phase{PhaseSubmitting}, "submit", b)
	case faultUnlisted:
		// A task may exist: recovery looks again later, but no rotation is
		// switched off in the account again.
		b, berr := e.block(ctx, &s, TaskAPIBlock{Account: s.Lane.Account, Action: "ListTasks", Code: cloud.Code(err), Message: err.Error()})
		res.Blocked, res.Outcome, res.Reason = b, OutcomeDeferred, "ListTasks refused: "+err.Error()
		return res, berr
	}
	if err != nil {
		return res, fmt.Errorf("migration: recover %s: %w", s.ID, err)
	}
	if id != "" {
		return e.recordTask(ctx, s, id, true)
	}
	since := s.Intent.Since
	if since.IsZero() {
		since = s.Intent.At
	}
	// No task: submit again under a fresh intent (CAS: one recoverer wins).
	next := &Intent{ID: newID(), At: e.now(), Since: since, Automatic: s.Intent.Automatic, MigrationTime: s.Intent.MigrationTime,
		Listed: s.Intent.Listed, Known: s.Intent.Known}
	if next.Automatic && next.MigrationTime.Before(e.now().Add(automaticLead/2)) {
		next.MigrationTime = e.now().Add(automaticLead)
	}
	oldID := s.Intent.ID
	st, changed, err := e.mutateBatch(ctx, s.RunID, s.ID, func(st *BatchState) (bool, error) {
		if st.Phase != PhaseSubmitting || st.Intent == nil || st.Intent.ID != oldID {
			return false, nil
		}
		st.Intent, st.UpdatedAt = next, e.now()
		return true, nil
	})
	if err != nil {
		return res, err
	}
	if !changed {
		res.Phase, res.Outcome = st.Phase, OutcomeBusy
		return res, nil
	}
	e.log(ctx, &st, resourceRef{}, "Submit", "retried", s.Intent.Code, "no task found for the recorded intent; submitting again")
	return e.create(ctx, st, next.ID)
}

// ownTask looks for the task that the submission recorded in s.Intent
// created: the lane's task in the batch's instance with the batch's key
// and secret counts that no other batch of the run claims and that is not
// among the look-alikes listed before the intent (intents without that
// list: created after it, less Config.AdoptSkew). None: "".
func (e *Engine) ownTask(ctx context.Context, s BatchState) (string, error) {
	start := time.Now()
	tasks, err := e.Tasks.ListTasks(ctx, s.Lane)
	e.logCall(ctx, &s, "ListTasks", start, err)
	if err != nil {
		return "", err
	}
	claimed, err := e.claimedTasks(ctx, s.RunID, s)
	if err != nil {
		return "", err
	}
	since := s.Intent.Since
	if since.IsZero() {
		since = s.Intent.At
	}
	for _, t := range tasks {
		if claimed[t.ID] || t.InstanceID != s.InstanceID || t.KeyCount != len(s.Keys) || t.SecretCount != len(s.Secrets) {
			continue
		}
		if s.Intent.Listed && slices.Contains(s.Intent.Known, t.ID) ||
			!s.Intent.Listed && t.CreateTime.Before(since.Add(-e.cfg().AdoptSkew)) {
			continue
		}
		return t.ID, nil
	}
	return "", nil
}

// lookalikes lists the lane's tasks that recovery could mistake for the
// task batch s is about to create (same instance, and the key and secret
// counts s will have once the resources missing are dropped).
//
// A ListTasks the lane cannot call blocks the lane; an unlisted refusal is
// retried once and blocks the account: the block is returned, with an
// error when the listing failed.
func (e *Engine) lookalikes(ctx context.Context, s *BatchState, missing []resourceRef) ([]string, *TaskAPIBlock, error) {
	keys, secrets := len(s.Keys), len(s.Secrets)
	for _, r := range missing {
		if r.Kind == KindKey {
			keys--
		} else {
			secrets--
		}
	}
	var tasks []Task
	blocked, err := e.taskCall(ctx, s, "ListTasks", func() (err error) {
		tasks, err = e.Tasks.ListTasks(ctx, s.Lane)
		return err
	})
	if classifyTaskFault(err) == faultUnavailable {
		blocked, err = e.blockLane(ctx, s, "ListTasks", err)
		if err == nil {
			err = errTaskAPIBlocked
		}
	}
	if err != nil {
		return nil, blocked, fmt.Errorf("migration: submit %s: %w", s.ID, err)
	}
	var out []string
	for _, t := range tasks {
		if t.InstanceID == s.InstanceID && t.KeyCount == keys && t.SecretCount == secrets {
			out = append(out, t.ID)
		}
	}
	return out, blocked, nil
}

// errTaskAPIBlocked: a task call found the lane's task API unavailable;
// the block is recorded.
var errTaskAPIBlocked = errors.New("migration: the task API is unavailable")

// claimedTasks returns the task ids recorded by the lane's other batches.
func (e *Engine) claimedTasks(ctx context.Context, runID string, s BatchState) (map[string]bool, error) {
	states, err := e.laneStates(ctx, runID, s.Lane)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, st := range states {
		if st.ID != s.ID && st.TaskID != "" {
			out[st.TaskID] = true
		}
	}
	return out, nil
}

// fail moves a batch from one of the phases from to failed with a reason
// code; every resource without an outcome fails with that code.
func (e *Engine) fail(ctx context.Context, s BatchState, from []Phase, code, msg string) (StepResult, error) {
	return e.failWith(ctx, s, from, code, msg, nil)
}

// failWith is fail that first drops drops from the batch: they are
// recorded as dropped, not failed. It audits the outcomes it records.
func (e *Engine) failWith(ctx context.Context, s BatchState, from []Phase, code, msg string, drops []dropped) (StepResult, error) {
	res := StepResult{BatchID: s.ID, Step: "submit", Reason: code}
	retryable := Classify(code).Retryable
	var added []ResourceOutcome
	st, won, err := e.transition(ctx, s.RunID, s.ID, from, PhaseFailed, code, func(st *BatchState) {
		st.Reason, st.Message = code, msg
		added = added[:0]
		for _, d := range drops {
			if st.outcome(d.ref) == nil {
				st.drop(d)
				added = append(added, *st.outcome(d.ref))
			}
		}
		for _, r := range st.resources() {
			if st.outcome(r) == nil {
				o := ResourceOutcome{Kind: r.Kind, ID: r.ID, Result: ResultFailed,
					ReasonCode: code, Message: msg, Retryable: retryable, Attempt: st.attemptOf(r)}
				st.Resources = append(st.Resources, o)
				added = append(added, o)
			}
		}
	})
	if err != nil {
		return res, err
	}
	res.Phase = st.Phase
	if !won {
		res.Outcome = OutcomeUnchanged
		return res, nil
	}
	for _, o := range added {
		e.log(ctx, &st, resourceRef{o.Kind, o.ID}, "ResourceResult", o.Result, o.ReasonCode, o.Message)
	}
	res.Outcome = OutcomeUpdated
	return res, nil
}

func isNotFound(err error) bool { return errors.Is(err, runstate.ErrNotFound) }

func endDate(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format(time.RFC3339)
}
