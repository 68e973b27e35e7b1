package estate

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func encode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	return append(b, '\n')
}

func readGolden(t *testing.T) (Inventory, []byte) {
	t.Helper()
	path := filepath.Join("testdata", "inventory.json")
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var inv Inventory
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&inv))
	return inv, raw
}

// The golden inventory is the persisted form other functions read back: it
// must decode, validate and encode to the very same bytes.
func TestInventoryGoldenRoundTrip(t *testing.T) {
	inv, raw := readGolden(t)
	require.NoError(t, inv.Validate())
	inv.Normalize()
	got := encode(t, inv)
	if *update {
		require.NoError(t, os.WriteFile(filepath.Join("testdata", "inventory.json"), got, 0o644))
		return
	}
	assert.Equal(t, string(raw), string(got))

	require.Len(t, inv.Lanes, 2)
	hz := inv.Lanes[0]
	assert.Equal(t, Lane{"1111222233334444", "cn-hangzhou"}, hz.Lane)
	assert.Equal(t, 365*24*time.Hour, hz.Keys[0].Rotation.Interval)
	assert.True(t, hz.Keys[2].IsServiceKey())
	assert.True(t, hz.Keys[3].Migrated())
	assert.Equal(t, "Rejected.Throttling", inv.Lanes[1].Errors[0].Code)
}

// Normalize makes the encoding independent of discovery order and time zone.
func TestNormalizeMakesJSONStable(t *testing.T) {
	inv, raw := readGolden(t)
	shuffled := inv
	shuffled.Lanes = slices.Clone(inv.Lanes)
	slices.Reverse(shuffled.Lanes)
	hz := &shuffled.Lanes[1]
	hz.Keys = slices.Clone(hz.Keys)
	slices.Reverse(hz.Keys)
	hz.Keys[3].Aliases = []string{"alias/app-db-legacy", "alias/app-db"}
	hz.Secrets = slices.Clone(hz.Secrets)
	slices.Reverse(hz.Secrets)
	shanghai := time.FixedZone("CST", 8*3600)
	shuffled.DiscoveredAt = shuffled.DiscoveredAt.In(shanghai)

	shuffled.Normalize()
	assert.Equal(t, string(raw), string(encode(t, shuffled)))
}

// A secret's value must never be part of the model: discovery writes the
// inventory to object storage and logs.
func TestSecretHasNoValueField(t *testing.T) {
	typ := reflect.TypeFor[Secret]()
	for f := range typ.Fields() {
		name := strings.ToLower(f.Name + " " + f.Tag.Get("json"))
		for _, banned := range []string{"value", "data", "plaintext", "password"} {
			assert.NotContains(t, name, banned, "field %s", f.Name)
		}
	}
}

func TestInventoryLaneLookup(t *testing.T) {
	inv, _ := readGolden(t)
	li, ok := inv.Lane(Lane{"5555666677778888", "cn-hangzhou"})
	require.True(t, ok)
	assert.Equal(t, "key-m-0001", li.Keys[0].ID)
	_, ok = inv.Lane(Lane{"5555666677778888", "cn-beijing"})
	assert.False(t, ok)
}
