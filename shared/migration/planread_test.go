package migration_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// countingStore counts reads of one key.
type countingStore struct {
	runstate.Store
	key   string
	reads atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, key string) (runstate.Object, error) {
	if key == s.key {
		s.reads.Add(1)
	}
	return s.Store.Get(ctx, key)
}

// A step over every lane reads the run's plan once, not once per lane: a
// thousand lanes stepping at once each held its own copy of a plan of
// 15,000 resources (800 MB in one poll invocation).
func TestStepOverEveryLaneReadsThePlanOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	require.Greater(t, len(e.lanes), 1, "the demo plan has several lanes")
	store := &countingStore{Store: e.store, key: statekeys.Plan(runID)}
	eng := e.engine(store, e.eng.Config)
	for _, step := range []struct {
		name string
		run  func() error
	}{
		{"migrate", func() error { _, err := eng.Migrate(t.Context(), runID); return err }},
		{"poll", func() error { _, err := eng.PollRun(t.Context(), runID); return err }},
	} {
		store.reads.Store(0)
		require.NoError(t, step.run(), step.name)
		require.EqualValues(t, 1, store.reads.Load(), "%s over %d lanes: plan reads", step.name, len(e.lanes))
	}
}
