package migration_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/discover"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/verdict"
	"github.com/kmsmig/kmsmig/testinfra/stack"
)

const night2 = "run-night2"

var thirtyDays = estate.Rotation{Enabled: true, Interval: 30 * 24 * time.Hour}

// nextNight discovers and plans run id as the nightly discover would: the
// resources earlier runs hold in flight are left out. It keeps the lanes
// of the first run's plan, then makes the run current.
func (e *env) nextNight(t *testing.T, id string) plan.Plan {
	t.Helper()
	ctx := t.Context()
	var accounts []string
	for _, a := range e.st.Ready().Accounts {
		accounts = append(accounts, a.ID)
	}
	inv, err := discover.Run(ctx, e.kms, discover.Options{RunID: id, Accounts: accounts, SeedRegion: "cn-hangzhou",
		Now: func() time.Time { return time.Now().UTC() }})
	require.NoError(t, err)
	vs, err := verdict.Classify(*inv, verdict.DefaultSettings())
	require.NoError(t, err)
	held, err := e.eng.Held(ctx, id)
	require.NoError(t, err)
	p, err := plan.New(vs, plan.DefaultSettings(), held...)
	require.NoError(t, err)
	var keep []plan.LanePlan
	for _, lp := range p.Lanes {
		for _, l := range e.lanes {
			if lp.Lane == l {
				keep = append(keep, lp)
			}
		}
	}
	p.Lanes = keep
	for key, v := range map[string]any{statekeys.Inventory(id): inv, statekeys.Plan(id): p} {
		_, err := runstate.MutateJSON(ctx, e.store, key, func(x *any, _ bool) error { *x = v; return nil })
		require.NoError(t, err)
	}
	require.NoError(t, e.eng.OpenRun(ctx, id, e.clock.Now()))
	return *p
}

// finished reports whether batch id of the first run has finished.
func (e *env) finished(t *testing.T, id string) bool {
	s := e.batch(t, id)
	return s.Finished()
}

// count returns how many audit records of action and outcome name the
// resource id.
func (e *env) count(action, outcome, id string) int {
	n := 0
	for _, r := range e.audit.find(action, outcome) {
		if r.ResourceID == id {
			n++
		}
	}
	return n
}

// A task still running when the next night's discover makes a new run
// current: the earlier run's batch is followed to its end, the new run
// leaves its resources out and waits for the lane, and rotation comes back
// exactly once, as recorded on the first night.
func TestRotationComesBackOnceAcrossNights(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	require.NoError(t, e.eng.OpenRun(ctx, runID, e.clock.Now()))
	e.st.KMS.StallTasks(true)
	res, err := e.eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseSubmitted, res.Phase)
	assert.True(t, e.rotationOff(t, laneHZ, "key:"+rotatingKey))

	// Night 2: discover plans a new run while the task stalls.
	e.clock.Advance(24 * time.Hour)
	p2 := e.nextNight(t, night2)
	var excluded []plan.Exclusion
	for _, lp := range p2.Lanes {
		excluded = append(excluded, lp.Excluded...)
	}
	assert.Contains(t, excluded, plan.Exclusion{Resource: verdict.ResourceKey, ID: rotatingKey, Reason: plan.InFlightInEarlierRun,
		Detail: "Batch " + hzB1 + " of run " + runID + " is migrating it into kst-hzdemo01 now; the first discover after that batch ends plans it again if it did not move."})
	runs, err := e.eng.ActiveRuns(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{runID, night2}, runs)

	// The new run waits for the lane: one active task per lane across runs.
	res, err = e.eng.MigrateLane(ctx, night2, laneHZ)
	require.NoError(t, err)
	assert.Equal(t, migration.OutcomeWaiting, res.Outcome)
	assert.Contains(t, res.Reason, "of run "+runID)

	// The task ends; the earlier run is followed to its end.
	e.st.KMS.StallTasks(false)
	for range 20 {
		if _, err := e.eng.PollRun(ctx, runID); err != nil {
			require.NoError(t, err)
		}
		if _, _, err := e.eng.RotateCampaign(ctx); err != nil {
			require.NoError(t, err)
		}
		if e.finished(t, hzB1) {
			break
		}
	}
	require.True(t, e.finished(t, hzB1))
	le := e.ledger(t, laneHZ, migration.KindKey, rotatingKey)
	assert.Equal(t, thirtyDays, le.Original, "the policy recorded on the first night")
	assert.Equal(t, 1, le.SwitchedOff)
	assert.Equal(t, 1, e.count("LedgerCreate", "created", rotatingKey))
	assert.Equal(t, 1, e.count("RestoreRotation", "updated", rotatingKey), "rotation comes back exactly once")
	k, err := e.kms.Key(ctx, laneHZ, rotatingKey)
	require.NoError(t, err)
	assert.Equal(t, thirtyDays, k.Rotation)

	// The new run then finishes the lane; the first run closes.
	for range 40 {
		p, err := e.eng.Step(ctx, night2)
		require.NoError(t, err)
		if p.Done() {
			break
		}
	}
	c, _, err := runstate.GetJSON[migration.Campaign](ctx, e.store, statekeys.Campaign)
	require.NoError(t, err)
	require.Len(t, c.Runs, 2)
	assert.True(t, c.Runs[0].Closed, "the first run holds nothing any more")
	runs, err = e.eng.ActiveRuns(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{night2}, runs)
	e.checkNoRotationLeftOff(t)
	assert.Equal(t, 1, e.count("RestoreRotation", "updated", rotatingKey), "the key moved on the first night; never switched off again")
}

// An owner who re-enables rotation (or changes its interval) while kmsmig
// holds it off has the last word: the restore leaves their policy, marks
// the entry superseded and says so.
func TestOwnerChangeIsNeverOverwritten(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	require.NoError(t, e.eng.OpenRun(ctx, runID, e.clock.Now()))
	res, err := e.eng.Disable(ctx, runID, hzB1)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseRotationOff, res.Phase)

	weekly := estate.Rotation{Enabled: true, Interval: 7 * 24 * time.Hour}
	require.NoError(t, e.kms.SetKeyRotation(ctx, laneHZ, rotatingKey, weekly), "the owner's change")
	_, err = e.eng.Abort(ctx, runID, hzB1, "operator")
	require.NoError(t, err)
	res, err = e.eng.Restore(ctx, runID, hzB1)
	require.NoError(t, err)
	require.Len(t, res.Superseded, 1)
	assert.Contains(t, res.Superseded[0], rotatingKey)

	k, err := e.kms.Key(ctx, laneHZ, rotatingKey)
	require.NoError(t, err)
	assert.Equal(t, weekly, k.Rotation, "the owner's policy stands")
	le := e.ledger(t, laneHZ, migration.KindKey, rotatingKey)
	assert.Equal(t, migration.LedgerSuperseded, le.Status)
	require.NotNil(t, le.Found)
	assert.Equal(t, weekly, *le.Found)
	assert.Equal(t, thirtyDays, le.Original)
	superseded := e.audit.find("RestoreRotation", "superseded")
	require.Len(t, superseded, 1)
	assert.Equal(t, migration.ReasonOwnerChanged, superseded[0].ReasonCode)
	assert.Zero(t, e.count("RestoreRotation", "updated", rotatingKey))
	assert.True(t, e.finished(t, hzB1), "verification accepts the owner's policy")

	// A later switch-off records the owner's policy afresh.
	le2 := e.ledger(t, laneHZ, migration.KindKey, rotatingKey)
	assert.False(t, le2.Off())
}

// A batch of an earlier run that switched rotation off but never reached
// its task is retired when a new run becomes current: failed, superseded,
// without failing its resources. The new run's migrate gives its rotation
// back before it holds the lane, then records the policy afresh.
func TestEarlierRunsUnsubmittedBatchIsRetired(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	require.NoError(t, e.eng.OpenRun(ctx, runID, e.clock.Now()))
	res, err := e.eng.Disable(ctx, runID, hzB1)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseRotationOff, res.Phase)

	e.clock.Advance(24 * time.Hour)
	e.nextNight(t, night2)
	old := e.batch(t, hzB1)
	assert.Equal(t, migration.PhaseFailed, old.Phase)
	assert.Equal(t, migration.ReasonSuperseded, old.Reason)
	assert.Empty(t, old.Resources, "superseded resources are not failures")

	// The lane waits for the retired batch to give its rotation back.
	res, err = e.eng.Disable(ctx, night2, hzB1)
	require.NoError(t, err)
	assert.Equal(t, migration.OutcomeWaiting, res.Outcome)
	assert.Contains(t, res.Reason, "of run "+runID)

	// migrate settles it first, then prepares the new run's batch.
	res, err = e.eng.MigrateLane(ctx, night2, laneHZ)
	require.NoError(t, err)
	assert.True(t, e.finished(t, hzB1))
	assert.Equal(t, 1, e.count("RestoreRotation", "updated", rotatingKey))
	le := e.ledger(t, laneHZ, migration.KindKey, rotatingKey)
	assert.Equal(t, night2, le.RunID)
	assert.Equal(t, thirtyDays, le.Original)
	assert.Equal(t, 2, le.SwitchedOff)

	for range 40 {
		p, err := e.eng.Step(ctx, night2)
		require.NoError(t, err)
		if p.Done() {
			break
		}
	}
	e.checkNoRotationLeftOff(t)
	assert.Equal(t, 2, e.count("RestoreRotation", "updated", rotatingKey))
	rep, err := e.eng.BuildReport(ctx, runID)
	require.NoError(t, err)
	assert.Empty(t, rep.Failures, "a superseded batch reports no failed resource")
}

// Only the current run starts batches: a migrate chained for an earlier
// run (the restore of one of its batches asks for the lane's next) leaves
// that run's unstarted batches alone, so nothing keeps the run open and
// nothing of it competes with the current run's plan.
func TestOnlyTheCurrentRunStartsBatches(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	require.NoError(t, e.eng.OpenRun(ctx, runID, e.clock.Now()))
	e.clock.Advance(24 * time.Hour)
	e.nextNight(t, night2)

	res, err := e.eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	assert.Equal(t, migration.OutcomeUnchanged, res.Outcome)
	assert.Equal(t, hzB1, res.BatchID)
	assert.Contains(t, res.Reason, "run "+night2+" is current")
	_, _, err = runstate.GetJSON[migration.BatchState](ctx, e.store, statekeys.Batch(runID, hzB1))
	require.ErrorIs(t, err, runstate.ErrNotFound, "the earlier run's batch did not start")
	closed, err := e.eng.CloseRuns(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{runID}, closed, "nothing holds the earlier run open")

	res, err = e.eng.MigrateLane(ctx, night2, laneHZ)
	require.NoError(t, err)
	assert.Equal(t, migration.PhaseSubmitted, res.Phase, "the current run starts its own")
}

// Entries an earlier version kept under the run's own keys are moved into
// the campaign's ledger by the sweep, and restored when their batch is
// gone.
func TestSweepAdoptsTheLegacyLedger(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	require.NoError(t, e.eng.OpenRun(ctx, runID, e.clock.Now()))
	require.NoError(t, e.kms.SetKeyRotation(ctx, laneHZ, rotatingKey, estate.Rotation{}))
	legacy := migration.LedgerEntry{Lane: laneHZ, Kind: migration.KindKey, ID: rotatingKey, Original: thirtyDays,
		BatchID: "1111000011110001/cn-hangzhou/b0009", Status: migration.LedgerOff, SwitchedOff: 1}
	key := statekeys.LegacyLedgerPrefix(runID) + "1111000011110001/cn-hangzhou/key/" + rotatingKey + ".json"
	_, err := runstate.MutateJSON(ctx, e.store, key, func(x *migration.LedgerEntry, _ bool) error { *x = legacy; return nil })
	require.NoError(t, err)

	sw, err := e.eng.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, sw.Adopted)
	assert.Len(t, sw.Restored, 1)
	_, err = e.store.Get(ctx, key)
	assert.ErrorIs(t, err, runstate.ErrNotFound, "moved, not copied")
	le := e.ledger(t, laneHZ, migration.KindKey, rotatingKey)
	assert.Equal(t, runID, le.RunID)
	assert.Equal(t, migration.LedgerRestored, le.Status)
	k, err := e.kms.Key(ctx, laneHZ, rotatingKey)
	require.NoError(t, err)
	assert.Equal(t, thirtyDays, k.Rotation)
}
