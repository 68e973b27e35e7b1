package migration_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

const (
	plainKey  = "a1000001-0000-4000-8000-000000000001"
	signerKey = "a1000001-0000-4000-8000-000000000009"
)

func twinLane(l estate.Lane) kmstwin.Lane { return kmstwin.Lane{Account: l.Account, Region: l.Region} }

// resultsByID returns a batch's outcomes by resource id.
func resultsByID(s migration.BatchState) map[string]migration.ResourceOutcome {
	out := map[string]migration.ResourceOutcome{}
	for _, o := range s.Resources {
		out[o.ID] = o
	}
	return out
}

// Between planning and submission, owners schedule one key for deletion,
// disable another and delete a secret. The batch's task leaves the three
// out; each is dropped with its reason (not failed: never retried, not an
// attempt, not a failure in the run report, audited once as dropped), and
// verification does not count them as problems. The rest migrates.
func TestResourcesChangedByOwnersAreDroppedNotFailed(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	b1 := "1111000011110001/cn-hangzhou/b0001"
	res, err := e.eng.Disable(ctx, runID, b1)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseRotationOff, res.Phase)

	hz := twinLane(laneHZ)
	require.NoError(t, e.st.KMS.SetKeyState(hz, plainKey, "PendingDeletion"))
	require.NoError(t, e.st.KMS.SetKeyState(hz, signerKey, "Disabled"))
	require.NoError(t, e.st.KMS.RemoveSecret(hz, "app/db-password"))
	e.drive(t, e.eng, 40)

	s := e.batch(t, b1)
	assert.NotContains(t, s.Keys, plainKey, "left out of the task")
	assert.NotContains(t, s.Keys, signerKey, "left out of the task")
	assert.NotContains(t, s.Secrets, "app/db-password", "left out of the task")
	got := resultsByID(s)
	for id, code := range map[string]string{
		plainKey:          migration.ReasonKeyPendingDeletion,
		signerKey:         migration.ReasonKeyDisabled,
		"app/db-password": migration.ReasonResourceGone,
	} {
		o := got[id]
		assert.Equal(t, migration.ResultDropped, o.Result, id)
		assert.Equal(t, code, o.ReasonCode, id)
		assert.Zero(t, o.Attempt, "%s: never attempted", id)
		assert.Empty(t, o.RetryBatch, "%s: never retried", id)
	}
	assert.Equal(t, migration.ResultMigrated, got[rotatingKey].Result, "the rest migrates")
	for _, p := range s.Problems {
		assert.NotContains(t, p, "app/db-password", "a dropped resource that is gone is not a verification problem")
	}

	// No later batch carries them again.
	for _, lp := range e.planOf(t).Lanes {
		for _, b := range lp.Batches[1:] {
			assert.NotContains(t, b.Keys, plainKey)
			assert.NotContains(t, b.Keys, signerKey)
			assert.NotContains(t, b.Secrets, "app/db-password")
		}
	}

	// One audit record each, as dropped; none as a failure.
	dropped := map[string]int{}
	for _, r := range e.audit.find("ResourceResult", migration.ResultDropped) {
		dropped[r.ResourceID]++
	}
	assert.Equal(t, map[string]int{plainKey: 1, signerKey: 1, "app/db-password": 1}, dropped)
	for _, r := range e.audit.find("ReportFailure", "") {
		assert.NotContains(t, []string{plainKey, signerKey, "app/db-password"}, r.ResourceID)
	}

	// The run report lists them apart from the failures.
	rep, err := e.eng.BuildReport(ctx, runID)
	require.NoError(t, err)
	for _, f := range rep.Failures {
		assert.NotContains(t, []string{plainKey, signerKey, "app/db-password"}, f.ID, "a dropped resource is not a failure")
	}
	require.Len(t, rep.Dropped, 3)
	assert.Equal(t, 3, rep.Lanes[0].Dropped)
	md := string(rep.Markdown())
	assert.Contains(t, md, "## Dropped")
	assert.Contains(t, md, "| "+b1+" | secret app/db-password | "+migration.ReasonResourceGone+" |")
	failures := md[strings.Index(md, "## Failures"):strings.Index(md, "## Dropped")]
	assert.NotContains(t, failures, "app/db-password")
	e.checkNoRotationLeftOff(t)
}

// A batch whose every resource was dropped fails with NothingLeftToMigrate,
// creates no task, and reports no failed resource.
func TestBatchWithEveryResourceDropped(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneSH}})
	ctx := t.Context()
	sh := twinLane(laneSH)
	require.NoError(t, e.st.KMS.RemoveKey(sh, "a1000002-0000-4000-8000-000000000001"))
	require.NoError(t, e.st.KMS.RemoveSecret(sh, "sh/config"))
	e.drive(t, e.eng, 20)

	s := e.batch(t, "1111000011110001/cn-shanghai/b0001")
	assert.Equal(t, migration.PhaseFailed, s.Phase)
	assert.Equal(t, migration.ReasonAllDropped, s.Reason)
	assert.Empty(t, s.TaskID, "no task for nothing")
	require.Len(t, s.Resources, 2)
	for _, o := range s.Resources {
		assert.Equal(t, migration.ResultDropped, o.Result, o.ID)
		assert.Equal(t, migration.ReasonResourceGone, o.ReasonCode, o.ID)
	}
	assert.Empty(t, s.Problems)
	assert.Zero(t, e.st.KMS.CallCounts()["CreateMigrationTask"])
	rep, err := e.eng.BuildReport(ctx, runID)
	require.NoError(t, err)
	assert.Empty(t, rep.Failures)
	assert.Len(t, rep.Dropped, 2)
	assert.Len(t, e.audit.find("ResourceResult", migration.ResultDropped), 2, "audited once each")
	assert.Empty(t, e.audit.find("ResourceResult", migration.ResultFailed))
}

// An owner disables a key after kmsmig switched its rotation off for the
// batch. The key is dropped; its rotation cannot come back while it is
// disabled (only Enabled keys rotate), which does not hold the lane: the
// batch finishes with a verification problem saying so, the sweep keeps
// the entry pending, and gives the policy back once the owner enables the
// key again.
func TestRotationOfAKeyDisabledMeanwhileComesBackWithTheKey(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	b1 := "1111000011110001/cn-hangzhou/b0001"
	_, err := e.eng.Disable(ctx, runID, b1)
	require.NoError(t, err)
	require.True(t, e.rotationOff(t, laneHZ, "key:"+rotatingKey))
	hz := twinLane(laneHZ)
	require.NoError(t, e.st.KMS.SetKeyState(hz, rotatingKey, "Disabled"))
	e.drive(t, e.eng, 40)

	s := e.batch(t, b1)
	assert.Equal(t, migration.PhaseVerified, s.Phase, "the lane is not held by the owner's decision")
	o := resultsByID(s)[rotatingKey]
	assert.Equal(t, migration.ResultDropped, o.Result)
	assert.Equal(t, migration.ReasonKeyDisabled, o.ReasonCode)
	require.Len(t, s.Problems, 1)
	assert.Contains(t, s.Problems[0], "rotation off while the key is Disabled")
	le := e.ledger(t, laneHZ, migration.KindKey, rotatingKey)
	assert.True(t, le.Off())
	assert.NotEmpty(t, e.audit.find("RestoreRotation", "deferred"))

	sw, err := e.eng.Sweep(ctx)
	require.NoError(t, err)
	require.Len(t, sw.Pending, 1, "the sweep keeps trying, and says so")
	assert.Contains(t, sw.Pending[0], "once its owner enables it")

	require.NoError(t, e.st.KMS.SetKeyState(hz, rotatingKey, "Enabled"))
	sw, err = e.eng.Sweep(ctx)
	require.NoError(t, err)
	assert.Empty(t, sw.Pending)
	assert.Len(t, sw.Restored, 1)
	e.checkNoRotationLeftOff(t)
}

// Observe backend: what is gone or scheduled for deletion before the
// handoff is left out of the operator's list; a key its owner disables
// while the operator works is dropped when the observation reads it, and
// does not keep the batch waiting for the timeout.
func TestObserveDropsWhatOwnersChanged(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	e.dropFromPlan(t, "app/existing-name", "shared/dup-name")
	ctx := t.Context()
	eng := e.observer(migration.Config{})
	hz := twinLane(laneHZ)
	require.NoError(t, e.st.KMS.RemoveSecret(hz, "app/db-password"))
	require.NoError(t, e.st.KMS.SetKeyState(hz, plainKey, "PendingDeletion"))

	res, err := eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseAwaitingOperator, res.Phase)
	doc := e.handoff(t, hzB1)
	assert.NotContains(t, doc.KeyIDs, plainKey)
	assert.NotContains(t, doc.SecretNames, "app/db-password")
	assert.Contains(t, doc.KeyIDs, signerKey)

	require.NoError(t, e.st.KMS.SetKeyState(hz, signerKey, "Disabled"))
	e.operate(t, hzB1, nil)
	res, err = eng.Poll(ctx, runID, hzB1)
	require.NoError(t, err)
	assert.Equal(t, migration.PhaseCompleted, res.Phase, "nothing left to wait for: the disabled key is dropped, not unmoved")

	got := resultsByID(e.batch(t, hzB1))
	for id, code := range map[string]string{
		plainKey:          migration.ReasonKeyPendingDeletion,
		signerKey:         migration.ReasonKeyDisabled,
		"app/db-password": migration.ReasonResourceGone,
	} {
		assert.Equal(t, migration.ResultDropped, got[id].Result, id)
		assert.Equal(t, code, got[id].ReasonCode, id)
	}
	assert.Equal(t, migration.ResultMigrated, got[rotatingKey].Result)
	rep, err := eng.BuildReport(ctx, runID)
	require.NoError(t, err)
	for _, f := range rep.Failures {
		assert.NotContains(t, []string{plainKey, signerKey, "app/db-password"}, f.ID)
	}
}
