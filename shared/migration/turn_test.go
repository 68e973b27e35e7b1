package migration_test

import (
	"sync"
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

// turnEnv is the demo's two cn-hangzhou lanes, which share instance
// kst-hzdemo01, in batches of one key and one secret.
func turnEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := newEnv(t, envOptions{lanes: []estate.Lane{laneHZ, laneB}, planSettings: &plan.Settings{MaxKeys: 1, MaxSecrets: 1}, stack: stack.Options{Unthrottled: true}})
	inst := map[estate.Lane]string{}
	for _, lp := range e.plan.Lanes {
		for _, b := range lp.Batches {
			inst[lp.Lane] = b.InstanceID
		}
	}
	require.NotEmpty(t, inst[laneHZ])
	require.Equal(t, inst[laneHZ], inst[laneB], "the test needs two lanes sharing an instance")
	return e, inst[laneHZ]
}

// prepared returns the batches of the run on instance id that are
// prepared and wait for it: rotation off and no task.
func (e *env) prepared(t *testing.T, id string) []string {
	t.Helper()
	var out []string
	for _, lp := range e.plan.Lanes {
		for _, b := range lp.Batches {
			if b.InstanceID != id || !e.started(t, b.ID) {
				continue
			}
			s := e.batch(t, b.ID)
			if s.Phase == migration.PhaseRotationOff || s.Phase == migration.PhaseSubmitting && s.TaskID == "" {
				out = append(out, b.ID)
			}
		}
	}
	return out
}

// Rotation goes off for one batch ahead of an instance's task, whatever
// lane it comes from: while one lane's task runs, the other lane's batch
// and the running lane's next one do not both switch rotation off. The
// instance still passes from lane to lane, and the run ends with every
// resource moved and every rotation back. Before the turn, every lane of
// a shared instance prepared its next batch and waited: 99 batches with
// rotation off on a generated directory of 99 lanes.
func TestOneBatchIsPreparedPerInstanceAcrossLanes(t *testing.T) {
	e, inst := turnEnv(t)
	ctx := t.Context()
	eng := e.engine(e.store, migration.Config{})
	most := 0
	check := func(what string) {
		t.Helper()
		p := e.prepared(t, inst)
		most = max(most, len(p))
		require.LessOrEqual(t, len(p), 1, "after %s, batches prepared for %s at once: %v", what, inst, p)
	}
	for round := range 80 {
		e.st.KMS.StallTasks(true)
		for _, l := range []estate.Lane{laneHZ, laneB} {
			_, err := eng.MigrateLane(ctx, runID, l)
			require.NoError(t, err)
			check("migrate " + l.String())
		}
		for _, l := range []estate.Lane{laneB, laneHZ} {
			_, err := eng.PollLane(ctx, runID, l)
			require.NoError(t, err)
			check("poll " + l.String())
		}
		e.st.KMS.StallTasks(false)
		_, err := eng.PollRun(ctx, runID)
		require.NoError(t, err)
		check("poll")
		_, _, err = eng.RotateRun(ctx, runID)
		require.NoError(t, err)
		check("rotate")
		p, err := eng.Status(ctx, runID)
		require.NoError(t, err)
		if p.Done() {
			t.Logf("done after %d rounds", round+1)
			break
		}
		require.Less(t, round, 79, "run not done: %v", p.Active)
	}
	assert.Equal(t, 1, most, "no batch was ever prepared ahead of a task")
	e.checkMigrated(t)
	e.checkOneTaskPerBatch(t)
	e.checkHistories(t)
	e.checkNoRotationLeftOff(t)
}

// Lanes that prepare at once for one instance: one takes its turn and
// switches rotation off, the others wait (and say why), without a task
// running: a turn is taken by compare-and-swap, not by timing.
func TestTheInstanceTurnIsTakenByOneLaneAtOnce(t *testing.T) {
	e, inst := turnEnv(t)
	ctx := t.Context()
	first := map[estate.Lane]string{}
	for _, lp := range e.plan.Lanes {
		for _, b := range lp.Batches {
			if b.Seq == 1 {
				first[lp.Lane] = b.ID
			}
		}
	}
	var wg sync.WaitGroup
	results := map[estate.Lane]migration.StepResult{}
	var mu sync.Mutex
	for _, l := range []estate.Lane{laneHZ, laneB} {
		wg.Go(func() {
			res, err := e.engine(e.store, migration.Config{}).Disable(ctx, runID, first[l])
			assert.NoError(t, err)
			mu.Lock()
			results[l] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	require.Len(t, e.prepared(t, inst), 1, "%+v", results)
	var waiting migration.StepResult
	for _, r := range results {
		if r.Phase == migration.PhasePlanned {
			waiting = r
		}
	}
	assert.Equal(t, migration.OutcomeWaiting, waiting.Outcome, "%+v", results)
	assert.Contains(t, waiting.Reason, "waits for instance "+inst)
	assert.True(t, e.batch(t, waiting.BatchID).TurnWait, "the waiting batch does not say so: no poll would retry it")
	assert.Zero(t, e.ledgerCountOf(t, waiting.BatchID), "the waiting batch switched rotation off")

	// Poll retries it once the batch that holds the turn has its task.
	eng := e.engine(e.store, migration.Config{})
	for range 20 {
		_, err := eng.PollRun(ctx, runID)
		require.NoError(t, err)
		_, err = eng.Migrate(ctx, runID)
		require.NoError(t, err)
		if e.batch(t, waiting.BatchID).Phase != migration.PhasePlanned {
			break
		}
	}
	assert.NotEqual(t, migration.PhasePlanned, e.batch(t, waiting.BatchID).Phase, "the waiting batch never took its turn")
	assert.False(t, e.batch(t, waiting.BatchID).TurnWait)
}

// A holder that stopped before switching rotation off (still planned)
// keeps the turn for a while, then anyone may take it.
func TestAnAbandonedTurnIsTakenOver(t *testing.T) {
	e, inst := turnEnv(t)
	ctx := t.Context()
	var hz, b string
	for _, lp := range e.plan.Lanes {
		for _, bt := range lp.Batches {
			if bt.Seq == 1 && lp.Lane == laneHZ {
				hz = bt.ID
			} else if bt.Seq == 1 {
				b = bt.ID
			}
		}
	}
	// hz takes the turn and crashes before writing its transition.
	_, err := e.engine(&crashStore{Store: e.store, n: 3}, migration.Config{}).Disable(ctx, runID, hz)
	require.Error(t, err)
	require.Equal(t, migration.PhasePlanned, e.batch(t, hz).Phase)
	eng := e.engine(e.store, migration.Config{})
	res, err := eng.Disable(ctx, runID, b)
	require.NoError(t, err)
	require.Equal(t, migration.PhasePlanned, res.Phase, "took the turn of a holder that may still be preparing: %+v", res)
	assert.Contains(t, res.Reason, "batch "+hz)
	e.clock.Advance(11 * time.Minute)
	res, err = eng.Disable(ctx, runID, b)
	require.NoError(t, err)
	assert.Equal(t, migration.PhaseRotationOff, res.Phase, "%+v", res)
	assert.Equal(t, []string{b}, e.prepared(t, inst))
}

// ledgerCountOf returns how many ledger entries batch id holds.
func (e *env) ledgerCountOf(t *testing.T, id string) int {
	t.Helper()
	keys, err := e.store.List(t.Context(), statekeys.LedgerPrefix)
	require.NoError(t, err)
	n := 0
	for _, k := range keys {
		le, _, err := runstate.GetJSON[migration.LedgerEntry](t.Context(), e.store, k)
		require.NoError(t, err)
		if le.HeldBy(runID, id) {
			n++
		}
	}
	return n
}

// The poll that hands the instance to another lane's batch (its task
// ended) waits for that batch's task too, in what is left of its wait:
// nobody else waits for it before the next poll, and a short task ended
// long before (handovers of 40 s in the 60x window rehearsal).
func TestPollFollowsTheTaskItHandsTheInstanceTo(t *testing.T) {
	cfg := migration.Config{PollWait: 20 * time.Second}
	e := newEnv(t, envOptions{lanes: []estate.Lane{laneHZ, laneB}, config: cfg, planSettings: &plan.Settings{MaxKeys: 1, MaxSecrets: 1},
		// A task of two resources runs 34 simulated seconds: 170 ms.
		stack: stack.Options{Unthrottled: true, Timing: kmstwin.TaskTiming{Speed: 200}}})
	ctx := t.Context()
	res, err := e.eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	require.NotEmpty(t, res.TaskID, "%+v", res)
	res, err = e.eng.MigrateLane(ctx, runID, laneB)
	require.NoError(t, err)
	require.Empty(t, res.TaskID, "the busy instance took lane B's task: %+v", res)
	bID := res.BatchID
	require.Equal(t, migration.PhaseSubmitting, e.batch(t, bID).Phase, "lane B's batch is not prepared for the instance")

	_, err = e.eng.PollLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	b := e.batch(t, bID)
	require.NotEmpty(t, b.TaskID, "the end of lane A's task did not hand the instance to lane B")
	assert.True(t, b.Phase.Ended(), "%s is %s: the poll that submitted it did not wait for its task", b.ID, b.Phase)
}
