package plan

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// From inventory to plan through real verdicts: the persisted plan of a
// small estate, with a filter, a blocked key and its secret, a rotation-on
// key, dependent secrets and two lanes sharing one instance.
func TestPlanGoldenJSON(t *testing.T) {
	at := time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC)
	inst := estate.Instance{ID: "kst-hz-1", Region: "cn-hangzhou", Kind: estate.InstanceSoftware, ImageVersion: "2.10.1",
		KeyQuota: 100, SecretQuota: 100, Status: "Connected", AutoRenew: true, Owner: "1111", SharedWith: []string{"2222"}}
	k := func(id, creator string, mods ...func(*estate.Key)) estate.Key {
		key := estate.Key{ID: id, Origin: estate.OriginAliyunKMS, State: estate.KeyEnabled, Creator: creator}
		for _, m := range mods {
			m(&key)
		}
		return key
	}
	inv := estate.Inventory{RunID: "run-20250301", DiscoveredAt: at, Lanes: []estate.LaneInventory{
		{Lane: laneA, Instances: []estate.Instance{inst},
			Keys: []estate.Key{
				k("key-a1", "1111", func(k *estate.Key) { k.Rotation.Enabled = true }),
				k("key-a2", "1111"), k("key-a3", "1111"),
				k("key-off", "1111", func(k *estate.Key) { k.State = estate.KeyDisabled }),
				k("key-tmp", "1111", func(k *estate.Key) { k.Tags = map[string]string{"lifecycle": "temporary"} }),
			},
			Secrets: []estate.Secret{
				{Name: "app/db", EncryptionKeyID: "key-a3"}, {Name: "app/api", EncryptionKeyID: "key-a3"},
				{Name: "app/plain", Type: estate.SecretRds, Rotation: estate.Rotation{Enabled: true, Interval: 7 * 24 * time.Hour}}, {Name: "app/off", EncryptionKeyID: "key-off"}, {Name: "app/tmp", EncryptionKeyID: "key-tmp"},
			}},
		{Lane: laneB, Instances: []estate.Instance{inst},
			Keys:    []estate.Key{k("key-b1", "2222")},
			Secrets: []estate.Secret{{Name: "b/one", EncryptionKeyID: "key-b1"}}},
	}}
	vs, err := verdict.Classify(inv, verdict.DefaultSettings())
	require.NoError(t, err)
	p := mustPlan(t, vs, settings(func(s *Settings) {
		s.MaxKeys, s.MaxSecrets = 2, 2
		s.Exclude = []string{"tag:lifecycle=temporary"}
	}))

	got, err := json.MarshalIndent(p, "", "  ")
	require.NoError(t, err)
	got = append(got, '\n')
	path := filepath.Join("testdata", "plan.json")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))

	var back Plan
	require.NoError(t, json.Unmarshal(want, &back))
	assert.Equal(t, *p, back)
}
