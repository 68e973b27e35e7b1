package migration_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/testinfra/stack"
)

// fakeLanes are n lanes of one account that no plan knows.
func fakeLanes(n int) []estate.Lane {
	var lanes []estate.Lane
	for i := range n {
		lanes = append(lanes, estate.Lane{Account: "1111", Region: "cn-r" + string(rune('a'+i))})
	}
	return lanes
}

// A step works on at most Config.ParallelLanes lanes at once, and still
// on every lane it is given, each once.
func TestEachLaneIsBoundedByThePool(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}})
	eng := e.engine(e.store, migration.Config{ParallelLanes: 2})
	lanes := fakeLanes(9)
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

// A step whose lane budget is spent starts no further lane, and cuts the
// lanes still at work at the budget's end: the lanes left or cut are
// reported waiting, for the next step, not failed (a poll group of a
// hundred lanes that ran out of time failed, and was retried to the same
// end, at 1,000 lanes).
func TestEachLaneLeavesLanesOnceTheBudgetIsSpent(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}})
	eng := e.engine(e.store, migration.Config{ParallelLanes: 1})
	lanes := fakeLanes(5)
	var stepped []estate.Lane
	step := func(ctx context.Context, _ string, l estate.Lane) (migration.StepResult, error) {
		stepped = append(stepped, l)
		return migration.StepResult{Outcome: migration.OutcomeUpdated}, nil
	}
	later := time.Now().Add(time.Hour)
	results, err := eng.EachLane(migration.WithLaneBudget(t.Context(), later, later), runID, lanes, step)
	require.NoError(t, err)
	assert.Len(t, stepped, 5, "a budget not spent leaves nothing")
	assert.Len(t, results, 5)

	stepped = nil
	past := time.Now().Add(-time.Second)
	results, err = eng.EachLane(migration.WithLaneBudget(t.Context(), past, later), runID, lanes, step)
	require.NoError(t, err, "lanes left are not a failure")
	assert.Empty(t, stepped)
	require.Len(t, results, 5)
	for i, r := range results {
		assert.Equal(t, migration.OutcomeWaiting, r.Outcome)
		assert.Contains(t, r.Reason, "lane "+lanes[i].String()+" left for the next step")
	}

	// Spent while the first lane runs, which the budget's end cuts: that
	// lane is cut (its error dropped), the others are left.
	stepped = nil
	startBy := time.Now().Add(time.Second) // a loaded machine may take a while to start the first lane
	results, err = eng.EachLane(migration.WithLaneBudget(t.Context(), startBy, startBy.Add(100*time.Millisecond)), runID, lanes,
		func(ctx context.Context, _ string, l estate.Lane) (migration.StepResult, error) {
			stepped = append(stepped, l)
			<-ctx.Done()
			return migration.StepResult{Step: "poll", BatchID: "b"}, fmt.Errorf("poll: %w", ctx.Err())
		})
	require.NoError(t, err, "a lane cut by the budget is not a failure")
	assert.Equal(t, lanes[:1], stepped)
	require.Len(t, results, 5)
	assert.Equal(t, migration.OutcomeWaiting, results[0].Outcome)
	assert.Contains(t, results[0].Reason, "cut short for the next step")
	assert.Equal(t, "b", results[0].BatchID, "the cut lane's result keeps what it says")
	assert.Contains(t, results[4].Reason, "left for the next step")

	// An error of its own, before the cut, is still the lane's error.
	_, err = eng.EachLane(migration.WithLaneBudget(t.Context(), later, later), runID, lanes[:1],
		func(context.Context, string, estate.Lane) (migration.StepResult, error) {
			return migration.StepResult{}, errors.New("refused")
		})
	require.ErrorContains(t, err, "refused")
}

// A poll whose lane budget is spent polls nothing and fails nothing.
func TestPollLanesWithTheBudgetSpent(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}})
	ctx := t.Context()
	_, err := e.eng.Migrate(ctx, runID)
	require.NoError(t, err)
	before := e.st.KMS.CallCounts()["DescribeMigrationTask"]
	past := time.Now().Add(-time.Second)
	results, err := e.eng.PollLanes(migration.WithLaneBudget(ctx, past, past), runID, e.lanes)
	require.NoError(t, err)
	require.Len(t, results, len(e.lanes))
	for _, r := range results {
		assert.Equal(t, migration.OutcomeWaiting, r.Outcome, r.Reason)
	}
	assert.Equal(t, before, e.st.KMS.CallCounts()["DescribeMigrationTask"], "no task was polled")
	results, err = e.eng.PollLanes(ctx, runID, e.lanes)
	require.NoError(t, err)
	assert.Greater(t, e.st.KMS.CallCounts()["DescribeMigrationTask"], before, "the next poll polls them")
	assert.NotEmpty(t, results)
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
