package migration_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// inFlight wraps the KMS adapter and records how many reads of keys and
// secrets were under way at once, and whether a key and a secret were
// read at once (each read is slowed, so that reads that could overlap
// do).
type inFlight struct {
	migration.KMS
	now, most    atomic.Int32
	reads        atomic.Int32
	keys, secret atomic.Int32 // reads of each kind under way
	mixed        atomic.Bool  // a key and a secret were read at once
}

func (f *inFlight) enter(kind, other *atomic.Int32) func() {
	n := f.now.Add(1)
	for {
		m := f.most.Load()
		if n <= m || f.most.CompareAndSwap(m, n) {
			break
		}
	}
	f.reads.Add(1)
	kind.Add(1)
	if other.Load() > 0 {
		f.mixed.Store(true)
	}
	time.Sleep(10 * time.Millisecond)
	return func() { kind.Add(-1); f.now.Add(-1) }
}

func (f *inFlight) Key(ctx context.Context, l estate.Lane, id string) (estate.Key, error) {
	defer f.enter(&f.keys, &f.secret)()
	return f.KMS.Key(ctx, l, id)
}

func (f *inFlight) KeyMetadata(ctx context.Context, l estate.Lane, id string) (estate.Key, error) {
	defer f.enter(&f.keys, &f.secret)()
	return f.KMS.KeyMetadata(ctx, l, id)
}

func (f *inFlight) Secret(ctx context.Context, l estate.Lane, s estate.Secret) (estate.Secret, error) {
	defer f.enter(&f.secret, &f.keys)()
	return f.KMS.Secret(ctx, l, s)
}

func (f *inFlight) SecretMetadata(ctx context.Context, l estate.Lane, s estate.Secret) (estate.Secret, error) {
	defer f.enter(&f.secret, &f.keys)()
	return f.KMS.SecretMetadata(ctx, l, s)
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
	if len(b.Keys) > 0 && len(b.Secrets) > 0 {
		assert.True(t, f.mixed.Load(), "the ended batch's keys and secrets were observed one kind after the other")
	}

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

// kindsInventory is one lane (laneHZ) with n keys and n secrets, every
// one rotating, and an instance with room for them all.
func kindsInventory(t *testing.T, n int) *kmstwin.Inventory {
	t.Helper()
	var keys, secrets []map[string]any
	for i := range n {
		keys = append(keys, map[string]any{"keyId": fmt.Sprintf("c1000001-0000-4000-8000-%012d", i), "automaticRotation": "Enabled", "rotationInterval": "2592000s"})
		secrets = append(secrets, map[string]any{"secretName": fmt.Sprintf("kinds/%02d", i), "secretData": "v"})
	}
	doc, err := json.Marshal(map[string]any{"accounts": []any{map[string]any{"id": laneHZ.Account, "regions": map[string]any{laneHZ.Region: map[string]any{
		"instances": []any{map[string]any{"kmsInstanceId": "kst-kinds001", "type": "software", "imageVersion": "2.9.0", "keyQuota": 100, "secretQuota": 100, "expiresInDays": 365}},
		"keys":      keys, "secrets": secrets,
	}}}}})
	require.NoError(t, err)
	inv, err := kmstwin.ParseInventory(doc)
	require.NoError(t, err)
	return inv
}

// Keys and secrets are read side by side, each kind ObserveConcurrency at
// a time, and each resource in one call (DescribeKey, DescribeSecret)
// wherever tags and versions are not compared: KMS meters key and secret
// queries under separate quotas, and the instance waits for the
// submission's re-check and for the ended batch's observation. Read one
// kind after the other, in three calls a key and two a secret, the
// re-check of a batch of 50 keys and 50 secrets took 4.5 s at the quotas:
// most of every handover between two tasks.
func TestKeysAndSecretsAreReadSideBySideInOneCallEach(t *testing.T) {
	n := 2*migration.ObserveConcurrency + 2
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, inventory: kindsInventory(t, n)})
	ctx := t.Context()
	b := e.laneBatches()[0]
	require.Len(t, b.Keys, n, "the test needs a batch of more keys than are read at a time")
	require.Len(t, b.Secrets, n, "and as many secrets")
	f := &inFlight{KMS: e.kms}
	eng := e.engine(e.store, sequential)
	eng.KMS = f

	// Disable, then Submit's re-check.
	_, err := eng.Disable(ctx, runID, b.ID)
	require.NoError(t, err)
	assert.Greater(t, f.most.Load(), int32(migration.ObserveConcurrency), "the batch was prepared one kind after the other")
	f.most.Store(0)
	before := e.st.KMS.CallCounts()
	res, err := eng.Submit(ctx, runID, b.ID)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseSubmitted, res.Phase, "%+v", res)
	assert.Greater(t, f.most.Load(), int32(migration.ObserveConcurrency), "the re-check before submitting read one kind after the other")
	calls := callsSince(before, e.st.KMS.CallCounts())
	assert.Equal(t, n, calls["DescribeKey"], "one DescribeKey a key")
	assert.Equal(t, n, calls["DescribeSecret"], "one DescribeSecret a secret")
	for _, a := range []string{"ListResourceTags", "ListKeyVersions", "ListSecretVersionIds"} {
		assert.Zero(t, calls[a], "the re-check before submitting called %s", a)
	}

	// The ended batch's observation.
	f.most.Store(0)
	before = e.st.KMS.CallCounts()
	_, err = eng.Poll(ctx, runID, b.ID)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseCompleted, e.batch(t, b.ID).Phase)
	assert.Greater(t, f.most.Load(), int32(migration.ObserveConcurrency), "the ended batch was observed one kind after the other")
	calls = callsSince(before, e.st.KMS.CallCounts())
	assert.Equal(t, n, calls["DescribeKey"])
	assert.Equal(t, n, calls["DescribeSecret"])
	assert.Zero(t, calls["ListKeyVersions"]+calls["ListSecretVersionIds"]+calls["ListResourceTags"], "observing the ended batch read tags or versions")

	// Verification still compares tags and versions with the inventory.
	before = e.st.KMS.CallCounts()
	res, err = eng.Restore(ctx, runID, b.ID)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseVerified, res.Phase, "%+v", res)
	calls = callsSince(before, e.st.KMS.CallCounts())
	assert.GreaterOrEqual(t, calls["ListKeyVersions"], n, "verification reads every key's versions")
	assert.GreaterOrEqual(t, calls["ListSecretVersionIds"], n, "verification reads every secret's versions")
	assert.Empty(t, e.batch(t, b.ID).Problems)
	e.checkNoRotationLeftOff(t)
}

// callsSince returns the calls of each action made between two counts.
func callsSince(before, after map[string]int64) map[string]int {
	out := map[string]int{}
	for a, n := range after {
		if d := n - before[a]; d > 0 {
			out[a] = int(d)
		}
	}
	return out
}
