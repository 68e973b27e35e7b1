package migration_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/testinfra/stack"
)

// While a run is paused migrate switches nothing off and submits nothing;
// a batch whose rotation is already off gives it back. Resumed, it goes on.
func TestPauseAndResume(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	res, err := e.eng.Disable(ctx, runID, hzB1)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseRotationOff, res.Phase)

	changed, err := e.eng.Pause(ctx, runID, true, "ops@example.com", "change freeze")
	require.NoError(t, err)
	assert.True(t, changed)
	changed, err = e.eng.Pause(ctx, runID, true, "ops@example.com", "again")
	require.NoError(t, err)
	assert.False(t, changed, "already paused: nothing written")

	res, err = e.eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	assert.Equal(t, migration.OutcomeWaiting, res.Outcome)
	assert.Equal(t, migration.PhasePlanned, res.Phase, "rotation given back while paused")
	assert.False(t, e.rotationOff(t, laneHZ, "key:"+rotatingKey))
	res, err = e.eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	assert.Equal(t, "the run is paused", res.Reason)
	assert.Equal(t, migration.PhasePlanned, res.Phase, "nothing switched off while paused")
	tasks, err := e.tasks.ListTasks(ctx, laneHZ)
	require.NoError(t, err)
	assert.Empty(t, tasks, "nothing submitted while paused")

	changed, err = e.eng.Pause(ctx, runID, false, "ops@example.com", "freeze over")
	require.NoError(t, err)
	assert.True(t, changed)
	e.drive(t, e.eng, 40)
	e.checkNoRotationLeftOff(t)
	e.checkHistories(t)
	c, err := e.eng.Controls(ctx, runID)
	require.NoError(t, err)
	require.Len(t, c.Events, 2)
	assert.Equal(t, "pause", c.Events[0].Action)
	assert.Equal(t, "change freeze", c.Events[0].Reason)
	assert.Len(t, e.audit.find("Control", "pause"), 1)
	assert.Len(t, e.audit.find("Control", "resume"), 1)
}

// The operator's abort refuses what it cannot do, naming it, and writes
// nothing then.
func TestAbortBatchRefusals(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	before := func() []string {
		keys, err := e.store.List(ctx, "")
		require.NoError(t, err)
		return keys
	}()
	_, err := e.eng.AbortBatch(ctx, "run-nope", hzB1, "ops", "")
	assert.ErrorIs(t, err, migration.ErrUnknownRun)
	_, err = e.eng.AbortBatch(ctx, runID, "1111000011110001/cn-hangzhou/b0099", "ops", "")
	assert.ErrorIs(t, err, migration.ErrUnknownBatch)
	_, err = e.eng.AbortBatch(ctx, runID, hzB1, "ops", "")
	assert.ErrorIs(t, err, migration.ErrNoState)
	_, err = e.eng.Pause(ctx, "run-nope", true, "ops", "")
	assert.ErrorIs(t, err, migration.ErrUnknownRun)
	after, err := e.store.List(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, before, after, "a refused control writes nothing")

	// A batch in flight is aborted; once ended it cannot be aborted again.
	res, err := e.eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseSubmitted, res.Phase)
	res, err = e.eng.AbortBatch(ctx, runID, hzB1, "ops@example.com", "stalled")
	require.NoError(t, err)
	assert.Equal(t, migration.PhaseFailed, res.Phase)
	assert.Equal(t, migration.ReasonAborted, e.batch(t, hzB1).Reason)
	ctl, _, err := runstate.GetJSON[migration.Control](ctx, e.store, statekeys.Control(runID))
	require.NoError(t, err)
	require.Len(t, ctl.Events, 1)
	assert.Equal(t, hzB1, ctl.Events[0].BatchID)
	_, err = e.eng.AbortBatch(ctx, runID, hzB1, "ops", "")
	assert.ErrorIs(t, err, migration.ErrBatchEnded)
	for range 20 {
		if _, _, err := e.eng.RotateRun(ctx, runID); err != nil {
			require.NoError(t, err)
		}
		if e.finished(t, hzB1) {
			break
		}
	}
	e.checkNoRotationLeftOff(t)
}
