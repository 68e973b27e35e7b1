package migration_test

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// pipelineEnv is the demo's cn-hangzhou lane of the first account in
// batches of one key and one secret, so that the lane has several batches
// and some of them hold rotating resources.
func pipelineEnv(t *testing.T, freeze bool, cfg migration.Config) *env {
	t.Helper()
	e := newEnv(t, envOptions{lanes: []estate.Lane{laneHZ}, config: cfg,
		planSettings: &plan.Settings{MaxKeys: 1, MaxSecrets: 1},
		stack:        stack.Options{FreezeDuringTask: freeze}})
	require.GreaterOrEqual(t, len(e.laneBatches()), 3, "the test needs a lane of three batches or more")
	return e
}

// drivePipelined steps the run as the functions would, with every task
// running across migrate and a first poll (held by the twin) and ending
// before a second poll, until the run is done.
func (e *env) drivePipelined(t *testing.T, eng *migration.Engine, rounds int) {
	t.Helper()
	ctx := t.Context()
	for range rounds {
		e.st.KMS.StallTasks(true)
		_, err := eng.Migrate(ctx, runID)
		require.NoError(t, err)
		_, err = eng.PollRun(ctx, runID)
		require.NoError(t, err)
		e.st.KMS.StallTasks(false)
		_, err = eng.PollRun(ctx, runID)
		require.NoError(t, err)
		_, _, err = eng.RotateRun(ctx, runID)
		require.NoError(t, err)
		p, err := eng.Status(ctx, runID)
		require.NoError(t, err)
		if p.Done() {
			return
		}
	}
	t.Fatalf("run not done after %d rounds", rounds)
}

// rotatingSecond swaps the resources of the lane's second batch with
// those of the first later batch that holds a rotating resource (the
// demo's rds/orders), so that the batch prepared ahead has rotation to
// switch off.
func (e *env) rotatingSecond(t *testing.T) {
	t.Helper()
	p := e.planOf(t)
	for i, lp := range p.Lanes {
		if lp.Lane != laneHZ {
			continue
		}
		bs := lp.Batches
		slices.SortFunc(bs, func(a, b plan.Batch) int { return cmp.Compare(a.Seq, b.Seq) })
		for j := 2; j < len(bs); j++ {
			if slices.Contains(bs[j].Secrets, "rds/orders") {
				bs[1].Keys, bs[j].Keys = bs[j].Keys, bs[1].Keys
				bs[1].Secrets, bs[j].Secrets = bs[j].Secrets, bs[1].Secrets
				p.Lanes[i].Batches = bs
				_, err := runstate.MutateJSON(t.Context(), e.store, statekeys.Plan(runID), func(x *plan.Plan, _ bool) error { *x = p; return nil })
				require.NoError(t, err)
				e.plan = p
				return
			}
		}
	}
	t.Fatal("no later batch of the lane holds rds/orders")
}

// laneBatches returns the plan's batches of laneHZ, by seq.
func (e *env) laneBatches() []plan.Batch {
	var out []plan.Batch
	for _, lp := range e.plan.Lanes {
		if lp.Lane == laneHZ {
			out = append(out, lp.Batches...)
		}
	}
	slices.SortFunc(out, func(a, b plan.Batch) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// started reports whether a batch has a state.
func (e *env) started(t *testing.T, id string) bool {
	t.Helper()
	_, _, err := runstate.GetJSON[migration.BatchState](t.Context(), e.store, statekeys.Batch(runID, id))
	if errors.Is(err, runstate.ErrNotFound) {
		return false
	}
	require.NoError(t, err)
	return true
}

// firstAt is when batch s first entered phase p.
func firstAt(s migration.BatchState, p migration.Phase) (time.Time, bool) {
	for _, h := range s.History {
		if h.To == p {
			return h.At, true
		}
	}
	return time.Time{}, false
}

// restoredAt is when batch s's rotation was restored (a failed batch: its
// last write, which set RotationRestored and Verified).
func restoredAt(s migration.BatchState) time.Time {
	if at, ok := firstAt(s, migration.PhaseRotationRestored); ok {
		return at
	}
	return s.UpdatedAt
}

// finishedAt is when batch s finished.
func finishedAt(s migration.BatchState) time.Time {
	if at, ok := firstAt(s, migration.PhaseVerified); ok {
		return at
	}
	return s.UpdatedAt
}

// checkLaneOrder checks, over every batch of the (finished) lane, what
// pipelining may and may not do: one task at a time (a batch is submitted
// only after the task before it ended), rotation off at most one batch
// ahead (a batch's rotation goes off only once the batch two before it has
// its rotation back; it may still be verified). It returns how many
// batches were submitted before the batch before them had its rotation
// restored.
func (e *env) checkLaneOrder(t *testing.T) (ahead int) {
	t.Helper()
	var states []migration.BatchState
	for _, lp := range e.planOf(t).Lanes {
		for _, b := range lp.Batches {
			if b.Lane == laneHZ {
				states = append(states, e.batch(t, b.ID))
			}
		}
	}
	slices.SortFunc(states, func(a, b migration.BatchState) int { return cmp.Compare(a.Seq, b.Seq) })
	for k, s := range states {
		require.True(t, s.Finished(), "%s is %s", s.ID, s.Phase)
		sub, submitted := firstAt(s, migration.PhaseSubmitting)
		off, wentOff := firstAt(s, migration.PhaseRotationOff)
		if k >= 1 && submitted {
			// The task's end as the provider reported it: the batch after
			// it may be submitted before the ended batch's outcomes are
			// recorded (completed).
			p := states[k-1]
			ended, ok := p.TaskEnded, !p.TaskEnded.IsZero()
			if !ok {
				ended, ok = firstAt(p, migration.PhaseCompleted)
			}
			if !ok {
				ended = finishedAt(p)
			}
			assert.False(t, sub.Before(ended), "%s submitted at %s, before the task of %s ended at %s", s.ID, sub, p.ID, ended)
			if sub.Before(restoredAt(p)) {
				ahead++
			}
		}
		if k >= 2 && wentOff {
			p := states[k-2]
			assert.False(t, off.Before(restoredAt(p)), "%s's rotation went off at %s, two batches ahead of %s (rotation restored %s)", s.ID, off, p.ID, restoredAt(p))
		}
	}
	return ahead
}

func TestPipeliningPreparesTheNextBatchWhileTheTaskRuns(t *testing.T) {
	e := pipelineEnv(t, false, migration.Config{})
	ctx := t.Context()
	bs := e.laneBatches()
	e.rotatingSecond(t)

	// The task runs: the next batch is prepared, no further one.
	e.st.KMS.StallTasks(true)
	res, err := e.eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseSubmitted, res.Phase, "%+v", res)
	assert.False(t, e.started(t, bs[1].ID), "prepared before the task was seen running")
	res, err = e.eng.PollLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseRunning, res.Phase, "%+v", res)
	b2 := e.batch(t, bs[1].ID)
	require.Equal(t, migration.PhaseRotationOff, b2.Phase, "%+v", b2)
	require.Equal(t, migration.AheadProven, b2.Ahead)
	assert.False(t, e.started(t, bs[2].ID), "rotation must not go off two batches ahead")
	for range 2 {
		_, err = e.eng.MigrateLane(ctx, runID, laneHZ)
		require.NoError(t, err)
		_, err = e.eng.PollLane(ctx, runID, laneHZ)
		require.NoError(t, err)
	}
	assert.Equal(t, migration.PhaseRotationOff, e.batch(t, bs[1].ID).Phase, "submitted while the task before it runs")
	assert.False(t, e.started(t, bs[2].ID), "rotation must not go off two batches ahead")

	// The task ends: the batch prepared ahead is submitted (when proven)
	// before the ended one is restored.
	e.st.KMS.StallTasks(false)
	_, err = e.eng.PollLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	b1 := e.batch(t, bs[0].ID)
	assert.Equal(t, migration.PhaseCompleted, b1.Phase)
	b2 = e.batch(t, bs[1].ID)
	assert.NotEmpty(t, b2.TaskID, "the batch prepared ahead was not submitted when the task before it ended")
	// The instance does not wait for the ended batch's resources to be
	// observed: the next task is asked for first.
	sub, ok := firstAt(b2, migration.PhaseSubmitting)
	require.True(t, ok)
	done, ok := firstAt(b1, migration.PhaseCompleted)
	require.True(t, ok)
	assert.True(t, sub.Before(done), "%s submitted at %s, after %s's outcomes were recorded at %s", b2.ID, sub, b1.ID, done)
	assert.False(t, sub.Before(b1.TaskEnded), "%s submitted before %s's task ended", b2.ID, b1.ID)

	e.drivePipelined(t, e.eng, 60)
	e.checkOneTaskPerBatch(t)
	e.checkHistories(t)
	e.checkNoRotationLeftOff(t)
	ahead := e.checkLaneOrder(t)
	assert.Positive(t, ahead, "no batch was submitted before the batch before it was restored")
	proven := 0
	for _, b := range e.laneBatches() {
		if e.batch(t, b.ID).Ahead == migration.AheadProven {
			proven++
		}
	}
	assert.Positive(t, proven, "no batch proved that KMS accepts rotation changes while a task runs")
}

func TestPipeliningWaitsForTheTaskWhenKMSFreezesTheControlPlane(t *testing.T) {
	e := pipelineEnv(t, true, migration.Config{})
	ctx := t.Context()
	bs := e.laneBatches()
	e.rotatingSecond(t)

	e.st.KMS.StallTasks(true)
	_, err := e.eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	_, err = e.eng.PollLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	b2 := e.batch(t, bs[1].ID)
	assert.Equal(t, migration.PhasePlanned, b2.Phase)
	assert.True(t, b2.AheadRefused)
	e.drivePipelined(t, e.eng, 80)
	e.checkOneTaskPerBatch(t)
	e.checkHistories(t)
	e.checkNoRotationLeftOff(t)
	e.checkLaneOrder(t)

	// As without pipelining: every batch is submitted only once the
	// rotation of the batch before it is back; a batch that has rotation
	// to switch off is prepared only once the batch before it finished.
	refused := 0
	states := make([]migration.BatchState, 0, len(bs))
	for _, b := range e.laneBatches() {
		states = append(states, e.batch(t, b.ID))
	}
	for k, s := range states {
		assert.NotEqual(t, migration.AheadProven, s.Ahead, s.ID)
		if s.AheadRefused {
			refused++
			if off, ok := firstAt(s, migration.PhaseRotationOff); ok && k > 0 {
				assert.False(t, off.Before(finishedAt(states[k-1])), "%s prepared before %s finished", s.ID, states[k-1].ID)
			}
		}
		if sub, ok := firstAt(s, migration.PhaseSubmitting); ok && k > 0 {
			assert.False(t, sub.Before(restoredAt(states[k-1])), "%s submitted before %s's rotation was restored", s.ID, states[k-1].ID)
		}
	}
	assert.Positive(t, refused, "KMS never refused a preparation: the test does not exercise the freeze")
	assert.NotEmpty(t, e.audit.find("PrepareAhead", "refused"))
}

func TestPipeliningGivesRotationBackWhenTheWindowCloses(t *testing.T) {
	end := time.Now().UTC().Add(time.Hour)
	e := pipelineEnv(t, false, migration.Config{Window: migration.Window{End: end}})
	ctx := t.Context()
	bs := e.laneBatches()
	e.rotatingSecond(t)

	e.st.KMS.StallTasks(true)
	_, err := e.eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	_, err = e.eng.PollLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	ahead := e.batch(t, bs[1].ID)
	require.Equal(t, migration.PhaseRotationOff, ahead.Phase)
	require.Equal(t, migration.AheadProven, ahead.Ahead)
	held := 0
	keys, err := e.store.List(ctx, statekeys.LedgerPrefix)
	require.NoError(t, err)
	for _, k := range keys {
		le, _, err := runstate.GetJSON[migration.LedgerEntry](ctx, e.store, k)
		require.NoError(t, err)
		if le.BatchID == ahead.ID && le.Off() {
			held++
		}
	}
	require.Positive(t, held, "the batch prepared ahead holds no rotation off: the test proves nothing")

	// The window closes while the task before it still runs.
	e.clock.Advance(2 * time.Hour)
	res, err := e.eng.PollLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	ahead = e.batch(t, bs[1].ID)
	assert.Equal(t, migration.PhasePlanned, ahead.Phase, "%+v", res)
	assert.Equal(t, migration.PhasePlanned, ahead.History[len(ahead.History)-1].To)
	assert.Equal(t, migration.PhaseRotationOff, ahead.History[len(ahead.History)-1].From)
	for _, k := range keys {
		le, _, err := runstate.GetJSON[migration.LedgerEntry](ctx, e.store, k)
		require.NoError(t, err)
		if le.BatchID == ahead.ID {
			assert.False(t, le.Off(), "%s still off after the window closed", k)
		}
	}
	tasks, err := e.tasks.ListTasks(ctx, laneHZ)
	require.NoError(t, err)
	assert.Len(t, tasks, 1, "only the first batch's task")

	// The next window: everything ends as it should.
	e.st.KMS.StallTasks(false)
	e.drive(t, e.engine(e.store, migration.Config{}), 60)
	e.checkOneTaskPerBatch(t)
	e.checkHistories(t)
	e.checkNoRotationLeftOff(t)
	e.checkLaneOrder(t)
}

// stopAtRestored is an Invoker that records the chained invocations and,
// when rotate chains migrate because a batch's rotation is back, cancels
// the restore's context: the batch stays rotation-restored, unverified.
type stopAtRestored struct {
	cancel context.CancelFunc
	calls  []string
}

func (s *stopAtRestored) InvokeAsync(_ context.Context, function string, _ []byte, taskID string) error {
	s.calls = append(s.calls, function+" "+taskID)
	if strings.Contains(taskID, "restored_") && s.cancel != nil {
		s.cancel()
	}
	return nil
}

// A lane's batch after the running one is prepared once the batch before
// the running one has its rotation back, without waiting for that batch's
// verification, but not before; a poll then waits for the running task
// although the lane's lowest unfinished batch is not in flight, and a
// batch with nothing to switch off counts as proven when an earlier batch
// of the lane proved that KMS accepts rotation changes during a task.
func TestPipeliningPreparesWhileTheBatchBehindIsVerified(t *testing.T) {
	e := pipelineEnv(t, false, migration.Config{PollWait: 5 * time.Second})
	ctx := t.Context()
	bs := e.laneBatches()
	require.GreaterOrEqual(t, len(bs), 4)
	e.rotatingSecond(t)
	inv := &stopAtRestored{}
	eng := e.engine(e.store, migration.Config{PollWait: 5 * time.Second, Functions: migration.Functions{Migrate: "migrate", Rotate: "rotate"}})
	eng.Invoker = inv

	// b1 runs, b2 is prepared ahead of it (proven: it has rotation on).
	e.st.KMS.StallTasks(true)
	_, err := eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	noWait := e.engine(e.store, migration.Config{})
	noWait.Invoker = inv
	_, err = noWait.PollLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseRotationOff, e.batch(t, bs[1].ID).Phase)
	require.Equal(t, migration.AheadProven, e.batch(t, bs[1].ID).Ahead)

	// b1's task ends: b2 is submitted (its task held running); b1 is
	// completed, its rotation not yet back.
	b2 := e.batch(t, bs[1].ID)
	e.st.KMS.StallTaskWhen(func(_ kmstwin.Lane, keys, secrets []string) bool {
		return slices.Equal(keys, b2.Keys) && slices.Equal(secrets, b2.Secrets)
	})
	e.st.KMS.StallTasks(false)
	_, err = noWait.PollLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseCompleted, e.batch(t, bs[0].ID).Phase)
	require.NotEmpty(t, e.batch(t, bs[1].ID).TaskID)
	_, err = noWait.PollLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseRunning, e.batch(t, bs[1].ID).Phase)
	assert.False(t, e.started(t, bs[2].ID) && e.batch(t, bs[2].ID).Phase != migration.PhasePlanned,
		"b3 prepared while b1's rotation is still off: rotation off two batches ahead")

	// b1's rotation comes back; its verification is cut short.
	rctx, cancel := context.WithCancel(ctx)
	inv.cancel = cancel
	_, err = eng.Restore(rctx, runID, bs[0].ID)
	require.ErrorIs(t, err, context.Canceled)
	inv.cancel = nil
	b1 := e.batch(t, bs[0].ID)
	require.Equal(t, migration.PhaseRotationRestored, b1.Phase, "the test needs b1 restored and unverified")
	assert.Contains(t, strings.Join(inv.calls, "\n"), "migrate kmsmig_"+runID, "rotate did not chain migrate once b1's rotation was back")

	// migrate (chained) prepares b3 ahead of b2 while b1 is verified.
	_, err = eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	b3 := e.batch(t, bs[2].ID)
	require.Equal(t, migration.PhaseRotationOff, b3.Phase, "b3 not prepared ahead of b2 while b1 is only being verified")
	assert.Equal(t, migration.AheadProven, b3.Ahead, "an earlier batch of the lane proved KMS accepts rotation changes during a task")
	assert.Equal(t, migration.PhaseRotationRestored, e.batch(t, bs[0].ID).Phase)
	assert.False(t, e.started(t, bs[3].ID), "rotation must not go off two batches ahead of the running task")

	// b2's task ends while a poll waits for it, although the lane's lowest
	// unfinished batch (b1) has no task in flight; b3 goes at once.
	go func() {
		time.Sleep(300 * time.Millisecond)
		e.st.KMS.StallTasks(false)
	}()
	_, err = eng.PollLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	assert.Equal(t, migration.PhaseCompleted, e.batch(t, bs[1].ID).Phase, "the poll did not wait for b2's task")
	assert.NotEmpty(t, e.batch(t, bs[2].ID).TaskID, "b3 not submitted when b2's task ended")

	e.drivePipelined(t, noWait, 60)
	e.checkOneTaskPerBatch(t)
	e.checkHistories(t)
	e.checkNoRotationLeftOff(t)
	e.checkLaneOrder(t)
}

// A batch whose task has ended and whose chained rotate never came (lost,
// failed for good, or never sent by a step cut short) is handed to rotate
// again by the lane's poll once it has waited restoreAgainAfter, with a
// task id that changes only every such period: its rotation comes back
// without waiting for the daily sweep.
func TestPollChainsRotateAgainForAnEndedBatchLeftWaiting(t *testing.T) {
	e := pipelineEnv(t, false, migration.Config{})
	ctx := t.Context()
	bs := e.laneBatches()
	inv := &stopAtRestored{}
	eng := e.engine(e.store, migration.Config{Functions: migration.Functions{Migrate: "migrate", Rotate: "rotate"}})
	eng.Invoker = inv
	_, err := eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	for i := 0; e.batch(t, bs[0].ID).Phase != migration.PhaseCompleted; i++ {
		require.Less(t, i, 20, "b1 did not complete")
		_, err = eng.PollLane(ctx, runID, laneHZ)
		require.NoError(t, err)
	}
	again := func() []string {
		var out []string
		for _, c := range inv.calls {
			if strings.HasPrefix(c, "rotate ") && strings.Contains(c, "restore_again_") {
				out = append(out, c)
			}
		}
		return out
	}
	require.Contains(t, strings.Join(inv.calls, "\n"), "rotate ", "the task's end chains rotate (lost here: the invoker only records)")
	_, err = eng.PollLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	assert.Empty(t, again(), "a batch that just ended waits for its chained rotate")

	e.clock.Advance(4 * time.Minute)
	_, err = eng.PollLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	require.Len(t, again(), 1, "poll hands the waiting batch to rotate again")
	_, err = eng.PollLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	calls := again()
	require.Len(t, calls, 2)
	assert.Equal(t, calls[0], calls[1], "within one period every poll asks with the same task id: FC takes it once")

	// The rotate it asks for gives the rotation back.
	_, err = eng.Restore(ctx, runID, bs[0].ID)
	require.NoError(t, err)
	b1 := e.batch(t, bs[0].ID)
	assert.True(t, b1.Finished())
	e.clock.Advance(4 * time.Minute)
	_, err = eng.PollLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	assert.Len(t, again(), 2, "a finished batch is not handed to rotate again")
}

// One poll of a lane follows its tasks in one wait (Config.PollWait): the
// batch submitted when the first task ended is awaited too, in what is
// left of it, rather than left to the next poll (a short last batch
// idled its instance until then, up to the poll period).
func TestPollAwaitsTheNextTaskOfTheLaneInTheSameWait(t *testing.T) {
	cfg := migration.Config{PollWait: 20 * time.Second}
	e := newEnv(t, envOptions{lanes: []estate.Lane{laneHZ}, config: cfg,
		planSettings: &plan.Settings{MaxKeys: 1, MaxSecrets: 1},
		// A task of two resources runs 34 simulated seconds: 170 ms.
		stack: stack.Options{Unthrottled: true, Timing: kmstwin.TaskTiming{Speed: 200}}})
	ctx := t.Context()
	e.rotatingSecond(t) // proven ahead: submitted as the first task ends
	bs := e.laneBatches()
	require.GreaterOrEqual(t, len(bs), 2)
	res, err := e.eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseSubmitted, res.Phase, "%+v", res)
	// The first poll may see the task Pending, before it runs: the batch
	// after it is prepared once it is seen Running.
	for range 20 {
		_, err = e.eng.PollLane(ctx, runID, laneHZ)
		require.NoError(t, err)
		if e.started(t, bs[1].ID) && e.batch(t, bs[1].ID).TaskID != "" {
			break
		}
	}
	b2 := e.batch(t, bs[1].ID)
	require.NotEmpty(t, b2.TaskID, "the batch after the first was not submitted when its task ended")
	assert.True(t, b2.Phase.Ended() || b2.Phase == migration.PhaseCompleted,
		"%s is %s: the poll that submitted it did not wait for its task", b2.ID, b2.Phase)
}
