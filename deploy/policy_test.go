package deploy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	kmssdk "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/deploy"
	"github.com/kmsmig/kmsmig/shared/app"
)

// policy is a RAM policy document (Version "1"; statements of Effect,
// Action, Resource, Condition, and Principal in trust policies).
type policy struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

type statement struct {
	Effect    string                     `json:"Effect"`
	Action    stringList                 `json:"Action"`
	Resource  stringList                 `json:"Resource"`
	Condition map[string]json.RawMessage `json:"Condition"`
	Principal map[string]stringList      `json:"Principal"`
}

// stringList is a RAM element that is a string or a list of strings.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*l = stringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*l = many
	return nil
}

// Test parameters: the home account runs the functions; two member
// accounts are configured, one with a role of its own name.
const (
	homeAccount = "1111000011110001"
	memberA     = "2222000022220002"
	memberB     = "3333000033330003"
)

var memberRoles = []string{"acs:ram::" + memberA + ":role/kmsmig-member", "acs:ram::" + memberB + ":role/kmsmig-reader"}

// defaultFunctions are the functions the code invokes with the default
// settings (no KMSMIG_* set): what the policies are rendered with.
func defaultFunctions(t *testing.T) []string {
	t.Helper()
	cfg, err := app.LoadConfig(func(string) string { return "" })
	require.NoError(t, err)
	return deploy.InvokedFunctions(cfg)
}

func testParams(t *testing.T) deploy.Params {
	return deploy.Params{HomeAccount: homeAccount, MemberRoles: memberRoles, Functions: defaultFunctions(t)}
}

// rendered renders the policies with p, with stand-ins for the names,
// which it puts back as their placeholders so that the assertions read like
// the templates (Render itself refuses '<' in a name).
func rendered(t *testing.T, p deploy.Params) map[string][]byte {
	t.Helper()
	p.StateBucket, p.StatePrefix, p.SLSProject = "state-bucket-x", "state-prefix-x", "sls-project-x"
	p.SLSLogstore, p.FCLogstore, p.FCRoleName = "sls-logstore-x", "fc-logstore-x", "fc-role-x"
	docs, err := deploy.Render(p)
	require.NoError(t, err)
	back := strings.NewReplacer("state-bucket-x", "<STATE_BUCKET>", "state-prefix-x", "<STATE_PREFIX>", "sls-project-x", "<SLS_PROJECT>",
		"sls-logstore-x", "<SLS_LOGSTORE>", "fc-logstore-x", "<FC_LOGSTORE>", "fc-role-x", "<FC_ROLE_NAME>")
	out := map[string][]byte{}
	for name, b := range docs {
		out[name] = []byte(back.Replace(string(b)))
	}
	return out
}

func readPolicy(t *testing.T, name string) policy {
	t.Helper()
	return parsePolicy(t, name, rendered(t, testParams(t))[name])
}

func parsePolicy(t *testing.T, name string, b []byte) policy {
	t.Helper()
	require.NotEmpty(t, b, name)
	var p policy
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields() // RAM knows no other elements (no Sid)
	require.NoError(t, dec.Decode(&p), name)
	require.Equal(t, "1", p.Version, "%s: RAM policies are Version \"1\"", name)
	require.NotEmpty(t, p.Statement, name)
	for i, s := range p.Statement {
		require.Contains(t, []string{"Allow", "Deny"}, s.Effect, "%s: Statement[%d].Effect", name, i)
		require.NotEmpty(t, s.Action, "%s: Statement[%d].Action", name, i)
		for _, a := range s.Action {
			require.Regexp(t, `^[a-z]+:[A-Z][A-Za-z0-9]+$`, a, "%s: Statement[%d]: actions are named one by one, no wildcards", name, i)
		}
	}
	return p
}

// allowed returns the actions p allows with the given service prefix
// ("kms"), each mapped to the resources it is granted on.
func allowed(p policy, service string) map[string][]string {
	out := map[string][]string{}
	for _, s := range p.Statement {
		if s.Effect != "Allow" {
			continue
		}
		for _, a := range s.Action {
			if svc, name, _ := strings.Cut(a, ":"); svc == service {
				out[name] = append(out[name], s.Resource...)
			}
		}
	}
	return out
}

func denied(p policy) []string {
	var out []string
	for _, s := range p.Statement {
		if s.Effect == "Deny" {
			out = append(out, s.Action...)
		}
	}
	return out
}

func services(p policy) []string {
	seen := map[string]bool{}
	for _, s := range p.Statement {
		if s.Effect == "Allow" {
			for _, a := range s.Action {
				svc, _, _ := strings.Cut(a, ":")
				seen[svc] = true
			}
		}
	}
	return sortedKeys(seen)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var (
	sdkCall     = regexp.MustCompile(`\.([A-Z][A-Za-z0-9]*?)With(?:Context|Options)\(`)
	rpcAction   = regexp.MustCompile(`rpcParams\("([A-Za-z0-9]+)"\)`)
	taskActions = regexp.MustCompile(`(?s)func DefaultTaskActions\(\).*?TaskActions\{(.*?)\}`)
	quoted      = regexp.MustCompile(`"([A-Za-z0-9]+)"`)
)

// kmsActionsInCode returns the KMS API actions the repository's Go code
// calls: the KMS SDK's XxxWithContext/XxxWithOptions methods (confirmed
// by reflection on the SDK client, so other calls of that shape do not
// count), the actions sent through the SDK's generic CallApi (rpcParams),
// and the default names of the migration-task operations.
func kmsActionsInCode(t *testing.T) map[string][]string {
	t.Helper()
	client := reflect.TypeOf(&kmssdk.Client{})
	found := map[string][]string{}
	var files []string
	for _, root := range []string{"../shared", "../functions", "../cmd"} {
		require.NoError(t, filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
				files = append(files, path)
			}
			return nil
		}))
	}
	for _, path := range files {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		src := string(b)
		if !strings.Contains(src, "github.com/alibabacloud-go/kms-20160120") {
			continue // only the KMS adapter talks to KMS
		}
		for _, m := range sdkCall.FindAllStringSubmatch(src, -1) {
			if _, ok := client.MethodByName(m[1] + "WithOptions"); ok {
				found[m[1]] = append(found[m[1]], path)
			}
		}
		for _, m := range rpcAction.FindAllStringSubmatch(src, -1) {
			found[m[1]] = append(found[m[1]], path)
		}
		if m := taskActions.FindStringSubmatch(src); m != nil {
			for _, q := range quoted.FindAllStringSubmatch(m[1], -1) {
				found[q[1]] = append(found[q[1]], path+" (DefaultTaskActions)")
			}
		}
	}
	return found
}

func TestKMSActionsInCode(t *testing.T) {
	code := kmsActionsInCode(t)
	// The scan must see the adapter; these are its backbone.
	for _, a := range []string{"ListKeys", "DescribeKey", "ListSecrets", "DescribeSecret", "UpdateRotationPolicy", "GetKmsInstance", "CreateMigrationTask"} {
		assert.Contains(t, code, a, "the scan of the KMS adapter lost %s: update kmsActionsInCode", a)
	}
	assert.NotContains(t, code, "GetSecretValue", "no code path may read a secret value")
}

// TestPoliciesGrantExactlyWhatTheCodeCalls: the functions' role and the
// member-account role may call exactly the KMS actions the code calls, and
// neither may ever read a secret value.
func TestPoliciesGrantExactlyWhatTheCodeCalls(t *testing.T) {
	code := kmsActionsInCode(t)
	for _, name := range []string{"ram-policy.json", "member-role-policy.json"} {
		t.Run(name, func(t *testing.T) {
			p := readPolicy(t, name)
			granted := allowed(p, "kms")
			for _, a := range sortedKeys(code) {
				_, ok := granted[a]
				assert.True(t, ok, "%s: the code calls kms:%s (%s) but the policy does not grant it", name, a, strings.Join(slices.Compact(code[a]), ", "))
			}
			for _, a := range sortedKeys(granted) {
				_, ok := code[a]
				assert.True(t, ok, "%s: grants kms:%s, which no code calls", name, a)
			}
			assert.NotContains(t, granted, "GetSecretValue")
			assert.Contains(t, denied(p), "kms:GetSecretValue", "%s: an explicit Deny keeps secret values unreadable whatever else is attached", name)
			for a, res := range granted {
				for _, r := range res {
					assert.True(t, strings.HasPrefix(r, "acs:kms:"), "%s: kms:%s on %q: KMS resources only", name, a, r)
				}
			}
			// Per-resource actions are scoped to keys or secrets.
			for _, a := range []string{"DescribeKey", "ListKeyVersions", "ListResourceTags", "UpdateRotationPolicy"} {
				if _, ok := code[a]; ok {
					assert.Equal(t, []string{"acs:kms:*:*:key/*"}, granted[a], "%s: kms:%s", name, a)
				}
			}
			for _, a := range []string{"DescribeSecret", "ListSecretVersionIds", "UpdateSecretRotationPolicy"} {
				if _, ok := code[a]; ok {
					assert.Equal(t, []string{"acs:kms:*:*:secret/*"}, granted[a], "%s: kms:%s", name, a)
				}
			}
		})
	}
}

func TestMemberRolePolicyIsKMSOnly(t *testing.T) {
	assert.Equal(t, []string{"kms"}, services(readPolicy(t, "member-role-policy.json")))
}

// TestFunctionRolePolicyScopes: besides KMS, the functions' role gets the
// state objects, writing to the audit and function logstores, invoking the
// functions the code chains and assuming the configured member roles, and
// nothing else.
func TestFunctionRolePolicyScopes(t *testing.T) {
	p := readPolicy(t, "ram-policy.json")
	assert.Equal(t, []string{"fc", "kms", "log", "oss", "sts"}, services(p))
	for _, s := range p.Statement {
		if s.Effect == "Allow" {
			assert.NotContains(t, s.Resource, "*", "Allow on every resource: %v", s.Action)
		}
	}

	// OSS: what shared/aliyun/oss calls (every file of the adapter), on
	// the state bucket and its prefix.
	ossCalls := map[string]string{ // SDK call -> RAM action
		"GetObject": "GetObject", "HeadObject": "GetObject", "PutObject": "PutObject",
		"DeleteObject": "DeleteObject", "NewListObjectsV2Paginator": "ListObjects", "ListObjectsV2": "ListObjects",
		"GetBucketVersioning": "GetBucketVersioning",
	}
	files, err := filepath.Glob("../shared/aliyun/oss/*.go")
	require.NoError(t, err)
	want := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range regexp.MustCompile(`s\.client\.([A-Za-z0-9]+)\(`).FindAllStringSubmatch(string(src), -1) {
			action, ok := ossCalls[m[1]]
			require.True(t, ok, "%s calls %s: map it to its RAM action here and in ram-policy.json", f, m[1])
			want[action] = true
		}
	}
	require.True(t, want["PutObject"], "no OSS call found: did the adapter move?")
	oss := allowed(p, "oss")
	assert.Equal(t, sortedKeys(want), sortedKeys(oss))
	for _, a := range []string{"GetObject", "PutObject", "DeleteObject"} {
		assert.Equal(t, []string{"acs:oss:*:*:<STATE_BUCKET>/<STATE_PREFIX>/*"}, oss[a], "oss:%s", a)
	}
	assert.Equal(t, []string{"acs:oss:*:*:<STATE_BUCKET>"}, oss["ListObjects"], "ListObjects is authorized on the bucket, narrowed by oss:Prefix")
	assert.Equal(t, []string{"acs:oss:*:*:<STATE_BUCKET>"}, oss["GetBucketVersioning"], "GetBucketVersioning is a bucket action")
	for _, s := range p.Statement {
		if slices.Contains(s.Action, "oss:GetBucketVersioning") {
			assert.Empty(t, s.Condition, "an oss:Prefix condition would deny GetBucketVersioning, which has no prefix")
		}
	}

	// SLS: writing the audit trail and the function logs, nothing else
	// (setting the trail up is the deployer's).
	log := allowed(p, "log")
	assert.Equal(t, []string{"PostLogStoreLogs"}, sortedKeys(log))
	assert.ElementsMatch(t, []string{"acs:log:*:*:project/<SLS_PROJECT>/logstore/<SLS_LOGSTORE>", "acs:log:*:*:project/<SLS_PROJECT>/logstore/<FC_LOGSTORE>"}, log["PostLogStoreLogs"])

	// FC: the functions the code invokes (and s.yaml's failure
	// destination), in the home account; TestInvokedFunctions checks the
	// list against the code.
	fc := allowed(p, "fc")
	assert.Equal(t, []string{"InvokeFunction"}, sortedKeys(fc))
	var fns []string
	for _, r := range fc["InvokeFunction"] {
		name, ok := strings.CutPrefix(r, "acs:fc:*:"+homeAccount+":functions/")
		require.True(t, ok, r)
		fns = append(fns, name)
	}
	assert.ElementsMatch(t, defaultFunctions(t), fns)

	// STS: exactly the configured member roles, not a role name in every
	// account.
	assert.Equal(t, map[string][]string{"AssumeRole": memberRoles}, allowed(p, "sts"))
}

func TestTrustPolicies(t *testing.T) {
	fc := readPolicy(t, "fc-role-trust-policy.json")
	require.Len(t, fc.Statement, 1)
	assert.Equal(t, stringList{"sts:AssumeRole"}, fc.Statement[0].Action)
	assert.Equal(t, map[string]stringList{"Service": {"fc.aliyuncs.com"}}, fc.Statement[0].Principal)

	member := readPolicy(t, "member-role-trust-policy.json")
	require.Len(t, member.Statement, 1)
	assert.Equal(t, stringList{"sts:AssumeRole"}, member.Statement[0].Action)
	assert.Equal(t, map[string]stringList{"RAM": {"acs:ram::" + homeAccount + ":role/<FC_ROLE_NAME>"}}, member.Statement[0].Principal,
		"only the functions' role may assume the member role, not every identity of the home account")
}

// The OSS trigger's role: only OSS may assume it, and it may only invoke
// kmsmig-migrate.
func TestOSSTriggerRole(t *testing.T) {
	trust := readPolicy(t, "oss-trigger-trust-policy.json")
	require.Len(t, trust.Statement, 1)
	assert.Equal(t, stringList{"sts:AssumeRole"}, trust.Statement[0].Action)
	assert.Equal(t, map[string]stringList{"Service": {"oss.aliyuncs.com"}}, trust.Statement[0].Principal)

	p := readPolicy(t, "oss-trigger-role-policy.json")
	require.Len(t, p.Statement, 1)
	assert.Equal(t, "Allow", p.Statement[0].Effect)
	assert.Equal(t, stringList{"fc:InvokeFunction"}, p.Statement[0].Action)
	assert.Equal(t, stringList{"acs:fc:*:" + testParams(t).HomeAccount + ":functions/kmsmig-migrate"}, p.Statement[0].Resource)
}
