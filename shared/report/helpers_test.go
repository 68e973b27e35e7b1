package report

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

var (
	discovered = time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC)
	laneA      = estate.Lane{Account: "1111", Region: "cn-hangzhou"}
	laneB      = estate.Lane{Account: "2222", Region: "cn-hangzhou"}
	laneC      = estate.Lane{Account: "1111", Region: "cn-beijing"}
)

func key(id string, mods ...func(*estate.Key)) estate.Key {
	k := estate.Key{ID: id, Origin: estate.OriginAliyunKMS, State: estate.KeyEnabled, Creator: "1111", VersionCount: 1,
		Spec: "Aliyun_AES_256", Usage: "ENCRYPT/DECRYPT", ProtectionLevel: "SOFTWARE"}
	for _, m := range mods {
		m(&k)
	}
	return k
}

func secret(name, cmk string, mods ...func(*estate.Secret)) estate.Secret {
	s := estate.Secret{Name: name, Type: estate.SecretGeneric, EncryptionKeyID: cmk, VersionCount: 1}
	for _, m := range mods {
		m(&s)
	}
	return s
}

func rotationOn(k *estate.Key) {
	k.Rotation = estate.Rotation{Enabled: true, Interval: 90 * 24 * time.Hour}
}

// goldenInventory is a small estate that exercises every section: three
// lanes in two accounts and two regions; a shared instance expiring
// without auto-renewal; a lane without any instance whose discovery met
// errors; service, imported, disabled, hardware-protected, already
// migrated and filtered keys; secrets under a blocked CMK, under a
// filtered CMK, under the system key, sharing a name, already migrated.
func goldenInventory() estate.Inventory {
	inst := estate.Instance{ID: "kst-hz-1", Region: "cn-hangzhou", Kind: estate.InstanceSoftware, ImageVersion: "2.10.1",
		KeyQuota: 100, KeyUsed: 1, SecretQuota: 100, SecretUsed: 1, Status: "Connected",
		Expires: discovered.AddDate(0, 0, 20), AutoRenew: false, Owner: "1111", SharedWith: []string{"2222"}}
	a := estate.LaneInventory{Lane: laneA, Instances: []estate.Instance{inst},
		Keys: []estate.Key{
			key("key-a1", rotationOn, func(k *estate.Key) { k.Aliases = []string{"alias/app"} }),
			key("key-a2"),
			key("key-a3"),
			key("key-hsm", func(k *estate.Key) { k.ProtectionLevel = "HSM"; k.Aliases = []string{"alias/payments"} }),
			key("key-off", func(k *estate.Key) { k.State = estate.KeyDisabled }),
			key("key-byok", func(k *estate.Key) { k.Origin = estate.OriginExternal; k.Aliases = []string{"alias/byok"} }),
			key("key-svc", func(k *estate.Key) { k.Aliases = []string{"alias/acs/oss"}; k.Creator = "Oss" }),
			key("key-done", func(k *estate.Key) { k.InstanceID = "kst-hz-1" }),
			key("key-tmp", func(k *estate.Key) { k.Tags = map[string]string{"lifecycle": "temporary"} }),
		},
		Secrets: []estate.Secret{
			secret("app/db", "key-a1"),
			secret("app/api", "key-a1"),
			secret("app/plain", "", func(s *estate.Secret) {
				s.Type = estate.SecretRds
				s.Rotation = estate.Rotation{Enabled: true, Interval: 7 * 24 * time.Hour}
			}),
			secret("app/off", "key-off"),
			secret("app/done", "", func(s *estate.Secret) { s.InstanceID = "kst-hz-1" }),
			secret("app/tmp", "key-tmp"),
			secret("dup", ""),
			secret("dup", "key-a2"),
		}}
	b := estate.LaneInventory{Lane: laneB, Instances: []estate.Instance{inst},
		Keys:    []estate.Key{key("key-b1", func(k *estate.Key) { k.Creator = "2222" })},
		Secrets: []estate.Secret{secret("b/one", "key-b1")}}
	c := estate.LaneInventory{Lane: laneC,
		Keys:    []estate.Key{key("key-bj")},
		Secrets: []estate.Secret{secret("bj/s", "")},
		Errors: []estate.DiscoveryError{
			{Op: "ListSecrets", Code: "Rejected.Throttling", Message: "QPS Limit Exceeded"},
			{Op: "DescribeKey", Resource: "key-bj2", Code: "Forbidden.NoPermission", Message: "not authorized"},
		}}
	inv := estate.Inventory{RunID: "run-20250301", DiscoveredAt: discovered, Lanes: []estate.LaneInventory{a, b, c}}
	inv.Normalize()
	return inv
}

func goldenPlanSettings() plan.Settings {
	s := plan.DefaultSettings()
	s.MaxKeys, s.MaxSecrets = 2, 2
	s.Exclude = []string{"tag:lifecycle=temporary"}
	return s
}

// run classifies and plans inv the way the functions do.
func run(t testing.TB, inv estate.Inventory, ps plan.Settings) (*verdict.Verdicts, *plan.Plan) {
	t.Helper()
	vs, err := verdict.Classify(inv, verdict.DefaultSettings())
	require.NoError(t, err)
	p, err := plan.New(vs, ps)
	require.NoError(t, err)
	return vs, p
}

func goldenStatuses() map[string]plan.Status {
	return map[string]plan.Status{
		plan.BatchID(laneA, 1): plan.StatusDone,
		plan.BatchID(laneA, 2): plan.StatusRunning,
	}
}

func goldenReport(t testing.TB) *Report {
	t.Helper()
	inv := goldenInventory()
	vs, p := run(t, inv, goldenPlanSettings())
	return Build(&inv, vs, p, Options{BatchStatus: goldenStatuses(), Previous: goldenPrevious(t)})
}

// goldenPrevious is the run of the night before goldenInventory, with its
// plan: since then key-off was disabled, key-done migrated, key-gone
// deleted, key-tmp created, key-a1's rotation switched on, app/db moved
// to another CMK, and the shared instance's key quota doubled with its
// auto-renewal switched off.
func goldenPrevious(t testing.TB) *Previous {
	t.Helper()
	inv := goldenInventory()
	inv.RunID, inv.DiscoveredAt = "run-20250228", discovered.AddDate(0, 0, -1)
	for i := range inv.Lanes {
		li := &inv.Lanes[i]
		for j := range li.Instances {
			li.Instances[j].KeyQuota, li.Instances[j].AutoRenew = 50, true
		}
		if li.Lane != laneA {
			continue
		}
		li.Keys = slices.DeleteFunc(li.Keys, func(k estate.Key) bool { return k.ID == "key-tmp" })
		li.Keys = append(li.Keys, key("key-gone"))
		for j := range li.Keys {
			k := &li.Keys[j]
			switch k.ID {
			case "key-off":
				k.State = estate.KeyEnabled
			case "key-done":
				k.InstanceID = ""
			case "key-a1":
				k.Rotation = estate.Rotation{}
			}
		}
		for j := range li.Secrets {
			if s := &li.Secrets[j]; s.Name == "app/db" {
				s.EncryptionKeyID = "key-a2"
			}
		}
	}
	inv.Normalize()
	_, p := run(t, inv, goldenPlanSettings())
	return &Previous{Inventory: &inv, Plan: p}
}
