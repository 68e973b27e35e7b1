package deploy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/deploy"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/twin/fc"
)

// TestInvokedFunctions: the functions' role may invoke what the code
// invokes and nothing else. The code invokes through InvokeAsync in two
// files whose function names InvokedFunctions reads (wiring: discover's
// kick and groups, migrate's and poll's groups; the engine's chain); Function Compute's failure destinations of s.yaml
// must be among them.
func TestInvokedFunctions(t *testing.T) {
	sites := map[string]bool{}
	for _, root := range []string{"../shared", "../functions", "../cmd"} {
		require.NoError(t, filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if regexp.MustCompile(`\.InvokeAsync\(`).Match(b) {
				sites[filepath.ToSlash(path)] = true
			}
			return nil
		}))
	}
	assert.Equal(t, []string{"../shared/migration/poll.go", "../shared/wiring/deps.go"}, sortedKeys(sites),
		"a function is invoked from a new place: make deploy.InvokedFunctions return its name, then update this list")

	fns := defaultFunctions(t)
	t.Logf("functions the code invokes (default settings): %v", fns)
	require.NotEmpty(t, fns)
	for _, never := range []string{"kmsmig-discover", "kmsmig-poll"} {
		assert.NotContains(t, fns, never, "timers start it; no code invokes it")
	}

	// s.yaml's destinations are invoked with the functions' role.
	syaml := loadSYAML(t, fc.LoadOptions{})
	var destinations []string
	for _, f := range syaml {
		for _, arn := range []string{f.AsyncInvokeConfig.OnFailure, f.AsyncInvokeConfig.OnSuccess} {
			if arn == "" {
				continue
			}
			_, name, ok := strings.Cut(arn, ":functions/")
			require.True(t, ok, "%s: destination %q", f.Name, arn)
			destinations = append(destinations, name)
		}
	}
	require.NotEmpty(t, destinations, "s.yaml delivers asynchronous failures somewhere")
	for _, d := range destinations {
		assert.Contains(t, fns, d, "s.yaml's destination %s must be invokable by the functions' role", d)
	}

	// Renamed functions are what is granted; chaining off drops the grant.
	cfg, err := app.LoadConfig(func(k string) string {
		return map[string]string{"KMSMIG_FUNCTION_MIGRATE": "-", "KMSMIG_FUNCTION_ROTATE": "ops-rotate"}[k]
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"ops-rotate"}, deploy.InvokedFunctions(cfg))

	// A fanned-out discovery invokes discover (wiring's Dispatch).
	cfg, err = app.LoadConfig(func(k string) string {
		return map[string]string{"KMSMIG_DISCOVER_LANES_PER_INVOCATION": "100"}[k]
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"kmsmig-discover", "kmsmig-migrate", "kmsmig-rotate"}, deploy.InvokedFunctions(cfg))

	// A fanned-out migrate or poll invokes itself (wiring's Executor
	// Dispatch): poll only then, under its configured name.
	cfg, err = app.LoadConfig(func(k string) string {
		return map[string]string{"KMSMIG_STEP_LANES_PER_INVOCATION": "100", "KMSMIG_FUNCTION_POLL": "ops-poll"}[k]
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"kmsmig-migrate", "kmsmig-rotate", "ops-poll"}, deploy.InvokedFunctions(cfg))
}

// TestAssumeRoleOnlyOnTheConfiguredMembers: the grant lists the member
// roles of the configuration; with no member account there is no grant.
func TestAssumeRoleOnlyOnTheConfiguredMembers(t *testing.T) {
	arns, err := deploy.MemberRoleARNs(homeAccount, []string{homeAccount, memberA, memberB},
		map[string]string{memberB: "acs:ram::" + memberB + ":role/kmsmig-reader"}, "")
	require.NoError(t, err)
	assert.Equal(t, memberRoles, arns, "the home account has no member role; an account without an ARN gets kmsmig-member")

	for _, bad := range []struct {
		accounts []string
		arns     map[string]string
		want     string
	}{
		{[]string{"12ab"}, nil, `account "12ab": want digits only`},
		{nil, map[string]string{memberA: "acs:ram::" + memberB + ":role/x"}, "want acs:ram::" + memberA + ":role/<name>"},
		{nil, map[string]string{memberA: "acs:ram::*:role/x"}, "want acs:ram::" + memberA + ":role/<name>"},
	} {
		_, err := deploy.MemberRoleARNs(homeAccount, bad.accounts, bad.arns, "")
		assert.ErrorContains(t, err, bad.want)
	}

	p := testParams(t)
	p.MemberRoles = nil
	ram := parsePolicy(t, "ram-policy.json", rendered(t, p)["ram-policy.json"])
	assert.NotContains(t, services(ram), "sts", "no member account: no AssumeRole at all")
	for _, s := range readPolicy(t, "ram-policy.json").Statement {
		for _, r := range s.Resource {
			assert.NotContains(t, r, "acs:ram::*", "no role in every account")
		}
	}
}

// TestDeployerPolicy: setting up the trail (kmsmig setup-logs) and the
// state store is the deployer's, exactly the SLS calls the set-up code
// makes, on the kmsmig project's objects; the functions' role has none of
// it.
func TestDeployerPolicy(t *testing.T) {
	p := readPolicy(t, "deployer-policy.json")
	assert.Equal(t, []string{"log", "oss"}, services(p))

	// SLS: every call of the set-up code (the SDK client is c), mapped to
	// its RAM action.
	slsCalls := map[string]string{
		"CreateLogStore": "CreateLogStore", "GetLogStore": "GetLogStore", "CreateIndex": "CreateIndex", "UpdateIndex": "UpdateIndex", "GetIndex": "GetIndex",
		"CreateSavedSearch": "CreateSavedSearch", "GetSavedSearch": "GetSavedSearch", "UpdateSavedSearch": "UpdateSavedSearch",
		"CreateDashboard": "CreateDashboard", "GetDashboardString": "GetDashboard", "UpdateDashboard": "UpdateDashboard",
		"CreateAlert": "CreateAlert", "GetAlertString": "GetAlert", "UpdateAlert": "UpdateAlert",
		"GetResourceRecord": "GetResourceRecord", "CreateResourceRecord": "CreateResourceRecord", "UpdateResourceRecord": "UpdateResourceRecord",
		"SetHTTPClient": "", "String": "",
	}
	want := map[string]bool{}
	for _, f := range []string{"setup.go", "converge.go", "savedsearch.go", "dashboard.go", "alertrule.go", "routing.go"} {
		src, err := os.ReadFile(filepath.Join("../shared/aliyun/sls", f))
		require.NoError(t, err)
		for _, m := range regexp.MustCompile(`\bc\.([A-Z][A-Za-z0-9]+)\(`).FindAllStringSubmatch(string(src), -1) {
			action, ok := slsCalls[m[1]]
			require.True(t, ok, "%s calls %s: map it to its RAM action here and in deployer-policy.json", f, m[1])
			if action != "" {
				want[action] = true
			}
		}
	}
	require.True(t, want["CreateLogStore"], "no SLS set-up call found: did the code move?")
	log := allowed(p, "log")
	assert.Equal(t, sortedKeys(want), sortedKeys(log))
	project := "acs:log:*:" + homeAccount + ":project/<SLS_PROJECT>/"
	records := regexp.MustCompile(`^acs:log:\*:` + homeAccount + `:resource/sls\.alert\.(action_policy|action_webhook)/record/kmsmig\*$`)
	for a, res := range log {
		for _, r := range res {
			if strings.HasSuffix(a, "ResourceRecord") {
				assert.Regexp(t, records, r, "log:%s: kmsmig's alert routing records only", a)
				continue
			}
			assert.True(t, strings.HasPrefix(r, project), "log:%s on %s: the kmsmig project only", a, r)
		}
	}
	for _, a := range []string{"CreateLogStore", "GetLogStore", "CreateIndex", "UpdateIndex", "GetIndex"} {
		assert.Equal(t, []string{project + "logstore/<SLS_LOGSTORE>"}, log[a], "log:%s: the audit logstore only", a)
	}

	// OSS: create the bucket and check versioning stays off; migrate-state
	// works on the prefix like the functions.
	oss := allowed(p, "oss")
	assert.Equal(t, []string{"DeleteObject", "GetBucketVersioning", "GetObject", "ListObjects", "PutBucket", "PutObject"}, sortedKeys(oss))
	assert.Equal(t, []string{"acs:oss:*:*:<STATE_BUCKET>"}, oss["PutBucket"])
	for _, a := range []string{"GetObject", "PutObject", "DeleteObject"} {
		assert.Equal(t, []string{"acs:oss:*:*:<STATE_BUCKET>/<STATE_PREFIX>/*"}, oss[a], "oss:%s", a)
	}

	// None of it on the functions' role.
	fn := readPolicy(t, "ram-policy.json")
	for a := range log {
		if a != "PostLogStoreLogs" {
			assert.NotContains(t, allowed(fn, "log"), a, "set-up action on the functions' role")
		}
	}
	assert.NotContains(t, allowed(fn, "oss"), "PutBucket")
}

// TestFunctionTrustPolicyHasNoUndocumentedCondition: RAM documents no
// condition key that narrows a service principal to one account or
// function (deploy/README.md); a condition it does not know would make the
// role unassumable or be ignored, so the trust policy has none.
func TestFunctionTrustPolicyHasNoUndocumentedCondition(t *testing.T) {
	for _, name := range []string{"fc-role-trust-policy.json", "member-role-trust-policy.json"} {
		for _, s := range readPolicy(t, name).Statement {
			assert.Empty(t, s.Condition, name)
			assert.Empty(t, s.Resource, "%s: a trust policy names principals, not resources", name)
		}
	}
}

func TestRenderRefusesBadInput(t *testing.T) {
	good := deploy.Params{HomeAccount: homeAccount, MemberRoles: memberRoles, Functions: []string{"kmsmig-migrate"}, StateBucket: "b", SLSProject: "p"}
	docs, err := deploy.Render(good)
	require.NoError(t, err)
	names := sortedKeys(docs)
	files := slices.Clone(deploy.Files)
	slices.Sort(files)
	assert.Equal(t, files, names)
	for name, b := range docs {
		assert.True(t, json.Valid(b), name)
		assert.NotRegexp(t, `<[A-Z_]+>`, string(b), name)
	}

	for _, tt := range []struct {
		name string
		edit func(*deploy.Params)
		want string
	}{
		{"home account", func(p *deploy.Params) { p.HomeAccount = "12*" }, `home account "12*": want digits only`},
		{"no bucket", func(p *deploy.Params) { p.StateBucket = "" }, `state bucket "": want letters`},
		{"bucket with a quote", func(p *deploy.Params) { p.StateBucket = `b","*` }, `state bucket "b\",\"*"`},
		{"prefix with ..", func(p *deploy.Params) { p.StatePrefix = "a/../b" }, `state prefix "a/../b"`},
		{"project", func(p *deploy.Params) { p.SLSProject = "p*" }, `SLS project "p*"`},
		{"member role", func(p *deploy.Params) { p.MemberRoles = []string{"acs:ram::*:role/kmsmig-member"} }, `member role "acs:ram::*:role/kmsmig-member"`},
		{"function", func(p *deploy.Params) { p.Functions = []string{"*"} }, `function "*"`},
		{"no function", func(p *deploy.Params) { p.Functions = nil }, "no function to invoke"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := good
			tt.edit(&p)
			_, err := deploy.Render(p)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}
