package migration_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/testinfra/stack"
)

// inFlight wraps the KMS adapter and records how many reads of keys and
// secrets were under way at once (each read is slowed, so that reads that
// could overlap do).
type inFlight struct {
	migration.KMS
	now, most atomic.Int32
	reads     atomic.Int32
}

func (f *inFlight) enter() func() {
	n := f.now.Add(1)
	for {
		m := f.most.Load()
		if n <= m || f.most.CompareAndSwap(m, n) {
			break
		}
	}
	f.reads.Add(1)
	time.Sleep(10 * time.Millisecond)
	return func() { f.now.Add(-1) }
}

func (f *inFlight) Key(ctx context.Context, l estate.Lane, id string) (estate.Key, error) {
	defer f.enter()()
	return f.KMS.Key(ctx, l, id)
}

func (f *inFlight) Secret(ctx context.Context, l estate.Lane, s estate.Secret) (estate.Secret, error) {
	defer f.enter()()
	return f.KMS.Secret(ctx, l, s)
}

// The ended batch's resources are observed, their rotation restored and
// verified several at a time: one after another, a batch of 100 held the
// next task (or the end of the night) for minutes. The outcome is the
// same as one at a time.
func TestEndedBatchIsObservedRestoredAndVerifiedConcurrently(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	b := e.laneBatches()[0]
	require.GreaterOrEqual(t, len(b.Keys)+len(b.Secrets), 4, "the test needs a batch of several resources")

	eng := e.engine(e.store, sequential)
	_, err := eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	f := &inFlight{KMS: e.kms}
	eng.KMS = f
	_, err = eng.Poll(ctx, runID, b.ID)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseCompleted, e.batch(t, b.ID).Phase)
	assert.Greater(t, f.most.Load(), int32(1), "the ended batch's resources were observed one at a time")

	f.most.Store(0)
	res, err := eng.Restore(ctx, runID, b.ID)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseVerified, res.Phase, "%+v", res)
	assert.Greater(t, f.reads.Load(), int32(2*(len(b.Keys)+len(b.Secrets))), "restore and verification read every resource")
	assert.Greater(t, f.most.Load(), int32(1), "restore and verification read one resource at a time")
	assert.Empty(t, e.batch(t, b.ID).Problems)

	e.drive(t, eng, 40)
	e.checkOneTaskPerBatch(t)
	e.checkHistories(t)
	e.checkNoRotationLeftOff(t)
}

// A batch is prepared (rotation switched off, ledger entries) several
// resources at a time, and the run's outcome is as one at a time.
func TestBatchIsPreparedConcurrently(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	b := e.laneBatches()[0]
	require.GreaterOrEqual(t, len(b.Keys)+len(b.Secrets), 4, "the test needs a batch of several resources")
	eng := e.engine(e.store, sequential)
	f := &inFlight{KMS: e.kms}
	eng.KMS = f
	res, err := eng.Disable(ctx, runID, b.ID)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseRotationOff, res.Phase, "%+v", res)
	assert.Greater(t, f.most.Load(), int32(1), "the batch's resources were prepared one at a time")
	e.drive(t, eng, 40)
	e.checkOneTaskPerBatch(t)
	e.checkHistories(t)
	e.checkNoRotationLeftOff(t)
}
