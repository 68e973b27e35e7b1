package migration_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/testinfra/stack"
)

// scriptedTasks reports status instead of a task's own while it is set, so
// that a test can walk the poller through every status the provider may
// report, in any order.
type scriptedTasks struct {
	migration.Tasks
	mu     sync.Mutex
	status string
}

func (s *scriptedTasks) report(status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

func (s *scriptedTasks) DescribeTask(ctx context.Context, l estate.Lane, id string) (migration.Task, error) {
	t, err := s.Tasks.DescribeTask(ctx, l, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && s.status != "" {
		t.Status, t.Results = s.status, nil
	}
	return t, err
}

// scripted returns an engine whose task reads go through a scriptedTasks.
func (e *env) scripted(cfg migration.Config) (*migration.Engine, *scriptedTasks) {
	st := &scriptedTasks{Tasks: e.tasks}
	eng := e.engine(e.store, cfg)
	eng.Tasks = st
	return eng, st
}

// awaitTask waits until the provider reports the batch's task Completed.
func (e *env) awaitTask(t *testing.T, l estate.Lane, batchID string) {
	t.Helper()
	id := e.batch(t, batchID).TaskID
	require.NotEmpty(t, id, batchID)
	require.Eventually(t, func() bool {
		tk, err := e.tasks.DescribeTask(t.Context(), l, id)
		return err == nil && tk.Status == migration.TaskCompleted
	}, 10*time.Second, 5*time.Millisecond, "task %s of %s", id, batchID)
}

// step runs one engine step and checks the phase it leaves the batch in.
func step(t *testing.T, want migration.Phase, f func() (migration.StepResult, error)) {
	t.Helper()
	res, err := f()
	require.NoError(t, err)
	require.Equal(t, want, res.Phase, "%+v", res)
}

// Every change in the transition table is one the engine makes: walked
// through scenarios that together take each of them, the recorded
// histories hold exactly the table's changes (and follow it).
func TestEveryTransitionIsTaken(t *testing.T) {
	const (
		shB1 = "1111000011110001/cn-shanghai/b0001"
		bB1  = "2222000022220002/cn-hangzhou/b0001"
	)
	var mu sync.Mutex
	taken := map[[2]migration.Phase]bool{}
	record := func(e *env, t *testing.T) {
		for k := range e.checkHistories(t) {
			mu.Lock()
			taken[k] = true
			mu.Unlock()
		}
	}
	newEnv := func(t *testing.T) *env { return newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}}) }

	t.Run("scenarios", func(t *testing.T) {
		t.Run("task statuses in every order", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := t.Context()
			eng, script := e.scripted(sequential)
			step(t, migration.PhaseSubmitted, func() (migration.StepResult, error) { return eng.MigrateLane(ctx, runID, laneHZ) })
			for _, s := range []struct {
				status string
				phase  migration.Phase
			}{
				{migration.TaskScheduled, migration.PhaseScheduled},
				{migration.TaskPending, migration.PhaseSubmitted},
				{migration.TaskRunning, migration.PhaseRunning},
				{migration.TaskScheduled, migration.PhaseScheduled},
				{migration.TaskRunning, migration.PhaseRunning},
				{migration.TaskPending, migration.PhaseSubmitted},
				{migration.TaskRunning, migration.PhaseRunning},
			} {
				script.report(s.status)
				step(t, s.phase, func() (migration.StepResult, error) { return eng.Poll(ctx, runID, hzB1) })
			}
			e.awaitTask(t, laneHZ, hzB1)
			script.report("")
			step(t, migration.PhaseCompleted, func() (migration.StepResult, error) { return eng.Poll(ctx, runID, hzB1) })
			step(t, migration.PhaseVerified, func() (migration.StepResult, error) { return eng.Restore(ctx, runID, hzB1) })

			step(t, migration.PhaseSubmitted, func() (migration.StepResult, error) { return eng.MigrateLane(ctx, runID, laneSH) })
			script.report(migration.TaskScheduled)
			step(t, migration.PhaseScheduled, func() (migration.StepResult, error) { return eng.Poll(ctx, runID, shB1) })
			e.awaitTask(t, laneSH, shB1)
			script.report("")
			step(t, migration.PhaseCompleted, func() (migration.StepResult, error) { return eng.Poll(ctx, runID, shB1) })

			step(t, migration.PhaseSubmitted, func() (migration.StepResult, error) { return eng.MigrateLane(ctx, runID, laneB) })
			e.awaitTask(t, laneB, bB1)
			step(t, migration.PhaseCompleted, func() (migration.StepResult, error) { return eng.Poll(ctx, runID, bB1) })
			record(e, t)
		})
		t.Run("given back, aborted before the task", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := t.Context()
			abort := func(id string) (migration.StepResult, error) { return e.eng.Abort(ctx, runID, id, "test") }

			step(t, migration.PhaseRotationOff, func() (migration.StepResult, error) { return e.eng.Disable(ctx, runID, hzB1) })
			short := e.engine(e.store, migration.Config{Window: migration.Window{End: e.clock.Now().Add(30 * time.Second)}})
			step(t, migration.PhasePlanned, func() (migration.StepResult, error) { return short.Submit(ctx, runID, hzB1) })
			step(t, migration.PhaseFailed, func() (migration.StepResult, error) { return abort(hzB1) })

			// Write 1 records the intent, write 2 the task id: crash there.
			step(t, migration.PhaseRotationOff, func() (migration.StepResult, error) { return e.eng.Disable(ctx, runID, shB1) })
			_, err := e.engine(&crashStore{Store: e.store, n: 2}, sequential).Submit(ctx, runID, shB1)
			require.ErrorIs(t, err, errCrash)
			step(t, migration.PhaseFailed, func() (migration.StepResult, error) { return abort(shB1) })

			step(t, migration.PhaseRotationOff, func() (migration.StepResult, error) { return e.eng.Disable(ctx, runID, bB1) })
			step(t, migration.PhaseFailed, func() (migration.StepResult, error) { return abort(bB1) })
			record(e, t)
		})
		t.Run("aborted with a task", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := t.Context()
			abort := func(id string) (migration.StepResult, error) { return e.eng.Abort(ctx, runID, id, "test") }

			auto := e.engine(e.store, migration.Config{Automatic: true})
			step(t, migration.PhaseScheduled, func() (migration.StepResult, error) { return auto.MigrateLane(ctx, runID, laneHZ) })
			step(t, migration.PhaseFailed, func() (migration.StepResult, error) { return abort(hzB1) })

			step(t, migration.PhaseSubmitted, func() (migration.StepResult, error) { return e.eng.MigrateLane(ctx, runID, laneSH) })
			step(t, migration.PhaseFailed, func() (migration.StepResult, error) { return abort(shB1) })

			eng, script := e.scripted(migration.Config{})
			step(t, migration.PhaseSubmitted, func() (migration.StepResult, error) { return eng.MigrateLane(ctx, runID, laneB) })
			script.report(migration.TaskRunning)
			step(t, migration.PhaseRunning, func() (migration.StepResult, error) { return eng.Poll(ctx, runID, bB1) })
			step(t, migration.PhaseFailed, func() (migration.StepResult, error) { return abort(bB1) })
			record(e, t)
		})
		t.Run("observe backend", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := t.Context()
			eng := e.observer(migration.Config{})
			step(t, migration.PhaseAwaitingOperator, func() (migration.StepResult, error) { return eng.MigrateLane(ctx, runID, laneHZ) })
			step(t, migration.PhaseCompleted, func() (migration.StepResult, error) { return eng.EndObservation(ctx, runID, hzB1) })
			step(t, migration.PhaseAwaitingOperator, func() (migration.StepResult, error) { return eng.MigrateLane(ctx, runID, laneSH) })
			step(t, migration.PhaseFailed, func() (migration.StepResult, error) { return eng.Abort(ctx, runID, shB1, "test") })
			record(e, t)
		})
	})

	want := map[[2]migration.Phase]bool{}
	for _, tr := range migration.TransitionTable() {
		want[tr] = true
	}
	assert.Equal(t, want, taken, "the changes the scenarios take are the table's")
}
