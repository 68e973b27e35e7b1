package migration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// Poll reads the batch's task and records what it sees: Pending, Scheduled
// and Running are recorded (submitted, scheduled, running); a status
// unchanged for Config.StallAfter sets Stalled (the result says so, the
// caller alerts). Completed is not taken on the task's word: every resource
// is observed and counts as migrated only when it shows the batch's
// instance id; the rest fail with the task's reason (or
// NotObservedInInstance), classified by Classify. The batch moves to
// completed, the task's duration feeds the estimate, the retryable failures
// are appended to the lane's plan as a new batch, and rotate is chained.
//
// Other phases: OutcomeUnchanged. No state: ErrNoState. Cancellation:
// ctx.Err().
func (e *Engine) Poll(ctx context.Context, runID, batchID string) (StepResult, error) {
	return e.poll(ctx, runID, batchID, true)
}

// poll is Poll; wait=false never waits for a running task.
func (e *Engine) poll(ctx context.Context, runID, batchID string, wait bool) (StepResult, error) {
	res := StepResult{BatchID: batchID, Step: "poll"}
	s, err := e.readBatch(ctx, runID, batchID)
	if err != nil {
		return res, err
	}
	res.Phase, res.TaskID, res.Stalled = s.Phase, s.TaskID, s.Stalled
	if s.Phase == PhaseCompleted && !s.RetriesPlanned {
		return res, e.planRetries(ctx, s)
	}
	if s.Phase == PhaseAwaitingOperator {
		return e.pollObserved(ctx, s)
	}
	if s.Phase != PhaseSubmitted && s.Phase != PhaseScheduled && s.Phase != PhaseRunning {
		res.Outcome = OutcomeUnchanged
		return res, nil
	}
	var t Task
	blocked, err := e.taskCall(ctx, &s, "DescribeTask", func() (err error) {
		t, err = e.Tasks.DescribeTask(ctx, s.Lane, s.TaskID)
		return err
	})
	res.Blocked = blocked
	switch fault := classifyTaskFault(err); {
	case fault == faultUnavailable:
		// The task can no longer be read, for good: what moved is
		// observed, the rest fails TaskAPIUnavailable (never retried) and
		// rotation comes back (deferred while a task still holds it).
		b, berr := e.blockLane(ctx, &s, "DescribeTask", err)
		if berr != nil {
			return res, berr
		}
		r, err := e.complete(ctx, s, Task{ID: s.TaskID, Status: TaskCompleted}, ReasonTaskAPIUnavailable)
		r.Blocked = b
		return r, err
	case fault == faultUnlisted:
		// Refused twice with a code of no known kind (the account is
		// blocked: the caller alerts). The task may still run: the next
		// poll reads it again.
		res.Outcome, res.Reason = OutcomeDeferred, "DescribeTask refused: "+err.Error()
		return res, nil
	case errors.Is(err, cloud.ErrNotFound):
		t = Task{ID: s.TaskID, Status: TaskCompleted}
		return e.complete(ctx, s, t, ReasonTaskNotFound)
	case err != nil:
		return res, fmt.Errorf("migration: poll %s: %w", batchID, err)
	case t.Status == TaskCompleted:
		return e.complete(ctx, s, t, "")
	}
	res, err = e.progress(ctx, s, t)
	if err == nil && t.Status == TaskRunning {
		// The instance is busy for a while: prepare the lane's next batch
		// (pipelining) before waiting.
		if st, rerr := e.readBatch(ctx, s.RunID, s.ID); rerr == nil {
			err = e.prepareAhead(ctx, st)
		}
	}
	if err != nil || !wait || res.Stalled || (t.Status != TaskRunning && t.Status != TaskPending) {
		return res, err
	}
	return e.await(ctx, s, res)
}

// await re-reads a running task until it completes, Config.PollWait
// passes or ctx ends, and completes the batch when the task does. Waiting
// is an optimisation: whatever stops it, the next poll carries on.
func (e *Engine) await(ctx context.Context, s BatchState, res StepResult) (StepResult, error) {
	wait := e.cfg().PollWait
	if wait <= 0 {
		return res, nil
	}
	interval := max(wait/20, 50*time.Millisecond)
	end, hasEnd := ctx.Deadline()
	deadline := awaitDeadline(time.Now(), wait, end, hasEnd)
	if by, ok := ctx.Value(awaitByKey{}).(time.Time); ok && by.Before(deadline) {
		deadline = by
	}
	for time.Now().Add(interval).Before(deadline) {
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return res, nil
		case <-t.C:
		}
		task, err := e.Tasks.DescribeTask(ctx, s.Lane, s.TaskID)
		if err != nil {
			return res, nil
		}
		if task.Status == TaskCompleted {
			cur, err := e.readBatch(ctx, s.RunID, s.ID)
			if err != nil {
				return res, err
			}
			if cur.Phase != PhaseSubmitted && cur.Phase != PhaseRunning {
				return res, nil // another poll got there first
			}
			return e.complete(ctx, cur, task, "")
		}
	}
	return res, nil
}

// awaitByKey keys the time by which await stops, whatever wait is left:
// the waits of one lane's step share Config.PollWait (PollLane).
type awaitByKey struct{}

// withAwaitBy bounds every await under ctx by t; an earlier bound stays.
func withAwaitBy(ctx context.Context, t time.Time) context.Context {
	if by, ok := ctx.Value(awaitByKey{}).(time.Time); ok && by.Before(t) {
		return ctx
	}
	return context.WithValue(ctx, awaitByKey{}, t)
}

// awaitDeadline is when a wait of up to wait begun at now stops, in an
// invocation that ends at end (when hasEnd). The invocation must still
// complete the batch, step its other lanes and flush its audit trail after
// the wait: a group of a hundred lanes awaits in waves of
// Config.ParallelLanes, and a wave that waited to the deadline's last
// moments timed the invocation out (seen at 1,000 lanes), losing the audit
// records of what it had done. So it leaves a quarter of the time left, and
// at least three fifths of wait.
func awaitDeadline(now time.Time, wait time.Duration, end time.Time, hasEnd bool) time.Time {
	deadline := now.Add(wait)
	if !hasEnd {
		return deadline
	}
	reserve := max(end.Sub(now)/4, wait*3/5)
	if end.Add(-reserve).Before(deadline) {
		deadline = end.Add(-reserve)
	}
	return deadline
}

// progress records a task that has not completed.
func (e *Engine) progress(ctx context.Context, s BatchState, t Task) (StepResult, error) {
	res := StepResult{BatchID: s.ID, Step: "poll", TaskID: s.TaskID}
	to := PhaseSubmitted
	switch t.Status {
	case TaskRunning:
		to = PhaseRunning
	case TaskScheduled:
		to = PhaseScheduled
	}
	now := e.now()
	stallAfter := e.cfg().StallAfter
	var (
		alert bool
		base  BatchState // the batch as the last write attempt found it
		moved bool       // that attempt wrote a transition to phase to
	)
	st, changed, err := e.mutateBatch(ctx, s.RunID, s.ID, func(st *BatchState) (bool, error) {
		base, moved = *st, false
		if st.Phase != PhaseSubmitted && st.Phase != PhaseScheduled && st.Phase != PhaseRunning {
			return false, nil
		}
		alert = false
		if st.TaskStatus != t.Status {
			st.TaskStatus, st.TaskStatusSince, st.Stalled = t.Status, now, false
			st.TaskCreated, st.TaskStarted = t.CreateTime, t.StartTime
			if st.Phase != to {
				moved = true
				return true, st.to(to, now, requestID(ctx), "task "+t.Status)
			}
			return true, nil
		}
		since := st.TaskStatusSince
		if st.Intent != nil && st.Intent.Automatic && since.Before(st.Intent.MigrationTime) {
			since = st.Intent.MigrationTime
		}
		if !st.Stalled && now.Sub(since) > stallAfter {
			st.Stalled, alert = true, true
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		if moved {
			e.owedTransition(ctx, base, to, now, "", func(*BatchState) string { return "task " + t.Status })
		}
		return res, err
	}
	res.Phase, res.Stalled = st.Phase, st.Stalled
	res.Outcome = OutcomeWaiting
	if changed && !alert {
		e.log(ctx, &st, resourceRef{}, "Transition", string(st.Phase), "", "task "+t.Status)
		res.Outcome = OutcomeUpdated
	}
	if alert {
		e.log(ctx, &st, resourceRef{}, "TaskStalled", "alert", "TaskStalled",
			fmt.Sprintf("task %s has been %s since %s", st.TaskID, st.TaskStatus, st.TaskStatusSince.Format(time.RFC3339)))
		res.Reason = "task stalled"
	}
	return res, nil
}

// complete observes every resource of an ended task and records the
// outcomes (→ completed).
func (e *Engine) complete(ctx context.Context, s BatchState, t Task, missingCode string) (StepResult, error) {
	res := StepResult{BatchID: s.ID, Step: "poll", TaskID: s.TaskID}
	handed := "" // another lane's batch this step submitted to the instance
	if e.pipelining() && missingCode == "" && t.Status == TaskCompleted {
		// The instance is free: the batch prepared ahead goes before this
		// one's resources are observed (one call each), its rotation
		// restored and its resources verified.
		ended, err := e.markTaskEnded(ctx, s, t)
		if err != nil {
			return res, err
		}
		if err := e.submitAhead(ctx, ended); err != nil {
			return res, err
		}
		// No batch of the lane went: another lane's prepared for the
		// instance does (it returns at once when one went).
		if handed, err = e.submitWaiting(ctx, ended); err != nil {
			return res, err
		}
	}
	results := map[resourceRef]TaskResult{}
	for _, r := range t.Results {
		results[resourceRef{r.Kind, r.ID}] = r
	}
	// The task's word only explains a resource that did not move.
	m, err := e.observeMoves(ctx, s, func(r resourceRef) (string, string) {
		tr, reported := results[r]
		switch {
		case missingCode == ReasonTaskAPIUnavailable:
			return missingCode, "the task can no longer be read: the migration task API refused DescribeTask"
		case missingCode != "":
			return missingCode, "the task is unknown to the provider"
		case reported && tr.Status != "Succeeded" && tr.ReasonCode != "":
			return tr.ReasonCode, tr.Message
		case reported:
			return ReasonNotObserved, "the task reported " + tr.Status + " but the resource is not in " + s.InstanceID
		}
		return ReasonNotObserved, "the task did not report the resource"
	})
	if err != nil {
		return res, err
	}
	outcomes := m.Outcomes
	st, won, err := e.transition(ctx, s.RunID, s.ID, []Phase{PhaseSubmitted, PhaseScheduled, PhaseRunning}, PhaseCompleted, missingCode, func(st *BatchState) {
		st.TaskStatus, st.TaskStatusSince, st.Stalled = TaskCompleted, e.now(), false
		if !t.CreateTime.IsZero() {
			st.TaskCreated, st.TaskStarted, st.TaskEnded = t.CreateTime, t.StartTime, t.EndTime
		}
		st.record(outcomes)
	})
	if err != nil {
		return res, err
	}
	res.Phase = st.Phase
	if !won {
		res.Outcome = OutcomeUnchanged
		return res, nil
	}
	e.logOutcomes(ctx, &st, outcomes)
	if !st.TaskStarted.IsZero() && !st.TaskEnded.IsZero() {
		if err := e.observeDuration(ctx, st.RunID, st.ID, len(outcomes), st.TaskEnded.Sub(st.TaskStarted)); err != nil {
			return res, err
		}
	}
	res.Outcome = OutcomeUpdated
	// The batch prepared ahead, if its submission above did not happen
	// (another invocation's complete, or the task API's own end), goes
	// before retries are planned and the rotation of this one restored.
	if err := e.submitAhead(ctx, st); err != nil {
		return res, err
	}
	if err := e.planRetries(ctx, st); err != nil {
		return res, err
	}
	if handed == "" {
		// As for submitAhead: the hand-over above may not have happened.
		if handed, err = e.submitWaiting(ctx, st); err != nil {
			return res, err
		}
	}
	e.chain(ctx, e.cfg().Functions.Rotate, st.RunID, st.ID, "", "restore")
	e.follow(ctx, st.RunID, handed)
	return res, nil
}

// follow awaits, in what is left of a lane step's wait (PollLane), the
// task of batch id of another lane that the step handed the instance to:
// nobody else waits for it before the next poll, and a short task ended
// long before that (handovers of 40 s in the 60x window rehearsal). What
// it finds is that batch's, and stays in the trail; errors are left to
// that lane's next poll.
func (e *Engine) follow(ctx context.Context, runID, id string) {
	if _, ok := ctx.Value(awaitByKey{}).(time.Time); !ok || id == "" {
		return
	}
	_, _ = e.poll(ctx, runID, id, true)
}

// submitWaiting submits, once ended's task has freed its instance and no
// batch of the run has taken the instance since, the batch of another
// lane prepared for the instance (its turn: submitTurn), or that the
// instance refused while it was busy (submitting, refused): it would
// otherwise wait for its own lane's next poll. One is enough: an instance
// runs one task at a time. It returns the batch submitted, if any. An
// error other than the context's is left to that lane's next poll.
func (e *Engine) submitWaiting(ctx context.Context, ended BatchState) (string, error) {
	if e.cfg().Backend != BackendTask {
		return "", nil
	}
	if e.turnsApply() {
		return e.submitTurn(ctx, ended)
	}
	states, err := e.instanceStates(ctx, ended.RunID, ended.InstanceID)
	if err != nil {
		return "", nil
	}
	var waiting []BatchState
	for _, s := range states {
		if s.InstanceID != ended.InstanceID || s.ID == ended.ID {
			continue
		}
		switch {
		case s.Phase == PhaseSubmitted || s.Phase == PhaseScheduled || s.Phase == PhaseRunning:
			if s.TaskStatus != TaskCompleted {
				return "", nil // the instance is taken again
			}
		case s.Phase == PhaseSubmitting && s.Intent != nil && s.Intent.Refused && s.Lane != ended.Lane:
			waiting = append(waiting, s)
		}
	}
	for _, s := range waiting {
		if ok, err := e.handOver(ctx, s); ok || err != nil {
			return s.ID, err
		}
	}
	return "", nil
}

// submitTurn is submitWaiting where batches take their instance's turn
// (turn.go): the only batch of another lane that can wait for the
// instance with its rotation off holds the turn, and one read finds it
// (a scan read every state of every lane of the instance, a hundred lanes
// on a shared one, at every task's end).
func (e *Engine) submitTurn(ctx context.Context, ended BatchState) (string, error) {
	t, _, err := runstate.GetJSON[instanceTurn](ctx, e.Store, statekeys.InstanceTurn(ended.RunID, ended.InstanceID))
	if err != nil || t.BatchID == ended.ID {
		return "", nil
	}
	s, err := e.readBatch(ctx, ended.RunID, t.BatchID)
	if err != nil || s.Lane == ended.Lane || !waitsForInstance(&s) ||
		s.Phase == PhaseSubmitting && (s.Intent == nil || !s.Intent.Refused) {
		return "", nil // none, the lane's own (submitAhead's), or a submission under way
	}
	if ok, err := e.handOver(ctx, s); ok || err != nil {
		return s.ID, err
	}
	return "", nil
}

// handOver submits batch s, waiting for an instance another batch's task
// has just freed; ok when it went. An error other than the context's is
// left to s's lane's next poll.
func (e *Engine) handOver(ctx context.Context, s BatchState) (ok bool, err error) {
	res, err := e.Submit(ctx, s.RunID, s.ID)
	if isContext(err) {
		return false, err
	}
	return err == nil && res.Outcome == OutcomeUpdated, nil
}

// instanceStates returns the states of the run's batches in the lanes
// whose plan puts a batch into instance id: the batches that can hold or
// wait for it. A run of a thousand lanes has more than a thousand states,
// and every task's end looks for a waiting batch; the lanes that share an
// instance are few.
func (e *Engine) instanceStates(ctx context.Context, runID, id string) ([]BatchState, error) {
	p, err := e.readPlan(ctx, runID)
	if err != nil {
		return nil, err
	}
	var out []BatchState
	for _, lp := range p.Lanes {
		if !slices.ContainsFunc(lp.Batches, func(b plan.Batch) bool { return b.InstanceID == id }) {
			continue
		}
		states, err := e.laneStates(ctx, runID, lp.Lane)
		if err != nil {
			return nil, err
		}
		out = append(out, states...)
	}
	return out, nil
}

// markTaskEnded records on batch s, still in flight, that its task t has
// completed (TaskStatus, times), before its outcomes are observed: the
// batch prepared ahead of it may then be submitted (mayGoAhead). It
// returns the batch as stored.
func (e *Engine) markTaskEnded(ctx context.Context, s BatchState, t Task) (BatchState, error) {
	now := e.now()
	st, _, err := e.mutateBatch(ctx, s.RunID, s.ID, func(st *BatchState) (bool, error) {
		if !st.Phase.InFlight() || st.TaskID != s.TaskID || st.TaskStatus == TaskCompleted {
			return false, nil
		}
		st.TaskStatus, st.TaskStatusSince, st.Stalled = TaskCompleted, now, false
		if !t.CreateTime.IsZero() {
			st.TaskCreated, st.TaskStarted, st.TaskEnded = t.CreateTime, t.StartTime, t.EndTime
		}
		return true, nil
	})
	return st, err
}

// ChainEvent is the payload the engine sends to the function it chains:
// the run, and the batch (rotate) or lane (migrate) to work on.
type ChainEvent struct {
	RunID   string `json:"runId"`
	BatchID string `json:"batchId,omitempty"`
	Lane    string `json:"lane,omitempty"`
}

// chainTimeout bounds one chained InvokeAsync.
const chainTimeout = 5 * time.Second

// chain asks function to continue, idempotently per run, batch and phase.
// A failure is logged, not returned: the timers are the safety net (poll
// chains rotate again for an ended batch left waiting: restoreAgain).
func (e *Engine) chain(ctx context.Context, function, runID, batchID, lane, phase string) {
	if e.Invoker == nil || function == "" {
		return
	}
	payload, _ := json.Marshal(ChainEvent{RunID: runID, BatchID: batchID, Lane: lane})
	id := ChainTaskID(runID, batchID+lane, phase)
	// Detached: a step cut at its lane budget (WithinLaneBudget) has
	// still made the change this invocation hands on.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), chainTimeout)
	defer cancel()
	err := e.Invoker.InvokeAsync(cctx, function, payload, id)
	outcome := "invoked"
	if err != nil {
		outcome = "failed"
	}
	rec := BatchState{ID: batchID, RunID: runID}
	e.log(ctx, &rec, resourceRef{}, "Invoke "+function, outcome, cloud.Code(err), id)
}
