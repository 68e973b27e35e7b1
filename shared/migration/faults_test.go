package migration_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	"github.com/kmsmig/kmsmig/twin/acs"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

const (
	rotatingKey = "a1000001-0000-4000-8000-000000000002"
	cmkKey      = "a1000001-0000-4000-8000-000000000008"
)

// Throttling below the client's own limits, and 20% of every call failing
// with a transient error: the run still completes, one task per batch.
func TestRunCompletesUnderThrottlingAndTransientErrors(t *testing.T) {
	e := newEnv(t, envOptions{
		stack: stack.Options{Unthrottled: true},
		// Well below the client's own limits, so the twin throttles and
		// the adapter backs off even on a loaded machine (at 30 qps a
		// loaded CI machine once sent too slowly to be throttled; at 15,
		// with three CPU hogs and three copies at once, 19-26 calls were).
		qps:          map[string]float64{kmstwin.GroupKeyMetadata: 15, kmstwin.GroupSecretMetadata: 15, kmstwin.GroupMigration: 5},
		faults:       acs.Faults{ErrorRate: 0.2, Seed: 42},
		clientQuotas: map[kms.Group]float64{kms.GroupKeyRead: 100, kms.GroupSecretRead: 100, kms.GroupMigration: 20},
		config:       sequential,
	})
	e.drive(t, e.engine(e.store, sequential), 60)
	migrated, failed := e.checkMigrated(t)
	planned, clashing := e.planned()
	assert.Equal(t, planned-clashing, migrated)
	assert.Equal(t, clashing, failed)
	e.checkOneTaskPerBatch(t)
	e.checkNoRotationLeftOff(t)
	e.checkHistories(t)
	assert.Positive(t, e.kms.Stats().Retried.Load(), "the faults must have forced retries")
	assert.Positive(t, e.kms.Stats().Throttled.Load(), "the quotas must have throttled")
	assert.Positive(t, e.st.KMS.CallCounts()["CreateMigrationTask"])
}

// A resource that fails inside every task is retried in later batches up
// to MaxAttempts, then reported; its rotation is restored after each
// attempt and at the end.
func TestFailingResourceIsRetriedThenReported(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	e.st.KMS.FailResource(rotatingKey, "")
	e.drive(t, e.engine(e.store, sequential), 40)

	p := e.planOf(t)
	require.Len(t, p.Lanes, 1)
	var attempts []string
	for _, b := range p.Lanes[0].Batches {
		s := e.batch(t, b.ID)
		for _, o := range s.Resources {
			if o.ID == rotatingKey {
				attempts = append(attempts, b.ID+" "+o.ReasonCode)
				assert.Equal(t, migration.ResultFailed, o.Result)
			}
		}
	}
	assert.Equal(t, []string{
		"1111000011110001/cn-hangzhou/b0001 InjectedFailure",
		"1111000011110001/cn-hangzhou/b0003 InjectedFailure",
		"1111000011110001/cn-hangzhou/b0004 " + migration.ReasonAttemptsExhausted,
	}, attempts)
	last := e.batch(t, "1111000011110001/cn-hangzhou/b0004")
	assert.Equal(t, 3, last.Attempt)
	assert.Equal(t, "1111000011110001/cn-hangzhou/b0003", last.RetryOf)
	assert.NotEmpty(t, e.audit.find("ReportFailure", "failed"))
	le := e.ledger(t, laneHZ, migration.KindKey, rotatingKey)
	assert.Equal(t, 3, le.SwitchedOff, "switched off once per attempt, restored after each")
	assert.Equal(t, migration.LedgerVerified, le.Status)
	e.checkMigrated(t)
	e.checkOneTaskPerBatch(t)
	e.checkNoRotationLeftOff(t)
	e.checkHistories(t)

	// The report tells the story.
	r, err := e.eng.WriteReport(t.Context(), runID)
	require.NoError(t, err)
	assert.True(t, r.Done)
	require.Len(t, r.Lanes, 1)
	assert.Equal(t, 4, r.Lanes[0].Batches)
	assert.Equal(t, 4, r.Lanes[0].Tasks)
	assert.Equal(t, 7, r.Lanes[0].Migrated)
	assert.Equal(t, 2, r.Lanes[0].Retried)
	assert.Equal(t, 2, r.Lanes[0].Failed) // the exhausted key and the name taken in the instance
	var exhausted *migration.Failure
	for i, f := range r.Failures {
		if f.ReasonCode == migration.ReasonAttemptsExhausted {
			exhausted = &r.Failures[i]
		}
	}
	require.NotNil(t, exhausted)
	assert.Equal(t, rotatingKey, exhausted.ID)
	assert.NotEmpty(t, exhausted.Remediation)
	assert.Equal(t, migration.LedgerView{Entries: 2, Verified: 2}, migration.LedgerView{Entries: r.Ledger.Entries, Verified: r.Ledger.Verified})
	assert.NotEmpty(t, r.Timeline)
	assert.GreaterOrEqual(t, r.Window.Utilisation, 0.0)
	jk, mk := statekeys.RunReport(runID)
	md, err := e.store.Get(t.Context(), mk)
	require.NoError(t, err)
	assert.Contains(t, string(md.Data), migration.ReasonAttemptsExhausted)
	assert.Contains(t, string(md.Data), "Window utilisation")
	back, _, err := runstate.GetJSON[migration.Report](t.Context(), e.store, jk)
	require.NoError(t, err)
	assert.Equal(t, len(r.Timeline), len(back.Timeline))
}

// A resource that fails once and then succeeds migrates in its retry batch;
// the secret under a CMK that failed waits for it and follows.
func TestRetrySucceeds(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	e.st.KMS.FailResource(cmkKey, "")
	eng := e.engine(e.store, sequential)
	for range 10 {
		_, err := eng.Step(ctx, runID)
		require.NoError(t, err)
		if e.batch(t, "1111000011110001/cn-hangzhou/b0001").Phase == migration.PhaseVerified {
			break
		}
	}
	e.st.KMS.FailResource(cmkKey, "") // clears the fault
	e.drive(t, eng, 40)
	migrated, failed := e.checkMigrated(t)
	assert.Equal(t, 8, migrated) // with the CMK and app/api-token on their second attempt
	assert.Equal(t, 3, failed)   // the CMK's and api-token's first attempts, and the name taken in the instance (shared/dup-name is blocked, not planned)
	k, err := e.kms.Key(ctx, laneHZ, cmkKey)
	require.NoError(t, err)
	assert.Equal(t, "kst-hzdemo01", k.InstanceID)
	e.checkOneTaskPerBatch(t)
	e.checkNoRotationLeftOff(t)
	e.checkHistories(t)
}

// While a task runs, KMS refuses rotation changes on its resources. An
// aborted batch (after a stall alert) keeps its ledger entries off, retries
// the restore on every call, and restores them once the task has ended.
func TestRotationRefusedDuringRunningTaskIsRetried(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	const id = "1111000011110001/cn-hangzhou/b0001"
	e.st.KMS.StallTasks(true)
	res, err := e.eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseSubmitted, res.Phase)
	res, err = e.eng.Poll(ctx, runID, id)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseRunning, res.Phase)
	require.False(t, res.Stalled)

	// No progress for longer than StallAfter: flagged once, for the alert.
	e.clock.Advance(time.Hour)
	res, err = e.eng.Poll(ctx, runID, id)
	require.NoError(t, err)
	assert.True(t, res.Stalled)
	require.Len(t, e.audit.find("TaskStalled", "alert"), 1)

	// Restoring a batch in flight is not allowed.
	res, err = e.eng.Restore(ctx, runID, id)
	require.NoError(t, err)
	assert.Equal(t, migration.OutcomeWaiting, res.Outcome)

	// The operator aborts it; rotation changes are refused while the task
	// runs, so the entries stay off and the restore is retried.
	_, err = e.eng.Abort(ctx, runID, id, "stalled task")
	require.NoError(t, err)
	for range 2 {
		res, err = e.eng.Restore(ctx, runID, id)
		require.NoError(t, err)
		assert.Equal(t, migration.OutcomeDeferred, res.Outcome)
		assert.Len(t, res.Pending, 2)
		sw, err := e.eng.Sweep(ctx)
		require.NoError(t, err)
		assert.Len(t, sw.Pending, 2)
	}
	le := e.ledger(t, laneHZ, migration.KindKey, rotatingKey)
	assert.True(t, le.Off())
	assert.Contains(t, le.LastError, "MigrationInProgress")
	assert.NotEmpty(t, e.audit.find("RestoreRotation", "refused"))

	// The task ends: the next restore succeeds and verification reports
	// what the task moved although the batch was aborted.
	e.st.KMS.StallTasks(false)
	res, err = e.eng.Restore(ctx, runID, id)
	require.NoError(t, err)
	assert.Equal(t, migration.OutcomeUpdated, res.Outcome)
	s := e.batch(t, id)
	assert.True(t, s.Finished())
	assert.Equal(t, migration.ReasonAborted, s.Reason)
	assert.NotEmpty(t, s.Problems)
	e.checkNoRotationLeftOff(t)
	e.checkHistories(t)
	e.checkOneTaskPerBatch(t)
}

// Sweep gives back a rotation whose batch is gone (its state lost).
func TestSweepRestoresOrphanedEntries(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	const id = "1111000011110001/cn-hangzhou/b0001"
	res, err := e.eng.Disable(ctx, runID, id)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseRotationOff, res.Phase)
	sw, err := e.eng.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, sw.Held, "a batch in progress keeps its rotation off")
	assert.Empty(t, sw.Restored)

	e.checkHistories(t)
	require.NoError(t, e.store.Delete(ctx, statekeys.Batch(runID, id), ""))
	sw, err = e.eng.Sweep(ctx)
	require.NoError(t, err)
	assert.Len(t, sw.Restored, 2)
	assert.NotEmpty(t, e.audit.find("Sweep", "alert"))
	e.checkNoRotationLeftOff(t)
}

// Outside the window nothing is switched off; a window too short for the
// batch's estimate gives rotation back and waits.
func TestWindow(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	const id = "1111000011110001/cn-hangzhou/b0001"
	now := e.clock.Now()

	closed := e.engine(e.store, migration.Config{Window: migration.Window{Start: now.Add(time.Hour), End: now.Add(2 * time.Hour)}})
	res, err := closed.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	assert.Equal(t, migration.OutcomeOutsideWindow, res.Outcome)
	assert.Contains(t, res.Reason, "window opens")
	assert.Zero(t, e.ledgerCount(t), "nothing switched off outside the window")

	// Prepared inside the window, but the window shrank below the
	// estimate (9 resources × 10 s) before submission.
	_, err = e.eng.Disable(ctx, runID, id)
	require.NoError(t, err)
	short := e.engine(e.store, migration.Config{Window: migration.Window{End: now.Add(30 * time.Second)}})
	res, err = short.Submit(ctx, runID, id)
	require.NoError(t, err)
	assert.Equal(t, migration.OutcomeOutsideWindow, res.Outcome)
	assert.Contains(t, res.Reason, "would end after the window closes")
	assert.Equal(t, migration.PhasePlanned, e.batch(t, id).Phase)
	e.checkNoRotationLeftOff(t)
	e.checkHistories(t)

	// An automatic task is scheduled for the window's start.
	auto := e.engine(e.store, migration.Config{Automatic: true, Window: migration.Window{Start: now.Add(time.Hour), End: now.Add(3 * time.Hour)}})
	res, err = auto.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	assert.Equal(t, migration.PhaseScheduled, res.Phase)
	tasks, err := e.tasks.ListTasks(ctx, laneHZ)
	require.NoError(t, err)
	require.Len(t, tasks, 1)
	assert.Equal(t, kmstwin.TaskScheduled, tasks[0].Status)
	res, err = auto.Poll(ctx, runID, id)
	require.NoError(t, err)
	assert.Equal(t, migration.PhaseScheduled, res.Phase)
	e.checkHistories(t)
}
