package kms_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/kms"
)

// base is a small valid inventory the table mutates.
const base = `{
  "accounts": [
    {"id": "1000000000000001", "regions": {"cn-hangzhou": {
      "instances": [{"kmsInstanceId": "kst-base0001", "type": "software", "imageVersion": "2.9.0", "keyQuota": 10, "secretQuota": 10, "expiresInDays": 30, "sharedWith": ["2000000000000002"]}],
      "keys": [{"keyId": "00000000-0000-4000-8000-000000000001", "aliases": ["alias/k1"]}],
      "secrets": [{"secretName": "s1", "secretData": "x"}]}}},
    {"id": "2000000000000002", "regions": {"cn-hangzhou": {"keys": [
      {"keyId": "00000000-0000-4000-8000-000000000101"},
      {"keyId": "00000000-0000-4000-8000-000000000102"},
      {"keyId": "00000000-0000-4000-8000-000000000103"},
      {"keyId": "00000000-0000-4000-8000-000000000104"}
    ]}}}
  ]
}`

// mutate applies fn to base decoded as generic JSON.
func mutate(t *testing.T, fn func(root map[string]any)) []byte {
	t.Helper()
	var root map[string]any
	require.NoError(t, json.Unmarshal([]byte(base), &root))
	fn(root)
	b, err := json.Marshal(root)
	require.NoError(t, err)
	return b
}

func at(root map[string]any, account int, region string) map[string]any {
	return root["accounts"].([]any)[account].(map[string]any)["regions"].(map[string]any)[region].(map[string]any)
}

func item(root map[string]any, account int, region, kind string, i int) map[string]any {
	return at(root, account, region)[kind].([]any)[i].(map[string]any)
}

func TestParseInventoryValid(t *testing.T) {
	inv, err := kms.ParseInventory([]byte(base))
	require.NoError(t, err)
	require.Len(t, inv.Accounts, 2)
	_, err = kms.New(inv, kms.Options{})
	require.NoError(t, err)
}

func TestParseInventoryErrors(t *testing.T) {
	tests := []struct {
		name string
		fn   func(root map[string]any)
		want string
	}{
		{"bad origin", func(r map[string]any) { item(r, 1, "cn-hangzhou", "keys", 3)["origin"] = "BYOK" },
			`accounts[1].regions["cn-hangzhou"].keys[3].origin: must be Aliyun_KMS or EXTERNAL`},
		{"unknown field", func(r map[string]any) { item(r, 0, "cn-hangzhou", "keys", 0)["colour"] = "red" },
			`accounts[0].regions["cn-hangzhou"].keys[0].colour: unknown field`},
		{"unknown top-level field", func(r map[string]any) { r["version"] = 2 },
			`version: unknown field`},
		{"wrong JSON type", func(r map[string]any) { item(r, 0, "cn-hangzhou", "instances", 0)["keyQuota"] = "ten" },
			`accounts[0].regions["cn-hangzhou"].instances[0].keyQuota: must be a number`},
		{"bad key id", func(r map[string]any) { item(r, 0, "cn-hangzhou", "keys", 0)["keyId"] = "key-1" },
			`accounts[0].regions["cn-hangzhou"].keys[0].keyId: must be a lower-case UUID like 0b30658a-ed1a-4922-b8f7-a673ca9c1234`},
		{"duplicate key id", func(r map[string]any) {
			item(r, 1, "cn-hangzhou", "keys", 1)["keyId"] = "00000000-0000-4000-8000-000000000001"
		}, `accounts[1].regions["cn-hangzhou"].keys[1].keyId: duplicate key id (also accounts[0].regions["cn-hangzhou"].keys[0])`},
		{"alias prefix", func(r map[string]any) { item(r, 0, "cn-hangzhou", "keys", 0)["aliases"] = []any{"k1"} },
			`accounts[0].regions["cn-hangzhou"].keys[0].aliases[0]: must start with alias/`},
		{"bad account id", func(r map[string]any) { r["accounts"].([]any)[1].(map[string]any)["id"] = "acct-2" },
			"accounts[1].id: must be a numeric account id\naccounts[0].regions[\"cn-hangzhou\"].instances[0].sharedWith[0]: unknown account 2000000000000002"},
		{"bad region", func(r map[string]any) {
			regs := r["accounts"].([]any)[1].(map[string]any)["regions"].(map[string]any)
			regs["Hangzhou"] = regs["cn-hangzhou"]
			delete(regs, "cn-hangzhou")
		}, `accounts[1].regions["Hangzhou"]: must be a region id like cn-hangzhou`},
		{"rotation interval out of range", func(r map[string]any) {
			k := item(r, 0, "cn-hangzhou", "keys", 0)
			k["automaticRotation"], k["rotationInterval"] = "Enabled", "86400s"
		}, `accounts[0].regions["cn-hangzhou"].keys[0].rotationInterval: must be between 604800s (7 days) and 31536000s (365 days)`},
		{"rotation on external key", func(r map[string]any) {
			k := item(r, 0, "cn-hangzhou", "keys", 0)
			k["automaticRotation"], k["rotationInterval"], k["origin"] = "Enabled", "604800s", "EXTERNAL"
		}, `accounts[0].regions["cn-hangzhou"].keys[0].automaticRotation: keys with imported (EXTERNAL) material do not rotate`},
		{"service creator without service alias", func(r map[string]any) { item(r, 0, "cn-hangzhou", "keys", 0)["creator"] = "Oss" },
			`accounts[0].regions["cn-hangzhou"].keys[0].creator: must be the account id unless the key has a service alias alias/acs/<product>`},
		{"rotation on generic secret", func(r map[string]any) {
			s := item(r, 0, "cn-hangzhou", "secrets", 0)
			s["automaticRotation"], s["rotationInterval"] = "Enabled", "604800s"
		}, `accounts[0].regions["cn-hangzhou"].secrets[0].automaticRotation: automatic rotation applies only to Rds, RAMCredentials and ECS secrets`},
		{"secret under unknown key", func(r map[string]any) { item(r, 0, "cn-hangzhou", "secrets", 0)["encryptionKeyId"] = "alias/nope" },
			`accounts[0].regions["cn-hangzhou"].secrets[0].encryptionKeyId: no key alias/nope in this account and region`},
		{"duplicate secret name", func(r map[string]any) {
			lane := at(r, 0, "cn-hangzhou")
			lane["secrets"] = append(lane["secrets"].([]any), map[string]any{"secretName": "s1"})
		}, `accounts[0].regions["cn-hangzhou"].secrets[1].secretName: duplicate secret name in this account and region`},
		{"bad secret type", func(r map[string]any) { item(r, 0, "cn-hangzhou", "secrets", 0)["secretType"] = "Password" },
			`accounts[0].regions["cn-hangzhou"].secrets[0].secretType: must be one of Generic, Rds, RAMCredentials, ECS`},
		{"two current versions", func(r map[string]any) {
			s := item(r, 0, "cn-hangzhou", "secrets", 0)
			delete(s, "secretData")
			s["versions"] = []any{
				map[string]any{"versionId": "v1", "versionStages": []any{"ACSCurrent"}},
				map[string]any{"versionId": "v2", "versionStages": []any{"ACSCurrent"}},
			}
		}, `accounts[0].regions["cn-hangzhou"].secrets[0].versions: exactly one version must carry the ACSCurrent stage`},
		{"instance type", func(r map[string]any) { item(r, 0, "cn-hangzhou", "instances", 0)["type"] = "cloud" },
			`accounts[0].regions["cn-hangzhou"].instances[0].type: must be software or hardware`},
		{"image version", func(r map[string]any) { item(r, 0, "cn-hangzhou", "instances", 0)["imageVersion"] = "v3" },
			`accounts[0].regions["cn-hangzhou"].instances[0].imageVersion: must be a version like 2.9.0`},
		{"expiry twice", func(r map[string]any) { item(r, 0, "cn-hangzhou", "instances", 0)["endDate"] = "2030-01-01T00:00:00Z" },
			`accounts[0].regions["cn-hangzhou"].instances[0].endDate: set exactly one of endDate and expiresInDays`},
		{"shared with owner", func(r map[string]any) {
			item(r, 0, "cn-hangzhou", "instances", 0)["sharedWith"] = []any{"1000000000000001"}
		}, `accounts[0].regions["cn-hangzhou"].instances[0].sharedWith[0]: is the owner; an instance is not shared with its owner`},
		{"migrated into unshared instance", func(r map[string]any) {
			item(r, 0, "cn-hangzhou", "instances", 0)["sharedWith"] = []any{}
			item(r, 1, "cn-hangzhou", "keys", 2)["dkmsInstanceId"] = "kst-base0001"
		}, `accounts[1].regions["cn-hangzhou"].keys[2].dkmsInstanceId: instance kst-base0001 is not shared with account 2000000000000002`},
		{"migrated beyond quota", func(r map[string]any) {
			item(r, 0, "cn-hangzhou", "instances", 0)["keyQuota"] = 1
			item(r, 0, "cn-hangzhou", "instances", 0)["keysUsed"] = 1
			item(r, 0, "cn-hangzhou", "keys", 0)["dkmsInstanceId"] = "kst-base0001"
		}, `accounts[0].regions["cn-hangzhou"].instances[0].keyQuota: keysUsed 1 plus 1 migrated keys exceed keyQuota 1`},
		{"bad date", func(r map[string]any) { item(r, 0, "cn-hangzhou", "keys", 0)["creationDate"] = "yesterday" },
			`accounts[0].regions["cn-hangzhou"].keys[0].creationDate: must be an RFC 3339 time like 2024-01-31T08:00:00Z`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kms.ParseInventory(mutate(t, tc.fn))
			require.Error(t, err)
			var ie *kms.InventoryError
			require.True(t, errors.As(err, &ie))
			assert.Equal(t, tc.want, err.Error())
		})
	}
}

func TestParseInventoryMalformed(t *testing.T) {
	_, err := kms.ParseInventory([]byte(`{"accounts": [}`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "$: invalid JSON at byte 15")
	_, err = kms.ParseInventory([]byte(`{"accounts": []} {}`))
	assert.EqualError(t, err, "$: trailing data after the JSON document")
	_, err = kms.ParseInventory([]byte(`{"accounts": []}`))
	assert.EqualError(t, err, "accounts: at least one account is required")
	// A field or map entry given twice would silently take its last value.
	_, err = kms.ParseInventory([]byte(`{"accounts": [{"id": "1", "regions": {"cn-hangzhou": {}, "cn-hangzhou": {"keys": [{"keyId": "a", "keyId": "b"}]}}}], "accounts": []}`))
	assert.EqualError(t, err, `accounts[0].regions["cn-hangzhou"]: given twice`+"\n"+`accounts[0].regions["cn-hangzhou"].keys[0].keyId: given twice`+"\naccounts: given twice")
}

func TestDemoInventory(t *testing.T) {
	inv := kms.DemoInventory()
	require.NoError(t, inv.Validate())
	tw, err := kms.New(inv, kms.Options{})
	require.NoError(t, err)
	assert.Equal(t, []string{"cn-beijing", "cn-hangzhou", "cn-shanghai"}, tw.Regions())
	assert.Equal(t, []string{acctA, acctB, acctC}, tw.Accounts())

	// The file round-trips through LoadInventory by path and by name.
	path := filepath.Join(t.TempDir(), "demo.json")
	require.NoError(t, os.WriteFile(path, kms.DemoJSON(), 0o600))
	fromFile, err := kms.LoadInventory(path)
	require.NoError(t, err)
	assert.Equal(t, inv, fromFile)
	byName, err := kms.LoadInventory("demo")
	require.NoError(t, err)
	assert.Equal(t, inv, byName)
}
