package migration_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/testinfra/stack"
)

// refusingTasks is the real task API with refusals injected per lane and
// operation: refuse returns the error a call gets instead of its answer
// (nil: the call goes through). It counts calls per lane and operation.
type refusingTasks struct {
	migration.Tasks
	refuse func(op string, l estate.Lane, n int) error

	mu    sync.Mutex
	calls map[string]int // "op lane" → calls
}

func (r *refusingTasks) count(op string, l estate.Lane) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls == nil {
		r.calls = map[string]int{}
	}
	r.calls[op+" "+l.String()]++
	return r.calls[op+" "+l.String()]
}

func (r *refusingTasks) Calls(op string, l estate.Lane) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[op+" "+l.String()]
}

func (r *refusingTasks) CreateTask(ctx context.Context, l estate.Lane, req migration.TaskRequest) (string, error) {
	if err := r.refuse("CreateTask", l, r.count("CreateTask", l)); err != nil {
		return "", err
	}
	return r.Tasks.CreateTask(ctx, l, req)
}

func (r *refusingTasks) DescribeTask(ctx context.Context, l estate.Lane, id string) (migration.Task, error) {
	if err := r.refuse("DescribeTask", l, r.count("DescribeTask", l)); err != nil {
		return migration.Task{}, err
	}
	return r.Tasks.DescribeTask(ctx, l, id)
}

func (r *refusingTasks) ListTasks(ctx context.Context, l estate.Lane) ([]migration.Task, error) {
	if err := r.refuse("ListTasks", l, r.count("ListTasks", l)); err != nil {
		return nil, err
	}
	return r.Tasks.ListTasks(ctx, l)
}

var (
	unknownAction = &cloud.APIError{Service: "kms", Action: "ListMigrationTasks", Status: 404, Code: "InvalidAction.NotFound",
		Message: "Specified api is not found, please check your url and method."}
	ramDenied = &cloud.APIError{Service: "kms", Action: "CreateMigrationTask", Status: 403, Code: "Forbidden.RAM",
		Message: "User not authorized to operate on the specified resource."}
	unlisted = &cloud.APIError{Service: "kms", Action: "CreateMigrationTask", Status: 400, Code: "Rejected.SomethingNew",
		Message: "a refusal no table lists"}
)

// twoRotatingBatches is the demo's cn-hangzhou lane of account 1111 re-planned
// as two batches that both hold a resource whose rotation is on: b0001
// the rotating key (and the keys and secrets under no CMK), b0002 the
// rotating secret with the rest. It returns the env and the two batches.
func twoRotatingBatches(t *testing.T, cfg migration.Config) (*env, plan.Batch, plan.Batch) {
	t.Helper()
	cfg.TaskRetryDelay = -1
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}, config: cfg})
	p := e.planOf(t)
	lp := &p.Lanes[0]
	require.Len(t, lp.Batches, 2)
	b1, b2 := &lp.Batches[0], &lp.Batches[1]
	require.Len(t, b1.SecretsRotationOff, 1)
	rotating := b1.SecretsRotationOff[0]
	b1.Secrets = slices.DeleteFunc(b1.Secrets, func(s string) bool { return s == rotating })
	b1.SecretsRotationOff = nil
	b2.Secrets, b2.SecretsRotationOff = append(b2.Secrets, rotating), []string{rotating}
	require.NotEmpty(t, b1.KeysRotationOff)
	_, err := runstate.MutateJSON(t.Context(), e.store, statekeys.Plan(runID), func(x *plan.Plan, _ bool) error { *x = p; return nil })
	require.NoError(t, err)
	e.plan = p
	return e, *b1, *b2
}

// switchedOff counts the DisableRotation records of batch id.
func (e *env) switchedOff(id string) int {
	n := 0
	for _, r := range e.audit.find("DisableRotation", "updated") {
		if r.BatchID == id {
			n++
		}
	}
	return n
}

// blockOf reads the task API block of a lane (or account) of the run.
func (e *env) blockOf(t *testing.T, l estate.Lane) (migration.TaskAPIBlock, bool) {
	t.Helper()
	b, _, err := runstate.GetJSON[migration.TaskAPIBlock](t.Context(), e.store, statekeys.TaskAPIBlock(runID, l))
	if errors.Is(err, runstate.ErrNotFound) {
		return b, false
	}
	require.NoError(t, err)
	return b, true
}

// The task list action is unknown to the gateway (as on a cloud without
// the task API): the first batch, whose rotation is already off when
// ListTasks is refused, fails TaskAPIUnavailable and gets every policy
// back exactly as recorded; the lane is blocked; the second batch fails at
// once without a single rotation change; nothing is retried (one
// ListTasks, no CreateTask).
func TestTaskAPIUnavailableStopsTheLane(t *testing.T) {
	e, b1, b2 := twoRotatingBatches(t, migration.Config{})
	tasks := &refusingTasks{Tasks: e.tasks, refuse: func(op string, l estate.Lane, _ int) error {
		if op == "ListTasks" {
			return unknownAction
		}
		return nil
	}}
	e.eng.Tasks = tasks
	ctx := t.Context()

	res, err := e.eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	require.NotNil(t, res.Blocked, "the step names the block for the caller's alert")
	assert.Equal(t, "InvalidAction.NotFound", res.Blocked.Code)
	assert.True(t, res.Blocked.Permanent)
	assert.Equal(t, migration.ReasonTaskAPIUnavailable, res.Reason)
	assert.Contains(t, res.Blocked.Describe(), "KMSMIG_TASK_ACTIONS")
	assert.Contains(t, res.Blocked.Describe(), "KMSMIG_BACKEND=observe")

	s1 := e.batch(t, b1.ID)
	assert.Equal(t, migration.PhaseFailed, s1.Phase)
	assert.Equal(t, migration.ReasonTaskAPIUnavailable, s1.Reason)
	assert.True(t, s1.RotationRestored, "the batch's rotation is given back at once")
	assert.Positive(t, e.switchedOff(b1.ID), "b0001 had switched rotation off before the refusal")
	for _, o := range s1.Resources {
		assert.False(t, o.Retryable, "%s %s: never retried", o.Kind, o.ID)
		assert.Empty(t, o.RetryBatch)
	}
	e.checkNoRotationLeftOff(t)
	blk, ok := e.blockOf(t, laneHZ)
	require.True(t, ok, "the lane's block is recorded")
	assert.Equal(t, b1.ID, blk.BatchID)

	// The lane's next batch: nothing switched off, failed with the reason.
	e.drive(t, e.eng, 10)
	s2 := e.batch(t, b2.ID)
	assert.Equal(t, migration.PhaseFailed, s2.Phase)
	assert.Equal(t, migration.ReasonTaskAPIUnavailable, s2.Reason)
	assert.Zero(t, e.switchedOff(b2.ID), "no rotation switched off in a blocked lane")
	sec, err := e.kms.Secret(ctx, laneHZ, estate.Secret{Name: b2.SecretsRotationOff[0]})
	require.NoError(t, err)
	assert.True(t, sec.Rotation.Enabled, "b0002's rotating secret was never touched")
	_, _, err = runstate.GetJSON[migration.LedgerEntry](ctx, e.store, statekeys.Ledger(laneHZ, migration.KindSecret, b2.SecretsRotationOff[0]))
	assert.ErrorIs(t, err, runstate.ErrNotFound, "no ledger entry for b0002's secret")

	assert.Equal(t, 1, tasks.Calls("ListTasks", laneHZ), "the refusal is not retried")
	assert.Zero(t, tasks.Calls("CreateTask", laneHZ))
	assert.Empty(t, e.st.KMS.Tasks(), "no task created")
	e.checkNoRotationLeftOff(t)
	e.checkHistories(t)
}

// CreateTask refused for a missing RAM permission: the batch (rotation
// off, intent recorded) fails TaskAPIUnavailable and gets its rotation
// back; CreateTask is called once; the next batch switches nothing off.
func TestCreateTaskDeniedStopsTheLane(t *testing.T) {
	e, b1, b2 := twoRotatingBatches(t, migration.Config{})
	tasks := &refusingTasks{Tasks: e.tasks, refuse: func(op string, l estate.Lane, _ int) error {
		if op == "CreateTask" {
			return ramDenied
		}
		return nil
	}}
	e.eng.Tasks = tasks
	e.drive(t, e.eng, 10)

	s1, s2 := e.batch(t, b1.ID), e.batch(t, b2.ID)
	for _, s := range []migration.BatchState{s1, s2} {
		assert.Equal(t, migration.PhaseFailed, s.Phase, s.ID)
		assert.Equal(t, migration.ReasonTaskAPIUnavailable, s.Reason, s.ID)
		assert.True(t, s.Finished(), s.ID)
	}
	assert.Positive(t, e.switchedOff(b1.ID))
	assert.Zero(t, e.switchedOff(b2.ID))
	assert.Equal(t, 1, tasks.Calls("CreateTask", laneHZ), "a refusal for good is not retried")
	blk, ok := e.blockOf(t, laneHZ)
	require.True(t, ok)
	assert.Equal(t, "Forbidden.RAM", blk.Code)
	assert.Empty(t, e.st.KMS.Tasks())
	e.checkNoRotationLeftOff(t)
	e.checkHistories(t)
}

// A code no table lists is retried once, then the batch fails
// TaskAPIError with its rotation back, the account is blocked and no
// later batch of the account switches rotation off.
func TestUnlistedTaskCodeIsRetriedOnceThenStops(t *testing.T) {
	e, b1, b2 := twoRotatingBatches(t, migration.Config{})
	tasks := &refusingTasks{Tasks: e.tasks, refuse: func(op string, l estate.Lane, _ int) error {
		if op == "CreateTask" {
			return unlisted
		}
		return nil
	}}
	e.eng.Tasks = tasks
	res, err := e.eng.MigrateLane(t.Context(), runID, laneHZ)
	require.NoError(t, err)
	require.NotNil(t, res.Blocked, "%+v", res)
	assert.False(t, res.Blocked.Permanent)
	assert.Equal(t, laneHZ.Account, res.Blocked.Account, "the account is blocked")
	assert.Empty(t, res.Blocked.Region, "the account is blocked")
	assert.Equal(t, 2, tasks.Calls("CreateTask", laneHZ), "one retry, no more")

	e.drive(t, e.eng, 10)
	assert.Equal(t, 2, tasks.Calls("CreateTask", laneHZ), "nothing retried afterwards")
	s1, s2 := e.batch(t, b1.ID), e.batch(t, b2.ID)
	assert.Equal(t, migration.ReasonTaskAPIError, s1.Reason)
	assert.Equal(t, migration.ReasonTaskAPIError, s2.Reason)
	assert.Positive(t, e.switchedOff(b1.ID))
	assert.Zero(t, e.switchedOff(b2.ID), "no rotation switched off in the account again")
	_, ok := e.blockOf(t, estate.Lane{Account: laneHZ.Account})
	require.True(t, ok)
	e.checkNoRotationLeftOff(t)
	e.checkHistories(t)
}

// An unlisted code whose one retry succeeds: the batch's task is created
// and the batch migrates, but the account is blocked: its next batch
// switches nothing off.
func TestUnlistedTaskCodeRetrySucceeds(t *testing.T) {
	e, b1, b2 := twoRotatingBatches(t, migration.Config{})
	tasks := &refusingTasks{Tasks: e.tasks, refuse: func(op string, l estate.Lane, n int) error {
		if op == "CreateTask" && n == 1 {
			return unlisted
		}
		return nil
	}}
	e.eng.Tasks = tasks
	e.drive(t, e.eng, 20)
	s1, s2 := e.batch(t, b1.ID), e.batch(t, b2.ID)
	assert.Equal(t, migration.PhaseVerified, s1.Phase, "%s: %s", s1.Reason, s1.Message)
	assert.NotEmpty(t, s1.TaskID)
	assert.Equal(t, migration.PhaseFailed, s2.Phase)
	assert.Equal(t, migration.ReasonTaskAPIError, s2.Reason)
	assert.Zero(t, e.switchedOff(b2.ID))
	assert.Equal(t, 2, tasks.Calls("CreateTask", laneHZ))
	assert.Len(t, e.st.KMS.Tasks(), 1, "exactly one task")
	e.checkNoRotationLeftOff(t)
}

// The task can no longer be read (DescribeTask refused for good): the
// batch completes by observation (what moved counts, the rest fails
// TaskAPIUnavailable), rotation comes back, and the lane is blocked.
func TestDescribeTaskDeniedCompletesByObservation(t *testing.T) {
	e, b1, b2 := twoRotatingBatches(t, migration.Config{})
	tasks := &refusingTasks{Tasks: e.tasks, refuse: func(op string, l estate.Lane, _ int) error {
		if op == "DescribeTask" {
			return ramDenied
		}
		return nil
	}}
	e.eng.Tasks = tasks
	e.drive(t, e.eng, 20)
	s1, s2 := e.batch(t, b1.ID), e.batch(t, b2.ID)
	assert.True(t, s1.Finished())
	assert.Equal(t, migration.PhaseVerified, s1.Phase, "the task ran: every resource observed in the instance")
	assert.Equal(t, migration.PhaseFailed, s2.Phase)
	assert.Equal(t, migration.ReasonTaskAPIUnavailable, s2.Reason)
	assert.Zero(t, e.switchedOff(b2.ID))
	assert.Equal(t, 1, tasks.Calls("DescribeTask", laneHZ))
	e.checkNoRotationLeftOff(t)
}

// The observe backend creates no task: a block recorded by the task
// backend does not hold it (the remedy KMSMIG_BACKEND=observe works).
func TestObserveBackendIgnoresTaskAPIBlocks(t *testing.T) {
	e, b1, _ := twoRotatingBatches(t, migration.Config{Backend: migration.BackendObserve})
	_, err := runstate.MutateJSON(t.Context(), e.store, statekeys.TaskAPIBlock(runID, laneHZ), func(b *migration.TaskAPIBlock, _ bool) error {
		*b = migration.TaskAPIBlock{Account: laneHZ.Account, Region: laneHZ.Region, Action: "ListTasks", Code: "InvalidAction.NotFound", Permanent: true}
		return nil
	})
	require.NoError(t, err)
	res, err := e.eng.MigrateLane(t.Context(), runID, laneHZ)
	require.NoError(t, err)
	assert.Nil(t, res.Blocked)
	assert.Equal(t, migration.PhaseAwaitingOperator, e.batch(t, b1.ID).Phase)
}

// A batch whose rotation is off when its account gets blocked (another
// lane met an unlisted refusal) is not submitted: it fails with the
// block's reason and its rotation comes back; no task call is made.
func TestBlockedBeforeSubmitGivesRotationBack(t *testing.T) {
	e, b1, _ := twoRotatingBatches(t, migration.Config{})
	tasks := &refusingTasks{Tasks: e.tasks, refuse: func(string, estate.Lane, int) error { return nil }}
	e.eng.Tasks = tasks
	ctx := t.Context()
	res, err := e.eng.Disable(ctx, runID, b1.ID)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseRotationOff, res.Phase)
	require.Positive(t, e.switchedOff(b1.ID))
	_, err = runstate.MutateJSON(ctx, e.store, statekeys.TaskAPIBlock(runID, estate.Lane{Account: laneHZ.Account}), func(b *migration.TaskAPIBlock, _ bool) error {
		*b = migration.TaskAPIBlock{Account: laneHZ.Account, Action: "DescribeTask", Code: "Rejected.SomethingNew"}
		return nil
	})
	require.NoError(t, err)

	res, err = e.eng.Submit(ctx, runID, b1.ID)
	require.NoError(t, err)
	require.NotNil(t, res.Blocked)
	s1 := e.batch(t, b1.ID)
	assert.Equal(t, migration.PhaseFailed, s1.Phase)
	assert.Equal(t, migration.ReasonTaskAPIError, s1.Reason)
	assert.True(t, s1.RotationRestored)
	assert.Zero(t, tasks.Calls("ListTasks", laneHZ)+tasks.Calls("CreateTask", laneHZ), "no task call")
	e.checkNoRotationLeftOff(t)
}
