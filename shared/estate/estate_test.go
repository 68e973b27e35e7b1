package estate

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLaneStringAndParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Lane
		wantErr bool
	}{
		{in: "1234567890/cn-hangzhou", want: Lane{"1234567890", "cn-hangzhou"}},
		{in: "1234567890", wantErr: true},
		{in: "/cn-hangzhou", wantErr: true},
		{in: "1234567890/", wantErr: true},
		{in: "a/b/c", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseLane(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.in)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.in, got.String())
		})
	}
}

func TestLaneJSONIsTextAndMapKey(t *testing.T) {
	in := map[Lane]string{{"111", "cn-shanghai"}: "kst-b", {"111", "cn-hangzhou"}: "kst-a"}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	assert.JSONEq(t, `{"111/cn-hangzhou":"kst-a","111/cn-shanghai":"kst-b"}`, string(b))
	var out map[Lane]string
	require.NoError(t, json.Unmarshal(b, &out))
	assert.Equal(t, in, out)

	var l Lane
	assert.Error(t, json.Unmarshal([]byte(`"no-slash"`), &l))
	_, err = json.Marshal(Lane{})
	assert.Error(t, err, "an empty lane must not encode")
}

func TestLaneCompare(t *testing.T) {
	a, b, c := Lane{"1", "cn-b"}, Lane{"1", "cn-c"}, Lane{"2", "cn-a"}
	assert.Equal(t, -1, a.Compare(b))
	assert.Equal(t, -1, b.Compare(c))
	assert.Equal(t, 1, c.Compare(a))
	assert.Equal(t, 0, a.Compare(a))
}

func TestIsServiceKey(t *testing.T) {
	tests := []struct {
		name string
		key  Key
		want bool
	}{
		{"user cmk", Key{ID: "k", Creator: "1234567890123456", Aliases: []string{"alias/app"}}, false},
		{"no creator no alias", Key{ID: "k"}, false},
		{"api alias form", Key{ID: "k", Aliases: []string{"alias/acs/oss"}}, true},
		{"short alias form", Key{ID: "k", Aliases: []string{"acs/ecs"}}, true},
		{"product creator", Key{ID: "k", Creator: "Oss"}, true},
		{"alias merely containing acs", Key{ID: "k", Creator: "1", Aliases: []string{"alias/my-acs/x"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.key.IsServiceKey())
		})
	}
}

func TestKeyHasAlias(t *testing.T) {
	k := Key{Aliases: []string{"alias/app-db"}}
	assert.True(t, k.HasAlias("alias/app-db"))
	assert.True(t, k.HasAlias("app-db"))
	assert.False(t, k.HasAlias("app"))
}

func TestSecretUsesSystemKey(t *testing.T) {
	for id, want := range map[string]bool{
		"":                   true,
		SystemKeyMarker:      true,
		"alias/acs/secrets":  true,
		"key-0001":           false,
		"alias/app-database": false,
	} {
		t.Run(id, func(t *testing.T) {
			assert.Equal(t, want, Secret{Name: "s", EncryptionKeyID: id}.UsesSystemKey())
		})
	}
}

func TestRotationJSON(t *testing.T) {
	tests := []struct {
		in   Rotation
		json string
	}{
		{Rotation{Enabled: true, Interval: 7 * 24 * time.Hour}, `{"enabled":true,"interval":"604800s"}`},
		{Rotation{}, `{"enabled":false}`},
		{Rotation{Enabled: true, Interval: 1500 * time.Millisecond}, `{"enabled":true,"interval":"1.5s"}`},
	}
	for _, tt := range tests {
		t.Run(tt.json, func(t *testing.T) {
			b, err := json.Marshal(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.json, string(b))
			var got Rotation
			require.NoError(t, json.Unmarshal(b, &got))
			assert.Equal(t, tt.in, got)
		})
	}
	var r Rotation
	require.NoError(t, json.Unmarshal([]byte(`{"enabled":true,"interval":"168h"}`), &r))
	assert.Equal(t, 7*24*time.Hour, r.Interval)
	err := json.Unmarshal([]byte(`{"enabled":true,"interval":"weekly"}`), &r)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "weekly")
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b    string
		want    int
		wantErr bool
	}{
		{a: "2.9.0", b: "2.9.0", want: 0},
		{a: "2.10.1", b: "2.9.0", want: 1},
		{a: "2.9.0", b: "2.10.1", want: -1},
		{a: "2.8.9", b: "2.9.0", want: -1},
		{a: "3.0", b: "2.99.99", want: 1},
		{a: "2.9", b: "2.9.0", want: 0},
		{a: "v2.9.1", b: "2.9.0", want: 1},
		{a: "2.9.0-rc1", b: "2.9.0", want: 0},
		{a: "", b: "2.9.0", wantErr: true},
		{a: "2.x.0", b: "2.9.0", wantErr: true},
		{a: "2..0", b: "2.9.0", wantErr: true},
		{a: "2.-1", b: "2.9.0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			got, err := CompareVersions(tt.a, tt.b)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	v, err := ParseVersion("v2.10.1")
	require.NoError(t, err)
	assert.Equal(t, "2.10.1", v.String())
}

func TestInstanceQuotaAndSharing(t *testing.T) {
	in := Instance{ID: "kst-1", KeyQuota: 10, KeyUsed: 12, SecretQuota: 10, SecretUsed: 3, Owner: "111", SharedWith: []string{"222"}}
	assert.Equal(t, 0, in.FreeKeys(), "over-used quota is zero free, not negative")
	assert.Equal(t, 7, in.FreeSecrets())
	assert.True(t, in.UsableBy("111", "999"))
	assert.True(t, in.UsableBy("222", "999"))
	assert.False(t, in.UsableBy("333", "333"))
	anon := Instance{ID: "kst-2"}
	assert.True(t, anon.OwnedBy("333", "333"), "an empty owner is the discovering account")
	assert.False(t, anon.UsableBy("444", "333"))
}

func TestValidate(t *testing.T) {
	lane := Lane{"111", "cn-hangzhou"}
	tests := []struct {
		name string
		inv  Inventory
		want []string
	}{
		{name: "ok", inv: Inventory{Lanes: []LaneInventory{{Lane: lane,
			Keys:    []Key{{ID: "k1"}},
			Secrets: []Secret{{Name: "s"}, {Name: "s"}}}}}},
		{name: "bad lane", inv: Inventory{Lanes: []LaneInventory{{Lane: Lane{Account: "111"}}}}, want: []string{"111/"}},
		{name: "repeated lane", inv: Inventory{Lanes: []LaneInventory{{Lane: lane}, {Lane: lane}}}, want: []string{"lane 111/cn-hangzhou appears twice"}},
		{name: "key problems", inv: Inventory{Lanes: []LaneInventory{{Lane: lane, Keys: []Key{{ID: ""}, {ID: "k1"}, {ID: "k1"}}}}},
			want: []string{"key without id", "key k1 appears twice"}},
		{name: "secret without name", inv: Inventory{Lanes: []LaneInventory{{Lane: lane, Secrets: []Secret{{Name: " "}}}}}, want: []string{"secret without name"}},
		{name: "instance problems", inv: Inventory{Lanes: []LaneInventory{{Lane: lane, Instances: []Instance{{}, {ID: "kst"}, {ID: "kst"}}}}},
			want: []string{"instance without id", "instance kst appears twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.inv.Validate()
			if len(tt.want) == 0 {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}
