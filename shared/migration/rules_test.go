package migration_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/verdict"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// An instance that is no longer Connected when the window opens fails its
// batches for good, before any rotation is switched off: no task, no
// rotation change, nothing retried (the provider would refuse the task).
func TestInstanceNotConnectedFailsBatchWithoutRotationChanges(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}})
	const in = "kst-hzdemo01" // the target of both cn-hangzhou lanes
	require.NoError(t, e.st.KMS.SetInstanceStatus(in, "Disconnected"))
	before := e.st.KMS.CallCounts()

	e.drive(t, e.eng, 20)
	after := e.st.KMS.CallCounts()
	failedBatches := 0
	for _, lp := range e.planOf(t).Lanes {
		for _, b := range lp.Batches {
			if b.InstanceID != in {
				continue
			}
			s := e.batch(t, b.ID)
			require.Equal(t, migration.PhaseFailed, s.Phase, b.ID)
			assert.Equal(t, migration.ReasonInstanceState, s.Reason, b.ID)
			assert.Contains(t, s.Message, "not-connected")
			assert.Contains(t, s.Message, "no rotation was switched off")
			for _, o := range s.Resources {
				assert.False(t, o.Retryable, "%s %s", b.ID, o.ID)
				assert.Empty(t, o.RetryBatch, "%s %s", b.ID, o.ID)
			}
			failedBatches++
		}
	}
	require.Positive(t, failedBatches)
	assert.False(t, migration.Classify(migration.ReasonInstanceState).Retryable, "the provider's refusal is permanent too")
	// Only the lanes of other instances migrated: every task and rotation
	// change is theirs.
	for _, tk := range e.st.KMS.TaskLog() {
		assert.NotEqual(t, in, tk.InstanceID, "no task for the disconnected instance")
	}
	// The demo's two rotating resources live in lanes of that instance.
	assert.Zero(t, e.ledgerCount(t), "no ledger entry: rotation never went off")
	assert.Equal(t, before["UpdateRotationPolicy"], after["UpdateRotationPolicy"])
	assert.Equal(t, before["UpdateSecretRotationPolicy"], after["UpdateSecretRotationPolicy"])
	e.checkNoRotationLeftOff(t)
}

// Verification compares what a migration must preserve with the
// inventory; a provider that changes one is caught, naming the field, the
// expected and the found value.
func TestVerifyCatchesFieldsTheMigrationChanged(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}})
	require.NoError(t, e.st.KMS.AlterOnMigration(plainKey, kmstwin.FieldKeySpec, "Aliyun_SM4"))
	require.NoError(t, e.st.KMS.AlterOnMigration(signerKey, kmstwin.FieldKeyUsage, "ENCRYPT/DECRYPT"))
	require.NoError(t, e.st.KMS.AlterOnMigration(cmkKey, kmstwin.FieldProtectionLevel, "HSM"))
	require.NoError(t, e.st.KMS.AlterOnMigration("app/db-password", kmstwin.FieldStageLabel, "ACSLost"))
	require.NoError(t, e.st.KMS.AlterOnMigration("ram/ci-user", kmstwin.FieldSecretType, "Generic"))
	e.drive(t, e.eng, 40)

	var problems []string
	for _, lp := range e.planOf(t).Lanes {
		for _, b := range lp.Batches {
			problems = append(problems, e.batch(t, b.ID).Problems...)
		}
	}
	want := []string{
		"key " + plainKey + `: key spec changed: expected "Aliyun_AES_256" (inventory), found "Aliyun_SM4"`,
		"key " + signerKey + `: key usage changed: expected "SIGN/VERIFY" (inventory), found "ENCRYPT/DECRYPT"`,
		"key " + cmkKey + `: protection level changed: expected "SOFTWARE" (inventory), found "HSM"`,
		`secret app/db-password: stage labels changed: expected ["ACSCurrent"] (inventory), found ["ACSLost"]`,
		`secret ram/ci-user: secret type changed: expected "RAMCredentials" (inventory), found "Generic"`,
	}
	assert.ElementsMatch(t, want, problems)
}

// The run report says that default policies now apply to what migrated,
// and lists the service keys, to be checked under Default Keys.
func TestReportSaysDefaultPoliciesAndListsServiceKeys(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	const serviceKey = "a1000001-0000-4000-8000-000000000004" // alias/acs/oss, created by Oss

	r, err := e.eng.BuildReport(t.Context(), runID)
	require.NoError(t, err)
	assert.Zero(t, r.After.Migrated)
	assert.Empty(t, r.After.DefaultPolicies, "nothing migrated yet: nothing to say about policies")
	assert.Contains(t, string(r.Markdown()), "Nothing migrated yet")

	e.drive(t, e.eng, 40)
	r, err = e.eng.WriteReport(t.Context(), runID)
	require.NoError(t, err)
	assert.Positive(t, r.After.Migrated)
	assert.Equal(t, migration.DefaultPoliciesNote, r.After.DefaultPolicies)
	var ids []string
	for _, k := range r.After.ServiceKeys {
		ids = append(ids, k.ID)
		assert.NotEmpty(t, k.Aliases, k.ID)
	}
	assert.Contains(t, ids, serviceKey)
	md := string(r.Markdown())
	assert.Contains(t, md, "## After migration")
	assert.Contains(t, md, "Default key and secret policies now apply")
	assert.Contains(t, md, "Default Keys")
	assert.Contains(t, md, "| "+laneHZ.String()+" | "+serviceKey+" | alias/acs/oss | Oss |")

	// BuildReport, run after every invocation, reads no inventory.
	r, err = e.eng.BuildReport(t.Context(), runID)
	require.NoError(t, err)
	assert.Nil(t, r.After.ServiceKeys)
	assert.Equal(t, migration.DefaultPoliciesNote, r.After.DefaultPolicies)

	// Without an inventory the written report says where to look instead.
	require.NoError(t, e.store.Delete(t.Context(), statekeys.Inventory(runID), ""))
	r, err = e.eng.WriteReport(t.Context(), runID)
	require.NoError(t, err)
	assert.True(t, r.After.InventoryMissing)
	assert.Contains(t, string(r.Markdown()), "the run has no inventory")
}

// A run planned with a total limit migrates against a provider that reads
// the limit the console's way: no task carries more keys and secrets than
// the total, and none is refused for its size.
func TestBatchTotalHoldsAgainstTheConsolesReading(t *testing.T) {
	const total = 3
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true, TaskTotal: total}})
	ctx := t.Context()
	inv, _, err := runstate.GetJSON[estate.Inventory](ctx, e.store, statekeys.Inventory(runID))
	require.NoError(t, err)
	vs, err := verdict.Classify(inv, verdict.DefaultSettings())
	require.NoError(t, err)
	s := plan.DefaultSettings()
	s.MaxResources = total
	p, err := plan.New(vs, s)
	require.NoError(t, err)
	_, err = runstate.MutateJSON(ctx, e.store, statekeys.Plan(runID), func(x *plan.Plan, _ bool) error { *x = *p; return nil })
	require.NoError(t, err)

	e.drive(t, e.eng, 80)
	tasks := e.st.KMS.TaskLog()
	require.NotEmpty(t, tasks)
	for _, tk := range tasks {
		assert.LessOrEqual(t, len(tk.Keys)+len(tk.Secrets), total, tk.ID)
	}
	r, err := e.eng.BuildReport(ctx, runID)
	require.NoError(t, err)
	assert.True(t, r.Done)
	for _, f := range r.Failures {
		assert.NotEqual(t, "Rejected.LimitExceeded", f.ReasonCode, f.ID)
	}
	assert.Positive(t, r.After.Migrated)
}
