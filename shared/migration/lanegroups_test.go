package migration_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/testinfra/stack"
)

// A step works on at most Config.ParallelLanes lanes at once, and still
// on every lane it is given, each once.
func TestEachLaneIsBoundedByThePool(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}})
	eng := e.engine(e.store, migration.Config{ParallelLanes: 2})
	var lanes []estate.Lane
	for i := range 9 {
		lanes = append(lanes, estate.Lane{Account: "1111", Region: "cn-r" + string(rune('a'+i))})
	}
	var now, most atomic.Int64
	var mu sync.Mutex
	seen := map[estate.Lane]int{}
	release := make(chan struct{})
	go func() {
		for range len(lanes) {
			release <- struct{}{}
		}
	}()
	_, err := eng.EachLane(t.Context(), runID, lanes, func(ctx context.Context, _ string, l estate.Lane) (migration.StepResult, error) {
		n := now.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		mu.Lock()
		seen[l]++
		mu.Unlock()
		now.Add(-1)
		return migration.StepResult{Outcome: migration.OutcomeUnchanged}, nil
	})
	require.NoError(t, err)
	assert.LessOrEqual(t, most.Load(), int64(2), "lanes at once")
	assert.Len(t, seen, len(lanes))
	for l, n := range seen {
		assert.Equal(t, 1, n, "lane %s stepped %d times", l, n)
	}
}

// Overlapping group steps (a fanned-out tick's groups, a group retried by
// Function Compute, the next tick's coordinator stepping the same lanes)
// migrate and poll the same lanes at once: every batch still gets exactly
// one task, and every rotation switched off comes back.
func TestOverlappingLaneGroupsOneTaskPerBatch(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}})
	require.GreaterOrEqual(t, len(e.lanes), 2, "the demo plan has several lanes")
	ctx := t.Context()
	half := len(e.lanes)/2 + 1
	groups := [][]estate.Lane{e.lanes[:half], e.lanes[half-1:], e.lanes, e.lanes[:1]}
	for round := 0; ; round++ {
		require.Less(t, round, 40, "the run did not finish")
		var wg sync.WaitGroup
		for i, g := range groups {
			for _, step := range []string{"migrate", "poll"} {
				wg.Go(func() {
					eng := e.engine(e.store, migration.Config{ParallelLanes: 1 + i%2})
					if step == "migrate" {
						_, _ = eng.MigrateLanes(ctx, runID, g)
					} else {
						_, _ = eng.PollLanes(ctx, runID, g)
					}
				})
			}
		}
		wg.Wait()
		_, _, err := e.eng.RotateRun(ctx, runID)
		require.NoError(t, err)
		p, err := e.eng.Status(ctx, runID)
		require.NoError(t, err)
		if p.Done() {
			break
		}
	}
	e.checkMigrated(t)
	e.checkOneTaskPerBatch(t)
	e.checkNoRotationLeftOff(t)
	e.checkHistories(t)
}
