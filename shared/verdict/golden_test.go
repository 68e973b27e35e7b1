package verdict

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// goldenInventory covers every verdict kind, a lane blocker, a warning and a
// quota overflow in two lanes sharing one instance.
func goldenInventory() estate.Inventory {
	shared := instance("kst-hz-1", "1111", func(in *estate.Instance) {
		in.SharedWith = []string{"2222"}
		in.KeyQuota, in.KeyUsed = 10, 7
		in.AutoRenew = false
		in.Expires = discovered.AddDate(0, 0, 20)
	})
	a := estate.LaneInventory{Lane: laneA, Instances: []estate.Instance{shared},
		Keys: []estate.Key{
			key("key-a1", func(k *estate.Key) {
				k.Aliases = []string{"alias/app"}
				k.Tags = map[string]string{"env": "prod"}
				k.Rotation = estate.Rotation{Enabled: true, Interval: 90 * 24 * time.Hour}
			}),
			key("key-a2"),
			key("key-svc", func(k *estate.Key) { k.Aliases = []string{"alias/acs/oss"}; k.Creator = "Oss" }),
			key("key-byok", func(k *estate.Key) { k.Origin = estate.OriginExternal }),
			key("key-done", func(k *estate.Key) { k.InstanceID = "kst-hz-1" }),
		},
		Secrets: []estate.Secret{
			secret("app/db", "key-a1", func(s *estate.Secret) { s.Tags = map[string]string{"env": "prod"} }),
			secret("app/byok", "key-byok"),
			secret("app/plain", ""),
			secret("app/under-done", "key-done"),
		}}
	b := estate.LaneInventory{Lane: laneB, Instances: []estate.Instance{shared},
		Keys: []estate.Key{
			key("key-b1", func(k *estate.Key) { k.Creator = "2222" }),
			key("key-b2", func(k *estate.Key) { k.Creator = "2222" }),
		},
		Secrets: []estate.Secret{secret("b/dep", "key-b2")}}
	c := estate.LaneInventory{Lane: estate.Lane{Account: "1111", Region: "cn-beijing"},
		Keys: []estate.Key{key("key-bj")}}
	return inventory(c, b, a)
}

func TestVerdictsGoldenJSON(t *testing.T) {
	vs := classify(t, goldenInventory())
	b, err := json.MarshalIndent(vs, "", "  ")
	require.NoError(t, err)
	b = append(b, '\n')
	path := filepath.Join("testdata", "verdicts.json")
	if *update {
		require.NoError(t, os.WriteFile(path, b, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(b))

	// Round trip: the persisted form decodes to the same Verdicts.
	var back Verdicts
	dec := json.NewDecoder(bytes.NewReader(want))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&back))
	again, err := json.MarshalIndent(&back, "", "  ")
	require.NoError(t, err)
	assert.Equal(t, string(want), string(again)+"\n")
}

func TestClassifyIsDeterministic(t *testing.T) {
	inv := goldenInventory()
	want, err := json.Marshal(classify(t, inv))
	require.NoError(t, err)

	shuffled := goldenInventory()
	slices.Reverse(shuffled.Lanes)
	for i := range shuffled.Lanes {
		slices.Reverse(shuffled.Lanes[i].Keys)
		slices.Reverse(shuffled.Lanes[i].Secrets)
	}
	got, err := json.Marshal(classify(t, shuffled))
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
}

// BenchmarkClassify100k classifies 100,000 resources over 10 lanes.
func BenchmarkClassify100k(b *testing.B) {
	const n, lanes = 100_000, 10
	var inv estate.Inventory
	inv.RunID, inv.DiscoveredAt = "bench", discovered
	for l := range lanes {
		acct := fmt.Sprintf("%04d", l)
		li := estate.LaneInventory{Lane: estate.Lane{Account: acct, Region: "cn-hangzhou"},
			Instances: []estate.Instance{instance("kst-"+acct, acct, func(in *estate.Instance) { in.KeyQuota, in.SecretQuota = 1e6, 1e6 })}}
		nk := n / lanes / 2
		for i := range nk {
			li.Keys = append(li.Keys, key(fmt.Sprintf("key-%06d", i), func(k *estate.Key) { k.Creator = acct }))
		}
		for i := range n/lanes - nk {
			cmk := ""
			if i%2 == 0 {
				cmk = fmt.Sprintf("key-%06d", i%nk)
			}
			li.Secrets = append(li.Secrets, secret(fmt.Sprintf("secret-%06d", i), cmk))
		}
		inv.Lanes = append(inv.Lanes, li)
	}
	s := DefaultSettings()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Classify(inv, s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/resource")
}
