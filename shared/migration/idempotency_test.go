package migration_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/testinfra/stack"
)

// concurrently runs step n times at once, each on its own engine (its own
// function instance), and returns the results.
func concurrently(t *testing.T, e *env, n int, step func(eng *migration.Engine) (migration.StepResult, error)) []migration.StepResult {
	t.Helper()
	out := make([]migration.StepResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i], errs[i] = step(e.engine(e.store, migration.Config{})) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	return out
}

func outcomes(rs []migration.StepResult) map[string]int {
	m := map[string]int{}
	for _, r := range rs {
		m[r.Outcome]++
	}
	return m
}

func TestEveryStepTwiceAndConcurrently(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}})
	ctx := t.Context()
	const id = "1111000011110001/cn-hangzhou/b0001"
	const n = 4

	// Disable: one transition, one ledger entry per rotating resource.
	rs := concurrently(t, e, n, func(eng *migration.Engine) (migration.StepResult, error) { return eng.Disable(ctx, runID, id) })
	assert.Equal(t, map[string]int{migration.OutcomeUpdated: 1, migration.OutcomeUnchanged: n - 1}, outcomes(rs))
	assert.Equal(t, migration.PhaseRotationOff, e.batch(t, id).Phase)
	assert.Len(t, e.audit.find("LedgerCreate", ""), 2)
	res, err := e.eng.Disable(ctx, runID, id)
	require.NoError(t, err)
	assert.Equal(t, migration.OutcomeUnchanged, res.Outcome)

	// Submit: exactly one task; the others stop (busy) or see it done.
	rs = concurrently(t, e, n, func(eng *migration.Engine) (migration.StepResult, error) { return eng.Submit(ctx, runID, id) })
	assert.Equal(t, 1, outcomes(rs)[migration.OutcomeUpdated], "results %+v", rs)
	tasks, err := e.tasks.ListTasks(ctx, laneHZ)
	require.NoError(t, err)
	require.Len(t, tasks, 1)
	s := e.batch(t, id)
	assert.Equal(t, tasks[0].ID, s.TaskID)
	for range 2 {
		res, err = e.eng.Submit(ctx, runID, id)
		require.NoError(t, err)
		assert.Equal(t, migration.OutcomeUnchanged, res.Outcome)
	}

	// Poll until completed, concurrently each round.
	for range 20 {
		concurrently(t, e, n, func(eng *migration.Engine) (migration.StepResult, error) { return eng.Poll(ctx, runID, id) })
		if e.batch(t, id).Phase == migration.PhaseCompleted {
			break
		}
	}
	s = e.batch(t, id)
	require.Equal(t, migration.PhaseCompleted, s.Phase)
	assert.Len(t, e.audit.find("ResourceResult", ""), len(s.Resources), "each resource result recorded once")

	// Restore: verified once.
	rs = concurrently(t, e, n, func(eng *migration.Engine) (migration.StepResult, error) { return eng.Restore(ctx, runID, id) })
	assert.Equal(t, map[string]int{migration.OutcomeUpdated: 1, migration.OutcomeUnchanged: n - 1}, outcomes(rs))
	assert.Equal(t, migration.PhaseVerified, e.batch(t, id).Phase)
	assert.Len(t, e.audit.find("Verify", ""), 1)
	for range 2 {
		res, err = e.eng.Restore(ctx, runID, id)
		require.NoError(t, err)
		assert.Equal(t, migration.OutcomeUnchanged, res.Outcome)
	}

	// The rest of the run, with three engines stepping at once.
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			eng := e.engine(e.store, migration.Config{})
			for range 30 {
				p, err := eng.Step(ctx, runID)
				if err == nil && p.Done() {
					return
				}
			}
		})
	}
	wg.Wait()
	p, err := e.eng.Status(ctx, runID)
	require.NoError(t, err)
	require.True(t, p.Done(), "%v", p.Active)
	e.checkMigrated(t)
	e.checkOneTaskPerBatch(t)
	e.checkNoRotationLeftOff(t)
	e.checkHistories(t)
}
