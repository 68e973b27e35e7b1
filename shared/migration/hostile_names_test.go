package migration_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// Secrets whose names KMS accepts (1 to 192 of letters, digits and
// _/+=.@-) but that read as paths into the run-state store migrate like
// any other, through the KMS twin and the directory store: every ledger
// entry lands in the lane's ledger, one per name, every rotation comes
// back, and no document a name aims at is written or changed.
func TestHostileSecretNamesMigrate(t *testing.T) {
	names := []string{
		"../../current", "a/../../b", "..", ".", "/", "x.obj", ".hidden",
		"runs/" + runID + "/plan.json", "ledger/1111000011110001/cn-hangzhou/key/x.json",
		"a.b", "@/-", "a/b",
		strings.Repeat("/", 192), strings.Repeat(".", 192), strings.Repeat("a.", 96),
	}
	var secrets []map[string]any
	for _, n := range names {
		secrets = append(secrets, map[string]any{"secretName": n, "secretType": "Rds", "automaticRotation": "Enabled", "rotationInterval": "604800s",
			"extendedConfig": `{"SecretSubType":"SingleUser","DBInstanceId":"rm-hostile"}`, "secretData": `{"AccountName":"a","AccountPassword":"x"}`})
	}
	doc, err := json.Marshal(map[string]any{"accounts": []any{map[string]any{"id": laneHZ.Account, "regions": map[string]any{laneHZ.Region: map[string]any{
		"instances": []any{map[string]any{"kmsInstanceId": "kst-hostile01", "type": "software", "imageVersion": "2.9.0", "keyQuota": 10, "secretQuota": 100, "expiresInDays": 365}},
		"secrets":   secrets,
	}}}}})
	require.NoError(t, err)
	inv, err := kmstwin.ParseInventory(doc)
	require.NoError(t, err, "KMS accepts every one of these names")

	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, inventory: inv})
	ctx := t.Context()
	planned := 0
	for _, b := range e.plan.Lanes[0].Batches {
		planned += len(b.Secrets)
	}
	require.Equal(t, len(names), planned, "every hostile name is planned")
	planBefore, err := e.store.Get(ctx, statekeys.Plan(runID))
	require.NoError(t, err)

	e.drive(t, e.eng, 60)

	// Every secret moved, and its rotation is back as it was.
	for _, n := range names {
		s, err := e.kms.Secret(ctx, laneHZ, estate.Secret{Name: n})
		require.NoError(t, err, n)
		assert.Equal(t, "kst-hostile01", s.InstanceID, "%q migrated", n)
	}
	e.checkNoRotationLeftOff(t)

	// One ledger entry per name, each one segment under the lane's prefix.
	prefix := fmt.Sprintf("%s%s/%s/secret/", statekeys.LedgerPrefix, laneHZ.Account, laneHZ.Region)
	keys, err := e.store.List(ctx, statekeys.LedgerPrefix)
	require.NoError(t, err)
	var ids []string
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, prefix)
		require.True(t, ok, "%s is not under %s", k, prefix)
		require.NotContains(t, rest, "/", k)
		le, _, err := runstate.GetJSON[migration.LedgerEntry](ctx, e.store, k)
		require.NoError(t, err, k)
		assert.Equal(t, statekeys.Ledger(laneHZ, migration.KindSecret, le.ID), k)
		ids = append(ids, le.ID)
	}
	assert.ElementsMatch(t, names, ids, "one ledger entry per name")

	// Nothing a name aims at was written: no current pointer (this run
	// never set one), the plan only as the engine writes it, every key
	// under a prefix of the layout, every file inside the store.
	all, err := e.store.List(ctx, "")
	require.NoError(t, err)
	assert.NotContains(t, all, statekeys.Current)
	for _, k := range all {
		assert.True(t, strings.HasPrefix(k, statekeys.LedgerPrefix) || strings.HasPrefix(k, statekeys.Run(runID, "")) ||
			strings.HasPrefix(k, statekeys.AlertPrefix), "%s outside the layout", k)
	}
	planAfter, _, err := runstate.GetJSON[plan.Plan](ctx, e.store, statekeys.Plan(runID))
	require.NoError(t, err, "the plan still decodes")
	assert.Equal(t, runID, planAfter.RunID)
	var pb plan.Plan
	require.NoError(t, json.Unmarshal(planBefore.Data, &pb))
	assert.Equal(t, len(pb.Lanes), len(planAfter.Lanes))

	root := e.store.(*runstate.DirStore).Root()
	parent := filepath.Dir(root)
	require.NoError(t, filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == parent {
			return err
		}
		assert.True(t, p == root || strings.HasPrefix(p, root+string(filepath.Separator)), "%s is outside the store %s", p, root)
		assert.Zero(t, d.Type()&fs.ModeSymlink, p)
		return nil
	}))
	t.Logf("%d hostile secret names migrated; %d ledger entries; %d store keys", len(names), len(ids), len(all))
}

// A run's stored inventory that stops decoding mid-run: the batch in
// flight gets its rotation back, then stops at verification with an error
// naming the key (it is not marked verified); no further batch of the lane
// starts or switches anything off (the lane waits for its batch to be
// verified; a batch that would start is refused by Disable's own check,
// see TestHostileInputs); once the document is sound again the run ends.
func TestCorruptInventoryMidRun(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	key := statekeys.Inventory(runID)
	good, err := e.store.Get(ctx, key)
	require.NoError(t, err)
	first := e.plan.Lanes[0].Batches[0].ID

	// The first batch up to its submission, rotation off.
	_, err = e.eng.Disable(ctx, runID, first)
	require.NoError(t, err)
	_, err = e.eng.Submit(ctx, runID, first)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseSubmitted, e.batch(t, first).Phase)
	require.Positive(t, e.ledgerCount(t), "rotation is off for the batch")
	cur, err := e.store.Get(ctx, key)
	require.NoError(t, err)
	_, err = e.store.Update(ctx, key, []byte(`{"runId":"`+runID+`","lanes":[`), cur.Version)
	require.NoError(t, err)
	ledgerBefore := e.ledgerCount(t)

	var last error
	for range 40 {
		if _, err := e.eng.Step(ctx, runID); err != nil {
			last = err
		}
	}
	require.Error(t, last)
	assert.ErrorContains(t, last, "runstate: decode "+key+": ")
	s := e.batch(t, first)
	assert.False(t, s.Verified, "not verified against an inventory it could not read")
	assert.True(t, s.RotationRestored, "the rotation came back before verification")
	e.checkNoRotationLeftOff(t)
	for _, b := range e.plan.Lanes[0].Batches[1:] {
		_, err := e.store.Get(ctx, statekeys.Batch(runID, b.ID))
		assert.ErrorIs(t, err, runstate.ErrNotFound, "%s not started", b.ID)
	}
	assert.Equal(t, ledgerBefore, e.ledgerCount(t), "no rotation switched off after the inventory broke")

	// Sound again: the run ends.
	cur, err = e.store.Get(ctx, key)
	require.NoError(t, err)
	_, err = e.store.Update(ctx, key, good.Data, cur.Version)
	require.NoError(t, err)
	e.drive(t, e.eng, 60)
	assert.True(t, e.batch(t, first).Verified)
	e.checkNoRotationLeftOff(t)
}
