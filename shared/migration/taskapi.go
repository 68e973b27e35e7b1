package migration

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// Reason codes of a task backend that cannot run.
const (
	// ReasonTaskAPIUnavailable: a task call of the lane was refused for
	// good (unknown action, missing permission, credentials not accepted
	// for it: cloud.ErrActionUnavailable). Nothing is retried; no rotation
	// is switched off in the lane again in the run.
	ReasonTaskAPIUnavailable = "TaskAPIUnavailable"
	// ReasonTaskAPIError: a task call failed with a code the engine does
	// not know, twice (it is retried once). No rotation is switched off in
	// the account again in the run.
	ReasonTaskAPIError = "TaskAPIError"
)

// TaskAPIRemedy is what a person does about a task backend that cannot
// run: name the provider's actions, or move batches in the console.
const TaskAPIRemedy = "Set KMSMIG_TASK_ACTIONS to the provider's migration task action names (create,describe,list) and grant them to the function's role, or set KMSMIG_BACKEND=observe to start each batch in the console; then run discovery again for a new run."

// DefaultTaskRetryDelay is how long the engine waits before it retries a
// task call that failed with an unlisted code.
const DefaultTaskRetryDelay = 2 * time.Second

// TaskAPIBlock records that the task backend cannot run in a lane (or in
// every lane of an account) of a run: migrate switches no rotation off
// there again in the run. Batches it meets fail with Reason; the batch
// whose rotation was off when it was recorded gets its rotation back by
// the ordinary restore.
type TaskAPIBlock struct {
	// Account and Region name the lane blocked; Region empty: every lane
	// of the account.
	Account string `json:"account"`
	Region  string `json:"region,omitempty"`
	// Action and Code are the task call and the provider's code that
	// caused the block; Message its error.
	Action  string `json:"action"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// Permanent is set for a refusal for good (ReasonTaskAPIUnavailable);
	// unset for an unlisted code (ReasonTaskAPIError).
	Permanent bool      `json:"permanent"`
	BatchID   string    `json:"batchId,omitempty"`
	At        time.Time `json:"at"`
}

// Reason is the reason code of the batches the block stops.
func (b TaskAPIBlock) Reason() string {
	if b.Permanent {
		return ReasonTaskAPIUnavailable
	}
	return ReasonTaskAPIError
}

// Where names what the block holds: a lane, or an account's every lane.
func (b TaskAPIBlock) Where() string {
	if b.Region == "" {
		return "account " + b.Account
	}
	return "lane " + b.Account + "/" + b.Region
}

// Describe says what happened and what to do, for reports and alerts.
func (b TaskAPIBlock) Describe() string {
	what := "the migration task API is unavailable"
	if !b.Permanent {
		what = "the migration task API failed with a code kmsmig does not know (retried once)"
	}
	return fmt.Sprintf("In %s %s: %s answered %s. No rotation is switched off there again in this run. %s",
		b.Where(), what, b.Action, b.Code, TaskAPIRemedy)
}

// taskFault is how the engine treats a failed task call.
type taskFault int

const (
	// faultNone: the call succeeded.
	faultNone taskFault = iota
	// faultKnown: cancellation, throttling, transient and network
	// failures, conflicts, not found, and refusals whose code the reason
	// table lists; each caller handles them as before.
	faultKnown
	// faultUnavailable: the lane cannot call the action
	// (cloud.ErrActionUnavailable); permanent for the lane.
	faultUnavailable
	// faultUnlisted: a provider refusal of any other code; retried once.
	faultUnlisted
)

// classifyTaskFault is the one place that decides how a task call's error
// is treated; the adapter has turned the SDK's error into the domain's
// kinds (cloud.APIError).
func classifyTaskFault(err error) taskFault {
	switch {
	case err == nil:
		return faultNone
	case isContext(err):
		return faultKnown
	case errors.Is(err, cloud.ErrActionUnavailable):
		return faultUnavailable
	case cloud.Retryable(err), errors.Is(err, cloud.ErrConflict), errors.Is(err, cloud.ErrNotFound):
		return faultKnown
	}
	code := cloud.Code(err)
	if code == "" || code == "NetworkError" {
		return faultKnown // not a provider refusal: the caller's ambiguous path
	}
	if _, listed := classes[code]; listed {
		return faultKnown
	}
	return faultUnlisted
}

// taskCall runs call, one task call of batch s, and audits it. An
// unlisted refusal is retried once after Config.TaskRetryDelay; whatever
// the retry's outcome, the account is then blocked (returned), so that no
// rotation is switched off in it again in the run.
func (e *Engine) taskCall(ctx context.Context, s *BatchState, action string, call func() error) (*TaskAPIBlock, error) {
	start := time.Now()
	err := call()
	e.logCall(ctx, s, action, start, err)
	if classifyTaskFault(err) != faultUnlisted {
		return nil, err
	}
	first := err
	if d := e.cfg().TaskRetryDelay; d > 0 {
		if err := cloud.Sleep(ctx, d); err != nil {
			return nil, err
		}
	}
	start = time.Now()
	err = call()
	e.logCall(ctx, s, action, start, err)
	b, berr := e.block(ctx, s, TaskAPIBlock{Account: s.Lane.Account, Action: action,
		Code: cloud.Code(first), Message: first.Error()})
	return b, errors.Join(err, berr)
}

// blockLane records that lane of batch s cannot call the task API (a
// refusal for good by action) and returns the block.
func (e *Engine) blockLane(ctx context.Context, s *BatchState, action string, err error) (*TaskAPIBlock, error) {
	return e.block(ctx, s, TaskAPIBlock{Account: s.Lane.Account, Region: s.Lane.Region, Action: action, Code: cloud.Code(err), Message: err.Error(), Permanent: true})
}

// block records b for batch s's run (create-if-absent: the first block of
// a lane or account stands) and returns the block as recorded.
func (e *Engine) block(ctx context.Context, s *BatchState, b TaskAPIBlock) (*TaskAPIBlock, error) {
	b.BatchID, b.At = s.ID, e.now()
	var out TaskAPIBlock
	created := false
	_, err := runstate.MutateJSON(ctx, e.Store, statekeys.TaskAPIBlock(s.RunID, estate.Lane{Account: b.Account, Region: b.Region}), func(cur *TaskAPIBlock, exists bool) error {
		if !exists {
			*cur, created = b, true
		}
		out = *cur
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("migration: record the task API block of %s: %w", b.Where(), err)
	}
	if created {
		e.log(ctx, s, resourceRef{}, "BlockTaskAPI", "alert", b.Reason(), b.Describe())
	}
	return &out, nil
}

// taskAPIBlocked returns the block that holds lane l of run runID (the
// lane's, else its account's), or nil. The observe backend creates no
// task: nothing blocks it.
func (e *Engine) taskAPIBlocked(ctx context.Context, runID string, l estate.Lane) (*TaskAPIBlock, error) {
	if e.cfg().Backend != BackendTask {
		return nil, nil
	}
	for _, where := range []estate.Lane{l, {Account: l.Account}} {
		b, _, err := runstate.GetJSON[TaskAPIBlock](ctx, e.Store, statekeys.TaskAPIBlock(runID, where))
		switch {
		case errors.Is(err, runstate.ErrNotFound):
			continue
		case err != nil:
			return nil, fmt.Errorf("migration: read the task API block of %s: %w", where, err)
		}
		return &b, nil
	}
	return nil, nil
}

// stopBatch fails batch s (from one of the phases from) because of block
// b and gives its rotation back at once through the ordinary restore
// (Restore: exactly the recorded policies, read back; what a running task
// holds is retried later). The result names the block for the caller's
// alert. drops are recorded as dropped, not failed.
func (e *Engine) stopBatch(ctx context.Context, s BatchState, from []Phase, step string, b *TaskAPIBlock, drops ...dropped) (StepResult, error) {
	res, err := e.failWith(ctx, s, from, b.Reason(), b.Describe(), drops)
	res.Step, res.Blocked = step, b
	if err != nil {
		return res, err
	}
	rr, err := e.Restore(ctx, s.RunID, s.ID)
	rr.Step, rr.Reason, rr.Blocked = step, b.Reason(), b
	return rr, err
}
