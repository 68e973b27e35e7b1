package estate

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	diffLane  = Lane{Account: "1111", Region: "cn-hangzhou"}
	diffLane2 = Lane{Account: "2222", Region: "cn-hangzhou"}
	day       = 24 * time.Hour
	expiry    = time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
)

func diffKey(id string, mods ...func(*Key)) Key {
	k := Key{ID: id, Origin: OriginAliyunKMS, State: KeyEnabled}
	for _, m := range mods {
		m(&k)
	}
	return k
}

func diffSecret(name string, mods ...func(*Secret)) Secret {
	s := Secret{Name: name, Type: SecretGeneric}
	for _, m := range mods {
		m(&s)
	}
	return s
}

func diffInstance(id string, mods ...func(*Instance)) Instance {
	in := Instance{ID: id, Region: "cn-hangzhou", KeyQuota: 100, SecretQuota: 50, Expires: expiry}
	for _, m := range mods {
		m(&in)
	}
	return in
}

func lane(l Lane, keys []Key, secrets []Secret, instances []Instance, errs ...DiscoveryError) LaneInventory {
	return LaneInventory{Lane: l, Keys: keys, Secrets: secrets, Instances: instances, Errors: errs}
}

func TestDiff(t *testing.T) {
	state := func(s KeyState) func(*Key) { return func(k *Key) { k.State = s } }
	rotate := func(d time.Duration) Rotation { return Rotation{Enabled: true, Interval: d} }
	tests := []struct {
		name       string
		prev, next []LaneInventory
		want       []Change
	}{
		{
			name: "nothing changed",
			prev: []LaneInventory{lane(diffLane, []Key{diffKey("k1")}, []Secret{diffSecret("s1")}, []Instance{diffInstance("kst-1")})},
			next: []LaneInventory{lane(diffLane, []Key{diffKey("k1")}, []Secret{diffSecret("s1")}, []Instance{diffInstance("kst-1")})},
		},
		{
			name: "created and gone",
			prev: []LaneInventory{lane(diffLane, []Key{diffKey("k-old")}, []Secret{diffSecret("s-old")}, []Instance{diffInstance("kst-old")})},
			next: []LaneInventory{lane(diffLane, []Key{diffKey("k-new")}, []Secret{diffSecret("s-new")}, []Instance{diffInstance("kst-new")})},
			want: []Change{
				{Lane: diffLane, Resource: SubjectKey, ID: "k-new", Kind: ChangeCreated},
				{Lane: diffLane, Resource: SubjectKey, ID: "k-old", Kind: ChangeGone},
				{Lane: diffLane, Resource: SubjectSecret, ID: "s-new", Kind: ChangeCreated},
				{Lane: diffLane, Resource: SubjectSecret, ID: "s-old", Kind: ChangeGone},
				{Lane: diffLane, Resource: SubjectInstance, ID: "kst-new", Kind: ChangeCreated},
				{Lane: diffLane, Resource: SubjectInstance, ID: "kst-old", Kind: ChangeGone},
			},
		},
		{
			name: "key states",
			prev: []LaneInventory{lane(diffLane, []Key{
				diffKey("k-del"), diffKey("k-dis"), diffKey("k-back", state(KeyDisabled)), diffKey("k-undel", state(KeyPendingDeletion)),
				diffKey("k-imp"),
			}, nil, nil)},
			next: []LaneInventory{lane(diffLane, []Key{
				diffKey("k-del", state(KeyPendingDeletion)), diffKey("k-dis", state(KeyDisabled)), diffKey("k-back"), diffKey("k-undel"),
				diffKey("k-imp", state("PendingImport")),
			}, nil, nil)},
			want: []Change{
				{Lane: diffLane, Resource: SubjectKey, ID: "k-back", Kind: ChangeEnabled, From: "Disabled", To: "Enabled"},
				{Lane: diffLane, Resource: SubjectKey, ID: "k-del", Kind: ChangePendingDeletion, From: "Enabled", To: "PendingDeletion"},
				{Lane: diffLane, Resource: SubjectKey, ID: "k-dis", Kind: ChangeDisabled, From: "Enabled", To: "Disabled"},
				{Lane: diffLane, Resource: SubjectKey, ID: "k-imp", Kind: ChangeState, From: "Enabled", To: "PendingImport"},
				{Lane: diffLane, Resource: SubjectKey, ID: "k-undel", Kind: ChangeEnabled, From: "PendingDeletion", To: "Enabled"},
			},
		},
		{
			name: "rotation on, off, interval; off with another remembered interval is no change",
			prev: []LaneInventory{lane(diffLane, []Key{
				diffKey("k-on"), diffKey("k-off", func(k *Key) { k.Rotation = rotate(30 * day) }),
				diffKey("k-int", func(k *Key) { k.Rotation = rotate(30 * day) }),
				diffKey("k-same", func(k *Key) { k.Rotation = Rotation{Interval: 7 * day} }),
			}, []Secret{diffSecret("s-on")}, nil)},
			next: []LaneInventory{lane(diffLane, []Key{
				diffKey("k-on", func(k *Key) { k.Rotation = rotate(7 * day) }), diffKey("k-off"),
				diffKey("k-int", func(k *Key) { k.Rotation = rotate(36 * time.Hour) }),
				diffKey("k-same", func(k *Key) { k.Rotation = Rotation{Interval: 90 * day} }),
			}, []Secret{diffSecret("s-on", func(s *Secret) { s.Rotation = rotate(90 * day) })}, nil)},
			want: []Change{
				{Lane: diffLane, Resource: SubjectKey, ID: "k-int", Kind: ChangeRotation, From: "on every 30d", To: "on every 36h0m0s"},
				{Lane: diffLane, Resource: SubjectKey, ID: "k-off", Kind: ChangeRotation, From: "on every 30d", To: "off"},
				{Lane: diffLane, Resource: SubjectKey, ID: "k-on", Kind: ChangeRotation, From: "off", To: "on every 7d"},
				{Lane: diffLane, Resource: SubjectSecret, ID: "s-on", Kind: ChangeRotation, From: "off", To: "on every 90d"},
			},
		},
		{
			name: "secret's CMK; the system key's spellings are one",
			prev: []LaneInventory{lane(diffLane, nil, []Secret{
				diffSecret("s-cmk", func(s *Secret) { s.EncryptionKeyID = "k1" }),
				diffSecret("s-sys", func(s *Secret) { s.EncryptionKeyID = "" }),
				diffSecret("s-to-sys", func(s *Secret) { s.EncryptionKeyID = "k1" }),
			}, nil)},
			next: []LaneInventory{lane(diffLane, nil, []Secret{
				diffSecret("s-cmk", func(s *Secret) { s.EncryptionKeyID = "k2" }),
				diffSecret("s-sys", func(s *Secret) { s.EncryptionKeyID = SystemKeyMarker }),
				diffSecret("s-to-sys", func(s *Secret) { s.EncryptionKeyID = "" }),
			}, nil)},
			want: []Change{
				{Lane: diffLane, Resource: SubjectSecret, ID: "s-cmk", Kind: ChangeEncryptionKey, From: "k1", To: "k2"},
				{Lane: diffLane, Resource: SubjectSecret, ID: "s-to-sys", Kind: ChangeEncryptionKey, From: "k1", To: SystemKeyMarker},
			},
		},
		{
			name: "migrated meanwhile, with rotation left off by the migration",
			prev: []LaneInventory{lane(diffLane, []Key{diffKey("k1", func(k *Key) { k.Rotation = rotate(30 * day) })},
				[]Secret{diffSecret("s1")}, nil)},
			next: []LaneInventory{lane(diffLane, []Key{diffKey("k1", func(k *Key) { k.InstanceID = "kst-1" })},
				[]Secret{diffSecret("s1", func(s *Secret) { s.InstanceID = "kst-1" })}, nil)},
			want: []Change{
				{Lane: diffLane, Resource: SubjectKey, ID: "k1", Kind: ChangeRotation, From: "on every 30d", To: "off"},
				{Lane: diffLane, Resource: SubjectKey, ID: "k1", Kind: ChangeMigrated, To: "kst-1"},
				{Lane: diffLane, Resource: SubjectSecret, ID: "s1", Kind: ChangeMigrated, To: "kst-1"},
			},
		},
		{
			name: "secrets sharing a name: the one in the instance pairs with itself",
			prev: []LaneInventory{lane(diffLane, nil, []Secret{
				diffSecret("dup"), diffSecret("dup", func(s *Secret) { s.InstanceID = "kst-1" }),
			}, nil)},
			next: []LaneInventory{lane(diffLane, nil, []Secret{
				diffSecret("dup", func(s *Secret) { s.InstanceID = "kst-1" }),
			}, nil)},
			want: []Change{{Lane: diffLane, Resource: SubjectSecret, ID: "dup", Kind: ChangeGone}},
		},
		{
			name: "instance quota, expiry, auto-renewal; used quota is not a change",
			prev: []LaneInventory{lane(diffLane, nil, nil, []Instance{diffInstance("kst-1")})},
			next: []LaneInventory{lane(diffLane, nil, nil, []Instance{diffInstance("kst-1", func(in *Instance) {
				in.KeyQuota, in.SecretQuota, in.KeyUsed, in.SecretUsed = 200, 40, 10, 5
				in.Expires, in.AutoRenew = expiry.AddDate(1, 0, 0), true
			})})},
			want: []Change{
				{Lane: diffLane, Resource: SubjectInstance, ID: "kst-1", Kind: ChangeKeyQuota, From: "100", To: "200"},
				{Lane: diffLane, Resource: SubjectInstance, ID: "kst-1", Kind: ChangeSecretQuota, From: "50", To: "40"},
				{Lane: diffLane, Resource: SubjectInstance, ID: "kst-1", Kind: ChangeExpiry, From: "2025-04-01T00:00:00Z", To: "2026-04-01T00:00:00Z"},
				{Lane: diffLane, Resource: SubjectInstance, ID: "kst-1", Kind: ChangeAutoRenew, From: "off", To: "on"},
			},
		},
		{
			name: "failed listings and describe calls hide creations and deletions, not other changes",
			prev: []LaneInventory{lane(diffLane, []Key{diffKey("k1"), diffKey("k2")}, []Secret{diffSecret("s1")}, []Instance{diffInstance("kst-1")},
				DiscoveryError{Op: "DescribeSecret", Resource: "s2"})},
			next: []LaneInventory{lane(diffLane, []Key{diffKey("k1", state(KeyDisabled))}, []Secret{diffSecret("s2")}, nil,
				DiscoveryError{Op: "ListKeys"}, DiscoveryError{Op: "GetKmsInstance", Resource: "kst-1"})},
			want: []Change{
				{Lane: diffLane, Resource: SubjectKey, ID: "k1", Kind: ChangeDisabled, From: "Enabled", To: "Disabled"},
				{Lane: diffLane, Resource: SubjectSecret, ID: "s1", Kind: ChangeGone},
			},
		},
		{
			name: "a lane in one run only is not compared; lanes in order",
			prev: []LaneInventory{
				lane(diffLane2, []Key{diffKey("k2")}, nil, nil),
				lane(diffLane, []Key{diffKey("k1")}, nil, nil),
				lane(Lane{Account: "3333", Region: "cn-beijing"}, []Key{diffKey("k3")}, nil, nil),
			},
			next: []LaneInventory{
				lane(diffLane2, nil, nil, nil),
				lane(diffLane, []Key{diffKey("k1", state(KeyPendingDeletion))}, nil, nil),
				lane(Lane{Account: "4444", Region: "cn-beijing"}, []Key{diffKey("k4")}, nil, nil),
			},
			want: []Change{
				{Lane: diffLane, Resource: SubjectKey, ID: "k1", Kind: ChangePendingDeletion, From: "Enabled", To: "PendingDeletion"},
				{Lane: diffLane2, Resource: SubjectKey, ID: "k2", Kind: ChangeGone},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prev := &Inventory{RunID: "run-1", Lanes: tt.prev}
			next := &Inventory{RunID: "run-2", Lanes: tt.next}
			before, err := json.Marshal([]*Inventory{prev, next})
			require.NoError(t, err)
			got := Diff(prev, next)
			assert.Equal(t, tt.want, got)
			after, err := json.Marshal([]*Inventory{prev, next})
			require.NoError(t, err)
			assert.JSONEq(t, string(before), string(after), "Diff must not modify its inputs")
		})
	}
}

// The order does not depend on the order of the inventories' slices.
func TestDiffIsDeterministic(t *testing.T) {
	prev := Inventory{Lanes: []LaneInventory{lane(diffLane,
		[]Key{diffKey("a"), diffKey("b"), diffKey("c")}, []Secret{diffSecret("x"), diffSecret("y")}, []Instance{diffInstance("kst-1")})}}
	next := Inventory{Lanes: []LaneInventory{lane(diffLane,
		[]Key{diffKey("d"), diffKey("c", func(k *Key) { k.State = KeyDisabled })}, []Secret{diffSecret("z"), diffSecret("x", func(s *Secret) { s.InstanceID = "kst-1" })},
		[]Instance{diffInstance("kst-1", func(in *Instance) { in.AutoRenew = true })})}}
	want := Diff(&prev, &next)
	require.Len(t, want, 8)
	for _, li := range []*LaneInventory{&prev.Lanes[0], &next.Lanes[0]} {
		for i, j := 0, len(li.Keys)-1; i < j; i, j = i+1, j-1 {
			li.Keys[i], li.Keys[j] = li.Keys[j], li.Keys[i]
		}
		for i, j := 0, len(li.Secrets)-1; i < j; i, j = i+1, j-1 {
			li.Secrets[i], li.Secrets[j] = li.Secrets[j], li.Secrets[i]
		}
	}
	assert.Equal(t, want, Diff(&prev, &next))
	assert.Nil(t, Diff(nil, &next))
	assert.Nil(t, Diff(&prev, nil))
}
