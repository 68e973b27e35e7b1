package migration_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/testinfra/stack"
)

var (
	laneHZ = estate.Lane{Account: "1111000011110001", Region: "cn-hangzhou"}
	laneSH = estate.Lane{Account: "1111000011110001", Region: "cn-shanghai"}
	laneB  = estate.Lane{Account: "2222000022220002", Region: "cn-hangzhou"}
)

// The demo resources that cannot move whatever the engine does: their
// names clash in the shared instance. Classification blocks both copies of
// shared/dup-name, so only a plan made without it lists it.
var permanent = map[string]string{
	"app/existing-name": "SecretNameExistsInInstance",
	"shared/dup-name":   "DuplicateSecretName",
}

// checkMigrated: every resource of every batch either shows its batch's
// instance id in KMS, or failed with a permanent reason and was reported.
func (e *env) checkMigrated(t *testing.T) (migrated, failed int) {
	t.Helper()
	ctx := t.Context()
	for _, lp := range e.planOf(t).Lanes {
		for _, b := range lp.Batches {
			s := e.batch(t, b.ID)
			require.True(t, s.Finished(), "%s is %s", b.ID, s.Phase)
			for _, o := range s.Resources {
				var inst string
				if o.Kind == migration.KindKey {
					k, err := e.kms.Key(ctx, b.Lane, o.ID)
					require.NoError(t, err)
					inst = k.InstanceID
				} else {
					sec, err := e.kms.Secret(ctx, b.Lane, estate.Secret{Name: o.ID})
					require.NoError(t, err)
					inst = sec.InstanceID
				}
				switch o.Result {
				case migration.ResultMigrated:
					migrated++
					assert.Equal(t, b.InstanceID, inst, "%s %s", b.ID, o.ID)
				default:
					failed++
					if o.RetryBatch == "" {
						assert.False(t, o.Retryable, "%s %s: a retryable failure must be retried or exhausted", b.ID, o.ID)
						assert.Empty(t, inst, "%s %s failed for good but shows an instance", b.ID, o.ID)
					}
				}
			}
		}
	}
	return migrated, failed
}

// planned counts the resources of the initial plan, and those whose names
// clash in the shared instance (which no engine can move).
func (e *env) planned() (all, clashing int) {
	for _, lp := range e.plan.Lanes {
		for _, b := range lp.Batches {
			all += len(b.Keys) + len(b.Secrets)
			for _, n := range b.Secrets {
				if _, ok := permanent[n]; ok {
					clashing++
				}
			}
		}
	}
	return all, clashing
}

func TestFullRunMigratesAndRestoresRotation(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}})
	ctx := t.Context()
	require.Len(t, e.lanes, 3)
	p := e.drive(t, e.eng, 40)
	assert.Equal(t, 4, p.Batches)

	migrated, failed := e.checkMigrated(t)
	planned, clashing := e.planned()
	assert.Equal(t, planned-clashing, migrated)
	assert.Equal(t, clashing, failed)
	for _, id := range []string{"1111000011110001/cn-hangzhou/b0001", "2222000022220002/cn-hangzhou/b0001"} {
		s := e.batch(t, id)
		assert.Equal(t, migration.PhaseVerified, s.Phase)
		assert.Empty(t, s.Problems)
		for _, o := range s.Resources {
			if want, ok := permanent[o.ID]; ok {
				assert.Equal(t, migration.ResultFailed, o.Result, o.ID)
				assert.Equal(t, want, o.ReasonCode, o.ID)
				assert.NotEmpty(t, migration.Classify(o.ReasonCode).Remediation)
			}
		}
	}
	// Two rotating resources of the demo went through the ledger.
	assert.Equal(t, 2, e.ledgerCount(t))
	e.checkOneTaskPerBatch(t)
	e.checkNoRotationLeftOff(t)

	acts := e.audit.actions()
	for _, a := range []string{"Transition", "DisableRotation", "RestoreRotation", "SubmitTask", "CreateTask", "DescribeTask", "ResourceResult", "LedgerCreate", "Verify"} {
		assert.Positive(t, acts[a], "audit action %s", a)
	}
	for _, r := range e.audit.find("ResourceResult", "") {
		assert.Equal(t, runID, r.RunID)
		assert.NotEmpty(t, r.BatchID)
		assert.NotEmpty(t, r.TaskID, "%+v", r)
		assert.NotEmpty(t, r.ResourceID)
	}

	// Once finished, every step is a no-op.
	for _, id := range []string{"1111000011110001/cn-hangzhou/b0001"} {
		for _, step := range []func() (migration.StepResult, error){
			func() (migration.StepResult, error) { return e.eng.Disable(ctx, runID, id) },
			func() (migration.StepResult, error) { return e.eng.Submit(ctx, runID, id) },
			func() (migration.StepResult, error) { return e.eng.Poll(ctx, runID, id) },
			func() (migration.StepResult, error) { return e.eng.Restore(ctx, runID, id) },
		} {
			res, err := step()
			require.NoError(t, err)
			assert.Equal(t, migration.OutcomeUnchanged, res.Outcome, "%+v", res)
		}
	}
}
