package migration_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/approval"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// countingStore counts reads of the run's plan and inventory.
type countingStore struct {
	runstate.Store
	plans, inventories, batches atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, key string) (runstate.Object, error) {
	switch key {
	case statekeys.Plan(runID):
		s.plans.Add(1)
	case statekeys.Inventory(runID):
		s.inventories.Add(1)
	}
	if strings.HasPrefix(key, statekeys.BatchPrefix(runID)) {
		s.batches.Add(1)
	}
	return s.Store.Get(ctx, key)
}

// A step over every lane reads the run's plan, and its inventory, at most
// once, not once per lane: a thousand lanes stepping at once each held its
// own copy of a plan of 15,000 resources (800 MB in one poll invocation)
// and of the inventory (over 5 GB in one migrate invocation).
func TestStepOverEveryLaneReadsThePlanOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	require.Greater(t, len(e.lanes), 1, "the demo plan has several lanes")
	store := &countingStore{Store: e.store}
	eng := e.engine(store, e.eng.Config)
	// Before any batch has begun, a poll of every lane reads no batch
	// state: one listing shows none has begun.
	_, err := eng.PollRun(t.Context(), runID)
	require.NoError(t, err)
	require.Zero(t, store.batches.Load(), "batch states read by a poll before any lane began")
	gated := e.engine(store, e.eng.Config)
	gated.Approvals = approval.Gate{Store: store} // reads the plan too
	for _, step := range []struct {
		name string
		run  func() error
	}{
		{"migrate awaiting approval", func() error { _, err := gated.Migrate(t.Context(), runID); return err }},
		{"migrate", func() error { _, err := eng.Migrate(t.Context(), runID); return err }},
		{"poll", func() error { _, err := eng.PollRun(t.Context(), runID); return err }},
		{"migrate again", func() error { _, err := eng.Migrate(t.Context(), runID); return err }},
	} {
		store.plans.Store(0)
		store.inventories.Store(0)
		require.NoError(t, step.run(), step.name)
		require.EqualValues(t, 1, store.plans.Load(), "%s over %d lanes: plan reads", step.name, len(e.lanes))
		require.LessOrEqual(t, store.inventories.Load(), int64(1), "%s over %d lanes: inventory reads", step.name, len(e.lanes))
	}
}
