package migration_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/approval"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/testinfra/stack"
)

// Under the approval gate a run whose plan is not approved has nothing
// switched off and nothing submitted (a batch already off gives its
// rotation back); once its digest is approved, it goes on.
func TestApprovalGate(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	// discover stores the plan with its digest.
	var digest string
	_, err := runstate.MutateJSON(ctx, e.store, statekeys.Plan(runID), func(p *plan.Plan, _ bool) error {
		p.Digest = approval.Digest(p, nil)
		digest = p.Digest
		return nil
	})
	require.NoError(t, err)

	res, err := e.eng.Disable(ctx, runID, hzB1)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseRotationOff, res.Phase)

	e.eng.Approvals = approval.Gate{Store: e.store}
	res, err = e.eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	assert.Equal(t, migration.OutcomeWaiting, res.Outcome)
	assert.Equal(t, migration.PhasePlanned, res.Phase, "rotation given back while awaiting approval")
	assert.False(t, e.rotationOff(t, laneHZ, "key:"+rotatingKey))
	res, err = e.eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	assert.Contains(t, res.Reason, "awaiting approval: run kmsmig approve --run "+runID)
	assert.Equal(t, migration.PhasePlanned, res.Phase, "nothing switched off without approval")
	tasks, err := e.tasks.ListTasks(ctx, laneHZ)
	require.NoError(t, err)
	assert.Empty(t, tasks, "nothing submitted without approval")

	// An approval of another digest admits nothing.
	_, err = runstate.MutateJSON(ctx, e.store, statekeys.Approval(runID), func(a *approval.Approval, _ bool) error {
		*a = approval.Approval{RunID: runID, Digest: "v1:stale", At: time.Now()}
		return nil
	})
	require.NoError(t, err)
	res, err = e.eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	assert.Contains(t, res.Reason, "changed since")
	assert.Equal(t, migration.PhasePlanned, res.Phase)

	_, changed, err := approval.Approve(ctx, e.store, runID, digest, approval.Identity{AccountID: "1111000011110001"}, time.Now())
	require.NoError(t, err)
	require.True(t, changed)
	e.drive(t, e.eng, 40)
	e.checkNoRotationLeftOff(t)
	e.checkHistories(t)
	tasks, err = e.tasks.ListTasks(ctx, laneHZ)
	require.NoError(t, err)
	assert.NotEmpty(t, tasks, "approved: the batches were submitted")
}

// Window use counts from the first batch that left planned for work, not
// from when the batches became planned: the hours a plan waits for its
// window or its approval are the schedule's and the approver's.
func TestWindowUseCountsFromTheFirstWork(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	var digest string
	_, err := runstate.MutateJSON(ctx, e.store, statekeys.Plan(runID), func(p *plan.Plan, _ bool) error {
		p.Digest = approval.Digest(p, nil)
		digest = p.Digest
		return nil
	})
	require.NoError(t, err)
	e.eng.Approvals = approval.Gate{Store: e.store}
	res, err := e.eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	require.Equal(t, migration.PhasePlanned, res.Phase, "awaiting approval")

	const wait = 3 * time.Hour
	e.clock.Advance(wait)
	_, _, err = approval.Approve(ctx, e.store, runID, digest, approval.Identity{AccountID: "1111000011110001"}, e.clock.Now())
	require.NoError(t, err)
	e.drive(t, e.eng, 40)

	r, err := e.eng.BuildReport(ctx, runID)
	require.NoError(t, err)
	require.True(t, r.Done)
	require.GreaterOrEqual(t, r.Ended.Sub(r.Started), wait, "the timeline starts when the batches became planned")
	assert.Positive(t, r.Window.RunSeconds)
	assert.Less(t, r.Window.RunSeconds, wait.Seconds(), "the wait for approval is not the run's")
}
