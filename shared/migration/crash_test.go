package migration_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/testinfra/stack"
)

var (
	errCrash    = errors.New("injected crash")
	errReadLost = errors.New("injected read failure")
)

// crashStore is a Store that dies at its n-th write: before it (the write
// does not happen) or after it (the write happens, the caller never hears),
// and fails every write after that, like a process that is gone.
type crashStore struct {
	runstate.Store
	mu     sync.Mutex
	n      int // 0: never
	after  bool
	writes int
	// failReads fails that many reads after the crash: the store that
	// lost a write's reply may not answer the re-read either (-1: never
	// answers again).
	failReads int
}

func (c *crashStore) Get(ctx context.Context, key string) (runstate.Object, error) {
	c.mu.Lock()
	fail := c.n > 0 && c.writes >= c.n && c.failReads != 0
	if fail && c.failReads > 0 {
		c.failReads--
	}
	c.mu.Unlock()
	if fail {
		return runstate.Object{}, errReadLost
	}
	return c.Store.Get(ctx, key)
}

func (c *crashStore) write(do func() (runstate.Version, error)) (runstate.Version, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n > 0 && c.writes >= c.n {
		return "", errCrash
	}
	c.writes++
	if c.n > 0 && c.writes == c.n && !c.after {
		return "", errCrash
	}
	v, err := do()
	if err == nil && c.n > 0 && c.writes == c.n {
		return "", errCrash
	}
	return v, err
}

func (c *crashStore) Create(ctx context.Context, key string, data []byte) (runstate.Version, error) {
	return c.write(func() (runstate.Version, error) { return c.Store.Create(ctx, key, data) })
}

func (c *crashStore) Update(ctx context.Context, key string, data []byte, v runstate.Version) (runstate.Version, error) {
	return c.write(func() (runstate.Version, error) { return c.Store.Update(ctx, key, data, v) })
}

func (c *crashStore) Delete(ctx context.Context, key string, v runstate.Version) error {
	_, err := c.write(func() (runstate.Version, error) { return "", c.Store.Delete(ctx, key, v) })
	return err
}

var _ runstate.Store = (*crashStore)(nil)

// sequential is the configuration of a single sequential driver: a
// submission left behind by a crash is recovered at once.
var sequential = migration.Config{SubmitLease: -1}

// runUntilCrash drives eng until it fails or the run is done.
func runUntilCrash(t *testing.T, eng *migration.Engine) error {
	t.Helper()
	for range 30 {
		p, err := eng.Step(t.Context(), runID)
		if err != nil {
			return err
		}
		if p.Done() {
			return nil
		}
	}
	return fmt.Errorf("no progress")
}

// countWrites returns how many writes a clean run of lane makes.
func countWrites(t *testing.T, lanes []estate.Lane) int {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: lanes})
	cs := &crashStore{Store: e.store}
	require.NoError(t, runUntilCrash(t, e.engine(cs, sequential)))
	return cs.writes
}

// A crash at every write of a run — before or after it reaches the store,
// hence between every pair of transitions and between every provider call
// and its record — followed by a restart converges: every batch finished,
// one task per batch, every resource migrated or reported, every rotation
// restored, the ledger complete.
func TestCrashAtEveryWriteConverges(t *testing.T) {
	lanes := []estate.Lane{laneHZ}
	total := countWrites(t, lanes)
	require.Greater(t, total, 10)
	t.Logf("a clean run of %v writes %d times", lanes, total)
	for n := 1; n <= total; n++ {
		for _, after := range []bool{false, true} {
			t.Run(fmt.Sprintf("write %d after %v", n, after), func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: lanes})
				cs := &crashStore{Store: e.store, n: n, after: after}
				err := runUntilCrash(t, e.engine(cs, sequential))
				require.ErrorIs(t, err, errCrash)
				e.drive(t, e.engine(e.store, sequential), 30)
				e.checkMigrated(t)
				e.checkOneTaskPerBatch(t)
				e.checkNoRotationLeftOff(t)
				e.checkHistories(t)
				require.Equal(t, 2, e.ledgerCount(t))
			})
		}
	}
}
