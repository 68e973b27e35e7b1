package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// hostileBase is a small valid inventory the hostile cases break one
// field at a time (textual replacements, so that malformed JSON, repeated
// fields and trailing data can be written too).
const hostileBase = `{"accounts": [
 {"id": "1000000000000001", "accessKeyId": "LTAIhostile01", "accessKeySecret": "hostile-s3cret", "regions": {"cn-hangzhou": {
  "instances": [{"kmsInstanceId": "kst-hst00001", "type": "software", "imageVersion": "2.9.0", "keyQuota": 10, "secretQuota": 10, "expiresInDays": 30, "sharedWith": ["2000000000000002"]}],
  "keys": [{"keyId": "00000000-0000-4000-8000-000000000001", "aliases": ["alias/k1"]},
           {"keyId": "00000000-0000-4000-8000-000000000002"}],
  "secrets": [{"secretName": "s1", "secretData": "x"}, {"secretName": "s2", "secretData": "y"}]}}},
 {"id": "2000000000000002", "regions": {"cn-shanghai": {"keys": [{"keyId": "00000000-0000-4000-8000-000000000101"}]}}}
]}`

// TestHostileInventories: every command that takes --inventory (twin,
// rehearse, chaos) refuses a bad inventory file with exit status 2 and an
// error naming the field by its JSON path and the reason, before it starts
// anything: nothing on stdout, and no file or directory appears in the
// working directory (where state, output and dist would go by default).
func TestHostileInventories(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good.json")
	require.NoError(t, os.WriteFile(good, []byte(hostileBase), 0o600))
	_, err := kmstwin.LoadInventory(good)
	require.NoError(t, err, "the base the cases break is valid")

	swap := func(old, new string) string {
		t.Helper()
		require.Contains(t, hostileBase, old)
		return strings.Replace(hostileBase, old, new, 1)
	}
	lane := `accounts[0].regions["cn-hangzhou"]`
	tests := []struct {
		name string
		doc  string // the file's content; see also size
		size int64  // when set, a file of this many zero bytes instead
		want []string
	}{
		{name: "malformed JSON", doc: hostileBase[:len(hostileBase)-3], want: []string{"$: invalid JSON"}},
		{name: "empty file", doc: "", want: []string{"$: invalid JSON"}},
		{name: "trailing data", doc: hostileBase + ` {"accounts": []}`, want: []string{"$: trailing data after the JSON document"}},
		{name: "not an object", doc: `["accounts"]`, want: []string{"$: must be an object"}},
		{name: "no account", doc: `{"accounts": []}`, want: []string{"accounts: at least one account is required"}},
		{name: "null document", doc: `null`, want: []string{"accounts: at least one account is required"}},
		{name: "unknown field", doc: swap(`"type": "software"`, `"type": "software", "colour": "red"`),
			want: []string{lane + `.instances[0].colour: unknown field`}},
		{name: "misspelled field", doc: swap(`{"keyId": "00000000-0000-4000-8000-000000000002"}`, `{"keyID": "00000000-0000-4000-8000-000000000002"}`),
			want: []string{lane + `.keys[1].keyID: unknown field`}},
		{name: "field in another case", doc: swap(`"secretName": "s2"`, `"SecretName": "s2"`),
			want: []string{lane + `.secrets[1].SecretName: unknown field`}},
		{name: "field given twice", doc: swap(`"id": "1000000000000001"`, `"id": "1000000000000001", "id": "3000000000000003"`),
			want: []string{`accounts[0].id: given twice`}},
		{name: "region given twice", doc: swap(`{"cn-shanghai": {`, `{"cn-shanghai": {}, "cn-shanghai": {`),
			want: []string{`accounts[1].regions["cn-shanghai"]: given twice`}},
		{name: "key without id", doc: swap(`{"keyId": "00000000-0000-4000-8000-000000000002"}`, `{"aliases": ["alias/k2"]}`),
			want: []string{lane + `.keys[1].keyId: must be a lower-case UUID`}},
		{name: "secret without name", doc: swap(`{"secretName": "s2", `, `{`),
			want: []string{lane + `.secrets[1].secretName: must be 1 to 192 letters, digits or _/+=.@-`}},
		{name: "instance without id", doc: swap(`"kmsInstanceId": "kst-hst00001", `, ``),
			want: []string{lane + `.instances[0].kmsInstanceId: must look like kst-`}},
		{name: "duplicate key ids", doc: swap(`000000000002"}`, `000000000001"}`),
			want: []string{lane + `.keys[1].keyId: duplicate key id (also ` + lane + `.keys[0])`}},
		{name: "duplicate key ids across accounts", doc: swap(`000000000101"}`, `000000000001"}`),
			want: []string{`accounts[1].regions["cn-shanghai"].keys[0].keyId: duplicate key id (also ` + lane + `.keys[0])`}},
		{name: "duplicate secret names", doc: swap(`"secretName": "s2"`, `"secretName": "s1"`),
			want: []string{lane + `.secrets[1].secretName: duplicate secret name in this account and region`}},
		{name: "duplicate account ids", doc: swap(`"id": "2000000000000002"`, `"id": "1000000000000001"`),
			want: []string{`accounts[1].id: duplicate account id (also accounts[0])`}},
		{name: "account that is not digits", doc: swap(`"id": "2000000000000002"`, `"id": "20000-attacker"`),
			want: []string{`accounts[1].id: must be a numeric account id`}},
		{name: "account of 21 digits", doc: swap(`"id": "2000000000000002"`, `"id": "200000000000000000002"`),
			want: []string{`accounts[1].id: must be a numeric account id`}},
		{name: "region that is a host", doc: swap(`"cn-shanghai"`, `"attacker.example#"`),
			want: []string{`accounts[1].regions["attacker.example#"]: must be a region id like cn-hangzhou`}},
		{name: "region that is a path", doc: swap(`"cn-shanghai"`, `"../cn-shanghai"`),
			want: []string{`accounts[1].regions["../cn-shanghai"]: must be a region id like cn-hangzhou`}},
		{name: "secret name that is too long", doc: swap(`"secretName": "s2"`, `"secretName": "`+strings.Repeat("s", 193)+`"`),
			want: []string{lane + `.secrets[1].secretName: must be 1 to 192`}},
		{name: "secret name with a control character", doc: swap(`"secretName": "s2"`, `"secretName": "x\u0000y"`),
			want: []string{lane + `.secrets[1].secretName: must be 1 to 192`}},
		{name: "access key without its secret", doc: swap(`, "accessKeySecret": "hostile-s3cret"`, ``),
			want: []string{`accounts[0].accessKeySecret: accessKeyId and accessKeySecret go together`}},
		{name: "wrong JSON type", doc: swap(`"keyQuota": 10`, `"keyQuota": "10"`),
			want: []string{lane + `.instances[0].keyQuota: must be a number`}},
		{name: "number beyond 64 bits", doc: swap(`"keyQuota": 10`, `"keyQuota": 1e30`),
			want: []string{lane + `.instances[0].keyQuota: must be an integer`}},
		{name: "absurd quota", doc: swap(`"secretQuota": 10`, `"secretQuota": 9000000000000000000`),
			want: []string{lane + `.instances[0].secretQuota: must be between 0 and 1000000`}},
		{name: "absurd expiry", doc: swap(`"expiresInDays": 30`, `"expiresInDays": 999999999`),
			want: []string{lane + `.instances[0].expiresInDays: must be between -36500 and 36500`}},
		{name: "file beyond the size limit", size: kmstwin.MaxInventoryBytes + 1,
			want: []string{"$: larger than 67108864 bytes"}},
	}
	syaml, err := filepath.Abs("../../s.yaml")
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "inventory.json")
			if tt.size > 0 {
				f, err := os.Create(file)
				require.NoError(t, err)
				require.NoError(t, f.Truncate(tt.size)) // sparse: no disk spent
				require.NoError(t, f.Close())
			} else {
				require.NoError(t, os.WriteFile(file, []byte(tt.doc), 0o600))
			}
			work := t.TempDir()
			t.Chdir(work)
			for _, args := range [][]string{
				{"twin", "--inventory", file},
				{"rehearse", "--inventory", file, "--syaml", syaml},
				{"chaos", "--inventory", file, "--schedules", "1"},
			} {
				var out, errOut bytes.Buffer
				code := run(t.Context(), args, &out, &errOut)
				assert.Equal(t, 2, code, "%s: exit status; stderr: %s", args[0], errOut.String())
				for _, w := range tt.want {
					assert.Contains(t, errOut.String(), w, args[0])
				}
				assert.Contains(t, errOut.String(), "kmsmig "+args[0]+": usage: --inventory "+file+": ", args[0])
				assert.Empty(t, out.String(), "%s: nothing on stdout", args[0])
				assert.NotContains(t, errOut.String(), "hostile-s3cret", "%s: no credential echoed", args[0])
			}
			var made []string
			require.NoError(t, filepath.WalkDir(work, func(p string, _ fs.DirEntry, err error) error {
				if p != work {
					made = append(made, p)
				}
				return err
			}))
			assert.Empty(t, made, "nothing written in the working directory")
		})
	}
	t.Logf("%d hostile inventories refused by twin, rehearse and chaos", len(tests))

	// The control: the same commands get past the inventory with the good
	// file (and then stop at a flag checked later, or at the missing
	// binaries), so the refusals above are the inventory's.
	var out, errOut bytes.Buffer
	assert.Equal(t, 2, run(t.Context(), []string{"twin", "--inventory", good, "--addr", "127.0.0.1:1"}, &out, &errOut))
	assert.Contains(t, errOut.String(), "--addr")
	assert.NotContains(t, errOut.String(), "--inventory")
}
