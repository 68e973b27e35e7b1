package verdict

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
)

var (
	discovered = time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC)
	laneA      = estate.Lane{Account: "1111", Region: "cn-hangzhou"}
	laneB      = estate.Lane{Account: "2222", Region: "cn-hangzhou"}
)

func instance(id, owner string, mods ...func(*estate.Instance)) estate.Instance {
	in := estate.Instance{ID: id, Region: "cn-hangzhou", Kind: estate.InstanceSoftware, ImageVersion: "2.10.1",
		KeyQuota: 1000, SecretQuota: 1000, Status: "Connected", AutoRenew: true, Owner: owner,
		Expires: discovered.AddDate(1, 0, 0)}
	for _, m := range mods {
		m(&in)
	}
	return in
}

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

func inventory(lanes ...estate.LaneInventory) estate.Inventory {
	return estate.Inventory{RunID: "run-1", DiscoveredAt: discovered, Lanes: lanes}
}

func classify(t *testing.T, inv estate.Inventory, mods ...func(*Settings)) *Verdicts {
	t.Helper()
	s := DefaultSettings()
	for _, m := range mods {
		m(&s)
	}
	vs, err := Classify(inv, s)
	require.NoError(t, err)
	return vs
}

func mustFind(t *testing.T, vs *Verdicts, l estate.Lane, rk ResourceKind, id string) Verdict {
	t.Helper()
	v, ok := vs.Find(l, rk, id)
	require.True(t, ok, "no verdict for %s %s in %s", rk, id, l)
	return v
}
