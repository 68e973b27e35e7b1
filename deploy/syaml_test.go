package deploy_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/twin/fc"
)

// The deployment's s.yaml is read by two programs: Serverless Devs (`s
// deploy`; deploy/check-spec.js runs its parser and the fc3 schema) and the
// FC twin's loader, which the offline rehearsal runs it with. These tests
// load the very file with the twin's loader.

const (
	testAccount = "1234567890123456"
	testBucket  = "kmsmig-state-test"
	testProject = "kmsmig-audit-test"
)

// deployEnv is what the shell running `s deploy` must export.
var deployEnv = map[string]string{
	"ALIBABA_CLOUD_ACCOUNT_ID": testAccount,
	"KMSMIG_STATE_BUCKET":      testBucket,
	"KMSMIG_SLS_PROJECT":       testProject,
}

var functionNames = []string{"kmsmig-discover", "kmsmig-migrate", "kmsmig-poll", "kmsmig-rotate"}

func loadSYAML(t *testing.T, opts fc.LoadOptions) map[string]fc.Function {
	t.Helper()
	if opts.Env == nil {
		opts.Env = deployEnv
	}
	fns, err := fc.LoadSYAML("../s.yaml", opts)
	require.NoError(t, err)
	out := map[string]fc.Function{}
	for _, f := range fns {
		out[f.Name] = f
	}
	require.Equal(t, functionNames, sortedKeys(out), "the four functions, named kmsmig-<name>")
	return out
}

func TestSYAMLFunctions(t *testing.T) {
	fns := loadSYAML(t, fc.LoadOptions{})
	repo, err := filepath.Abs("..")
	require.NoError(t, err)
	timeouts := map[string]time.Duration{
		"kmsmig-discover": 900 * time.Second, "kmsmig-migrate": 900 * time.Second,
		"kmsmig-poll": 120 * time.Second, "kmsmig-rotate": 900 * time.Second,
	}
	for _, name := range functionNames {
		f := fns[name]
		short := strings.TrimPrefix(name, "kmsmig-")
		assert.Equal(t, "go1", f.Runtime, name)
		assert.Equal(t, "main", f.HandlerName, name)
		// The Makefile's build output: dist/<name>/main.
		bin, err := filepath.Abs(f.Binary)
		require.NoError(t, err)
		assert.Equal(t, filepath.Join(repo, "dist", short, "main"), bin, name)
		assert.Equal(t, "cn-hangzhou", f.Region, name)
		assert.Equal(t, "acs:ram::"+testAccount+":role/kmsmig-fc", f.Role, name)
		assert.Equal(t, testAccount, f.AccountID, "%s: the account of the role", name)
		assert.Equal(t, timeouts[name], f.Timeout, name)
		assert.Zero(t, f.MemoryMB%64, name)
		assert.Equal(t, testProject, f.LogProject, name)
		assert.Equal(t, "kmsmig-fc-logs", f.LogStore, name)
	}
	assert.Less(t, fns["kmsmig-poll"].Timeout, time.Minute*5, "poll runs every minute: keep it short")
}

func TestSYAMLTimers(t *testing.T) {
	fns := loadSYAML(t, fc.LoadOptions{})
	want := map[string]fc.Timer{
		"kmsmig-discover": {Name: "discover-before-window", CronExpression: "CRON_TZ=Asia/Shanghai 0 0 1 * * *", Enable: true, Payload: "{}"},
		"kmsmig-migrate":  {Name: "migrate-window-start", CronExpression: "CRON_TZ=Asia/Shanghai 0 0 2 * * *", Enable: true, Payload: "{}"},
		"kmsmig-poll":     {Name: "poll-every-minute", CronExpression: "@every 1m", Enable: true, Payload: "{}"},
		"kmsmig-rotate":   {Name: "rotation-sweep", CronExpression: "CRON_TZ=Asia/Shanghai 0 30 7 * * *", Enable: true, Payload: `{"action":"sweep"}`},
	}
	for _, name := range functionNames {
		require.Len(t, fns[name].Triggers, 1, name)
		tr := fns[name].Triggers[0]
		assert.Equal(t, want[name], tr, name)
		var obj map[string]any
		assert.NoError(t, json.Unmarshal([]byte(tr.Payload), &obj), "%s: a timer payload is a JSON object the function decodes", name)
	}

	// The discover payload is DiscoverOptions, decoded strictly.
	dec := json.NewDecoder(bytes.NewReader([]byte(fns["kmsmig-discover"].Triggers[0].Payload)))
	dec.DisallowUnknownFields()
	var opts app.DiscoverOptions
	assert.NoError(t, dec.Decode(&opts))

	// The schedule is in local time: discover, then the window, then the sweep.
	day := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	next := func(name string) time.Time {
		s, err := fc.ParseCron(want[name].CronExpression)
		require.NoError(t, err)
		return s.Next(day)
	}
	shanghai := time.FixedZone("CST", 8*3600)
	assert.Equal(t, "01:00", next("kmsmig-discover").In(shanghai).Format("15:04"))
	assert.Equal(t, "02:00", next("kmsmig-migrate").In(shanghai).Format("15:04"))
	assert.Equal(t, "07:30", next("kmsmig-rotate").In(shanghai).Format("15:04"))
	assert.Equal(t, day.Add(time.Minute), next("kmsmig-poll"))

	// CRON_TZ and the times are vars.
	fns = loadSYAML(t, fc.LoadOptions{Vars: map[string]string{"timezone": "Europe/Berlin", "migrateAt": "0 30 23 * * *"}})
	assert.Equal(t, "CRON_TZ=Europe/Berlin 0 30 23 * * *", fns["kmsmig-migrate"].Triggers[0].CronExpression)
	assert.Equal(t, "CRON_TZ=Europe/Berlin 0 0 1 * * *", fns["kmsmig-discover"].Triggers[0].CronExpression)
}

func TestSYAMLAsyncInvokeConfig(t *testing.T) {
	fns := loadSYAML(t, fc.LoadOptions{})
	rotateARN := "acs:fc:cn-hangzhou:" + testAccount + ":functions/kmsmig-rotate"
	retries := map[string]int{"kmsmig-discover": 2, "kmsmig-migrate": 2, "kmsmig-poll": 0, "kmsmig-rotate": 3}
	for _, name := range functionNames {
		c := fns[name].AsyncInvokeConfig
		assert.Equal(t, retries[name], c.Retries(), name)
		assert.Empty(t, c.OnSuccess, name)
		if name == "kmsmig-rotate" {
			assert.Empty(t, c.OnFailure, "rotate is the failure path: a destination to itself would loop")
			continue
		}
		require.Equal(t, rotateARN, c.OnFailure, "%s: failures reach the alerting path", name)
		region, account, target, err := fc.ParseFunctionARN(c.OnFailure)
		require.NoError(t, err)
		assert.Equal(t, fns[name].Region, region, "%s: the destination is in the function's region", name)
		assert.Equal(t, fns[name].AccountID, account, "%s: and in its account", name)
		assert.Contains(t, fns, target, "%s: the destination is one of the four functions", name)
	}

	// Moving the functions moves the destinations with them.
	fns = loadSYAML(t, fc.LoadOptions{Vars: map[string]string{"region": "cn-shanghai"}})
	for _, name := range functionNames {
		assert.Equal(t, "cn-shanghai", fns[name].Region)
	}
	assert.Equal(t, "acs:fc:cn-shanghai:"+testAccount+":functions/kmsmig-rotate", fns["kmsmig-poll"].AsyncInvokeConfig.OnFailure)
}

// pendingSettings are the audit and alert settings that were being added to
// shared/app.Config while s.yaml was written. Once they are in the README's
// configuration table and the code, this list is redundant.
var pendingSettings = []string{
	"KMSMIG_AUDIT", "KMSMIG_SLS_PROJECT", "KMSMIG_SLS_LOGSTORE", "KMSMIG_SLS_ENDPOINT",
	"KMSMIG_ALERT_WEBHOOK", "KMSMIG_DINGTALK_WEBHOOK", "KMSMIG_DINGTALK_SECRET", "KMSMIG_ALERT_PERIOD",
}

var settingName = regexp.MustCompile(`KMSMIG_[A-Z0-9_]*[A-Z0-9]`)

// documentedSettings returns the KMSMIG_* names of the README's
// "Configuration" section and those the functions' code reads (quoted
// names in shared/ and functions/, tests excluded).
func documentedSettings(t *testing.T) (readme, code map[string]bool) {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(b), "\n## Configuration\n")
	require.True(t, ok, "README.md has a Configuration section")
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	readme = map[string]bool{}
	for _, n := range settingName.FindAllString(section, -1) {
		readme[n] = true
	}
	code = map[string]bool{}
	quotedName := regexp.MustCompile(`"(KMSMIG_[A-Z0-9_]*[A-Z0-9])"`)
	for _, root := range []string{"../shared", "../functions"} {
		require.NoError(t, filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range quotedName.FindAllStringSubmatch(string(src), -1) {
				code[m[1]] = true
			}
			return nil
		}))
	}
	require.NotEmpty(t, readme)
	require.NotEmpty(t, code)
	return readme, code
}

func TestSYAMLEnvironment(t *testing.T) {
	fns := loadSYAML(t, fc.LoadOptions{})
	env := fns["kmsmig-discover"].Env
	for _, name := range functionNames {
		assert.Equal(t, env, fns[name].Env, "%s: the four functions read one configuration", name)
	}

	readme, code := documentedSettings(t)
	known := map[string]bool{}
	for _, m := range []map[string]bool{readme, code} {
		for k := range m {
			known[k] = true
		}
	}
	for _, n := range pendingSettings {
		known[n] = true
	}
	for _, n := range sortedKeys(readme) {
		assert.Contains(t, env, n, "README documents %s: s.yaml must set it", n)
	}
	for _, n := range sortedKeys(code) {
		assert.Contains(t, env, n, "the code reads %s: s.yaml must set it", n)
	}
	for _, n := range pendingSettings {
		assert.Contains(t, env, n)
	}
	for _, n := range sortedKeys(env) {
		assert.True(t, known[n], "s.yaml sets %s, which neither the README nor the code knows", n)
	}

	// Production values: state in OSS under the policy's prefix, the audit
	// trail in the deploy-time project, no twin-only overrides.
	assert.Equal(t, "oss://"+testBucket+"/kmsmig", env["KMSMIG_STATE"])
	assert.Equal(t, testProject, env["KMSMIG_SLS_PROJECT"])
	assert.Equal(t, "kmsmig-audit", env["KMSMIG_SLS_LOGSTORE"])
	assert.Equal(t, "sls", env["KMSMIG_AUDIT"], "production audits to SLS, never silently to stdout")
	assert.Equal(t, "false", env["KMSMIG_INSECURE"])
	assert.Empty(t, env["KMSMIG_CLOCK"], "production runs on the wall clock")
	for _, n := range []string{"KMSMIG_KMS_ENDPOINTS", "KMSMIG_STS_ENDPOINT", "KMSMIG_OSS_ENDPOINT", "KMSMIG_SLS_ENDPOINT"} {
		assert.Empty(t, env[n], "%s: empty = the functions' region's public endpoint; overrides are for the twins", n)
	}
	for _, n := range []string{"KMSMIG_ALERT_WEBHOOK", "KMSMIG_DINGTALK_WEBHOOK", "KMSMIG_DINGTALK_SECRET"} {
		assert.Empty(t, env[n], "%s carries a token: it comes from the deploying shell, never from the file", n)
	}
	size := 0
	for k, v := range env {
		size += len(k) + len(v)
	}
	assert.Less(t, size, 4096, "FC allows 4 KB of environment variables in all")

	// The functions accept this configuration as it stands.
	cfg, err := app.LoadConfig(func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, "oss://"+testBucket+"/kmsmig", cfg.State)
	assert.Equal(t, 50, cfg.Plan.MaxKeys)
	assert.Equal(t, 50, cfg.Plan.MaxSecrets)
}

// TestSYAMLNeedsTheDeployEnvironment: a missing deploy-time variable stops
// the load with its name (s deploy stops the same way; check-spec.js).
func TestSYAMLNeedsTheDeployEnvironment(t *testing.T) {
	for _, missing := range sortedKeys(deployEnv) {
		env := map[string]string{}
		for k, v := range deployEnv {
			if k != missing {
				env[k] = v
			}
		}
		_, err := fc.LoadSYAML("../s.yaml", fc.LoadOptions{Env: env})
		require.Error(t, err, missing)
		assert.Contains(t, err.Error(), missing+" is not set")
	}
}

// TestSYAMLDeploysOnTheTwin: the loaded functions are accepted by the FC
// twin as they are (names, timeouts, memory, roles), which is how the
// offline rehearsal will run them.
func TestSYAMLDeploysOnTheTwin(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "main")
	require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\nexit 1\n"), 0o755))
	fns := loadSYAML(t, fc.LoadOptions{Binary: func(fc.Function, string) string { return exe }})
	s := fc.New(fc.Config{})
	t.Cleanup(func() { _ = s.Close() })
	names := make([]string, 0, len(fns))
	for _, f := range fns {
		f.Triggers = nil // no timers on the real clock in a unit test
		require.NoError(t, s.Deploy(f), f.Name)
		names = append(names, f.Name)
	}
	sort.Strings(names)
	for _, n := range names {
		got, ok := s.Function(n)
		require.True(t, ok, n)
		assert.Equal(t, fns[n].Timeout, got.Timeout)
		assert.Equal(t, fns[n].AsyncInvokeConfig.Retries(), got.AsyncInvokeConfig.Retries())
	}
}

// migrate's OSS trigger watches the approvals the run-state store's
// prefix announces (app.Config.ApprovalTrigger), in the state bucket; the
// functions require approval.
func TestSYAMLApprovalTrigger(t *testing.T) {
	fns := loadSYAML(t, fc.LoadOptions{})
	for _, name := range functionNames {
		assert.Equal(t, "required", fns[name].Env["KMSMIG_APPROVAL"], name)
		if name != "kmsmig-migrate" {
			assert.Empty(t, fns[name].OSSTriggers, name)
		}
	}
	m := fns["kmsmig-migrate"]
	require.Len(t, m.OSSTriggers, 1)
	tr := m.OSSTriggers[0]
	cfg, err := app.LoadConfig(func(k string) string { return m.Env[k] })
	require.NoError(t, err)
	want, ok := cfg.ApprovalTrigger()
	require.True(t, ok)
	assert.Equal(t, want.Bucket, tr.Bucket)
	assert.Equal(t, want.Prefix, tr.Prefix, "the trigger's prefix is where kmsmig approve writes")
	assert.Equal(t, ".json", tr.Suffix)
	assert.Equal(t, []string{"oss:ObjectCreated:*"}, tr.Events)
	assert.Equal(t, "acs:oss:cn-hangzhou:"+deployEnv["ALIBABA_CLOUD_ACCOUNT_ID"]+":"+deployEnv["KMSMIG_STATE_BUCKET"], tr.SourceArn)
	assert.Equal(t, "acs:ram::"+deployEnv["ALIBABA_CLOUD_ACCOUNT_ID"]+":role/kmsmig-oss-trigger", tr.InvocationRole)
}
