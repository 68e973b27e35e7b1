package wiring_test

import (
	"fmt"
	"io/fs"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	osssdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	osscred "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/oss"
	"github.com/kmsmig/kmsmig/shared/aliyun/ram"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/verdict"
	"github.com/kmsmig/kmsmig/twin/acs"
	osstwin "github.com/kmsmig/kmsmig/twin/oss"
)

// hostileName is a key id or secret name as a KMS listing (or a hostile
// one) may give it, and what the store keys built from it must do.
type hostileName struct {
	name string
	id   string
	// refused is the reason the store refuses the key built from id (""
	// when the key must be accepted).
	refused string
}

// hostileNames: names that try to leave their prefix, to land on another
// document (current, a plan), to collide with one another's escape or
// digest, or to break the store with their length or bytes.
func hostileNames() []hostileName {
	long := strings.Repeat("a", 2000)
	return []hostileName{
		{name: "parent of parent", id: "../../current"},
		{name: "dot-dot inside", id: "a/../../b"},
		{name: "dot-dot", id: ".."},
		{name: "dot", id: "."},
		{name: "slash", id: "/"},
		{name: "two slashes", id: "//"},
		{name: "absolute path", id: "/etc/passwd"},
		{name: "another document's key", id: "runs/r1/plan.json"},
		{name: "the current pointer's key", id: "current"},
		{name: "reserved suffix", id: "x.obj"},
		{name: "hidden", id: ".hidden"},
		{name: "the OSS store's version log", id: "x/.v/000000000001"},
		{name: "an escape of a slash", id: "%2F"},
		{name: "an escape inside", id: "a%2Fb"},
		{name: "the name it escapes like", id: "a/b"},
		{name: "NUL", id: "x\x00y"},
		{name: "newline", id: "line\nbreak"},
		{name: "backslash", id: `C:\Windows\..\x`},
		{name: "unicode", id: "车道/密钥"},
		{name: "not UTF-8", id: "\xff\xfe"},
		{name: "192 slashes (valid in KMS)", id: strings.Repeat("/", 192)},
		{name: "192 dots (valid in KMS)", id: strings.Repeat(".", 192)},
		{name: "2,000 characters", id: long},
		{name: "2,000 characters but the last", id: long[:1999] + "b"},
		{name: "2,000 slashes", id: strings.Repeat("/", 2000)},
		{name: "the digest form of another name", id: statekeys.Segment(long)},
		{name: "empty", id: "", refused: `segment ".json" begins with a dot`},
	}
}

// TestHostileStoreKeys: the store keys built from resource names (the
// rotation ledger's, a notice's) stay inside their prefix, one segment,
// distinct per name, through the directory store and the OSS store on the
// OSS twin, or are refused with an error naming the key and the reason;
// the documents beside them are untouched and nothing is written outside
// the store's own directory or prefix.
func TestHostileStoreKeys(t *testing.T) {
	lane := estate.Lane{Account: "1111000011110001", Region: "cn-hangzhou"}
	names := hostileNames()
	stores := map[string]func(t *testing.T) (runstate.Store, func() []string){
		"dir": func(t *testing.T) (runstate.Store, func() []string) {
			parent := t.TempDir()
			s, err := runstate.OpenDir(filepath.Join(parent, "state"))
			require.NoError(t, err)
			return s, func() []string {
				// Every path under the parent, relative to it: all must be
				// inside state/.
				var out []string
				require.NoError(t, filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
					if err != nil || p == parent {
						return err
					}
					require.Zero(t, d.Type()&fs.ModeSymlink, "no symbolic link: %s", p)
					rel, _ := filepath.Rel(parent, p)
					out = append(out, filepath.ToSlash(rel))
					return nil
				}))
				return out
			}
		},
		"oss": func(t *testing.T) (runstate.Store, func() []string) {
			const account, bucket, region = "1234567890123456", "kmsmig-state", "cn-hangzhou"
			keys := acs.NewKeyring()
			_, err := keys.AddAccount(account, "", "")
			require.NoError(t, err)
			srv, err := osstwin.New(osstwin.Config{Keyring: keys, Buckets: []osstwin.Bucket{{Name: bucket, Account: account, Region: region}}})
			require.NoError(t, err)
			hs := httptest.NewServer(srv)
			t.Cleanup(hs.Close)
			owner, _ := keys.Account(account)
			cred, err := ram.Static(owner.AccessKeyID, owner.AccessKeySecret, "")
			require.NoError(t, err)
			s, err := oss.Open(t.Context(), oss.Location{URL: "oss://" + bucket + "/kmsmig", Region: region, Endpoint: hs.URL, Insecure: true, Credential: cred})
			require.NoError(t, err)
			return s, func() []string {
				// Every object of the bucket, listed with the official client.
				c := osssdk.NewClient(osssdk.LoadDefaultConfig().WithRegion(region).WithEndpoint(hs.URL).WithUsePathStyle(true).
					WithCredentialsProvider(osscred.NewStaticCredentialsProvider(owner.AccessKeyID, owner.AccessKeySecret)))
				var out []string
				p := c.NewListObjectsV2Paginator(&osssdk.ListObjectsV2Request{Bucket: osssdk.Ptr(bucket)})
				for p.HasNext() {
					page, err := p.NextPage(t.Context())
					require.NoError(t, err)
					for _, o := range page.Contents {
						out = append(out, osssdk.ToString(o.Key))
					}
				}
				return out
			}
		},
	}
	for _, storeName := range []string{"dir", "oss"} {
		t.Run(storeName, func(t *testing.T) {
			store, everything := stores[storeName](t)
			// The documents a hostile name would aim at.
			sentinels := map[string]string{statekeys.Current: `{"runId":"r1"}`, statekeys.Plan("r1"): `{"runId":"r1"}`, statekeys.Inventory("r1"): `{"runId":"r1"}`}
			for k, v := range sentinels {
				_, err := store.Create(t.Context(), k, []byte(v))
				require.NoError(t, err)
			}
			before := versions(t, store)
			wrote := map[string]string{} // key → the name whose document it holds
			for i, hn := range names {
				t.Run(hn.name, func(t *testing.T) {
					for _, kind := range []verdict.ResourceKind{verdict.ResourceKey, verdict.ResourceSecret} {
						prefix := fmt.Sprintf("%s%s/%s/%s/", statekeys.LedgerPrefix, lane.Account, lane.Region, kind)
						checkKey(t, store, statekeys.Ledger(lane, kind, hn.id), prefix, hn, fmt.Sprintf("%s %d", kind, i), wrote)
					}
					checkKey(t, store, statekeys.Notice("r1", hn.id), statekeys.Run("r1", "notices/"), hn, fmt.Sprintf("notice %d", i), wrote)
				})
			}
			// Every document written is still its own name's: no two names
			// shared a key.
			for k, want := range wrote {
				obj, err := store.Get(t.Context(), k)
				require.NoError(t, err, k)
				assert.Equal(t, want, string(obj.Data), k)
			}
			// The documents beside them are unchanged, and the store holds
			// nothing else.
			after := versions(t, store)
			for k := range sentinels {
				assert.Equal(t, before[k], after[k], k)
				delete(after, k)
			}
			assert.Len(t, after, len(wrote), "the store holds the sentinels and one document per accepted key")
			for k := range after {
				assert.Contains(t, wrote, k)
			}
			// Nothing outside the store's directory or prefix.
			all := everything()
			require.NotEmpty(t, all)
			for _, p := range all {
				want := "kmsmig/"
				if storeName == "dir" {
					want = "state"
				}
				assert.True(t, strings.HasPrefix(p, want), "%.120q is outside %s", p, want)
			}
			t.Logf("%s store: %d hostile names, %d keys written, %d refused", storeName, len(names), len(wrote), 3*len(names)-len(wrote))
		})
	}
}

// checkKey asserts that key, built from hn.id, is one segment right under
// prefix ending in .json, and that store accepts a document at it (which
// records it in wrote, checking no other name took it) or refuses it with
// hn.refused.
func checkKey(t *testing.T, store runstate.Store, key, prefix string, hn hostileName, doc string, wrote map[string]string) {
	t.Helper()
	rest, ok := strings.CutPrefix(key, prefix)
	require.True(t, ok, "%.120q is not under %s", key, prefix)
	require.NotContains(t, rest, "/", "%.120q: one segment under %s", key, prefix)
	require.True(t, strings.HasSuffix(rest, ".json"), key)
	_, err := store.Create(t.Context(), key, []byte(doc))
	if hn.refused != "" {
		require.Error(t, err)
		assert.ErrorContains(t, err, "invalid key")
		assert.ErrorContains(t, err, hn.refused)
		return
	}
	require.NoError(t, err, "%.120q", key)
	require.NotContains(t, wrote, key, "%.120q: %q and %q share the key", key, hn.id, wrote[key])
	wrote[key] = doc
}
