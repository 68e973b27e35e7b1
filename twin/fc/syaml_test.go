package fc_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/fc"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

var syamlEnv = map[string]string{"ACCOUNT_ID": testAccount, "BUCKET": "kmsmig-state"}

func TestLoadSYAML(t *testing.T) {
	fns, err := fc.LoadSYAML(filepath.Join("testdata", "s.yaml"), fc.LoadOptions{Env: syamlEnv})
	require.NoError(t, err)
	require.Len(t, fns, 2)

	d := fns[0]
	abs, _ := filepath.Abs("testdata")
	assert.Equal(t, "kmsmig-discover", d.Name)
	assert.Equal(t, filepath.Join(abs, "dist", "discover", "main"), mustAbs(t, d.Binary))
	assert.Equal(t, "main", d.HandlerName)
	assert.Equal(t, "go1", d.Runtime)
	assert.Equal(t, testRegion, d.Region)
	assert.Equal(t, testAccount, d.AccountID, "taken from the role ARN")
	assert.Equal(t, testRole, d.Role)
	assert.Equal(t, 900*time.Second, d.Timeout)
	assert.Equal(t, 512, d.MemoryMB)
	assert.Equal(t, 2, d.InstanceConcurrency)
	assert.Equal(t, 10, d.MaxInstances)
	assert.Equal(t, map[string]string{
		"KMSMIG_BUCKET": "kmsmig-state",
		"KMSMIG_LANE":   "cn-hangzhou/" + testAccount,
		"KMSMIG_BATCH":  "50",
	}, d.Env)
	assert.Equal(t, "kmsmig-logs", d.LogProject)
	assert.Equal(t, "fc", d.LogStore)
	assert.Equal(t, 2, d.AsyncInvokeConfig.Retries())
	assert.Equal(t, "acs:fc:cn-hangzhou:"+testAccount+":functions/kmsmig-dlq", d.AsyncInvokeConfig.OnFailure)
	assert.Empty(t, d.AsyncInvokeConfig.OnSuccess)
	assert.Equal(t, []fc.Timer{
		{Name: "every5m", CronExpression: "@every 5m", Enable: true, Payload: `{"mode":"discover"}`},
		{Name: "nightly", CronExpression: "CRON_TZ=Asia/Shanghai 0 0 2 * * *", Enable: false},
	}, d.Triggers)
	assert.Equal(t, []fc.OSSTrigger{{Name: "uploads", SourceArn: "acs:oss:cn-hangzhou:" + testAccount + ":kmsmig-state", Bucket: "kmsmig-state",
		Events: []string{"oss:ObjectCreated:*"}, Prefix: "in/", Suffix: ".json", InvocationRole: "acs:ram::" + testAccount + ":role/oss-trigger"}}, d.OSSTriggers)

	q := fns[1]
	assert.Equal(t, "kmsmig-dlq", q.Name)
	assert.Equal(t, filepath.Join(abs, "dist", "dlq", "bootstrap"), mustAbs(t, q.Binary))
	assert.Equal(t, fc.DefaultTimeout, q.Timeout, "schema default 3 s")
	assert.Zero(t, q.InstanceConcurrency, "not set: the twin's one instance")
	assert.Zero(t, q.MaxInstances)
	assert.Equal(t, 3, q.AsyncInvokeConfig.Retries())
	assert.Equal(t, "serverless-cn-hangzhou-", q.LogProject, "logConfig auto, no account known")
	assert.Equal(t, "default-logs", q.LogStore)

	// Vars given by the caller win; the account can be fixed.
	fns, err = fc.LoadSYAML(filepath.Join("testdata", "s.yaml"), fc.LoadOptions{
		Env: syamlEnv, Vars: map[string]string{"region": "cn-shanghai"}, AccountID: "42",
		Binary: func(fn fc.Function, codeDir string) string { return "/bin/" + fn.Name },
	})
	require.NoError(t, err)
	assert.Equal(t, "cn-shanghai", fns[0].Region)
	assert.Equal(t, "42", fns[1].AccountID)
	assert.Equal(t, "/bin/kmsmig-dlq", fns[1].Binary)
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	require.NoError(t, err)
	return a
}

func TestLoadSYAMLErrorsNameThePath(t *testing.T) {
	good := string(readTestdata(t, "s.yaml"))
	tests := []struct {
		name    string
		edit    func(string) string
		env     map[string]string
		wantErr []string
	}{
		{"missing env", nil, map[string]string{"ACCOUNT_ID": testAccount},
			[]string{"resources.discover.props.environmentVariables.KMSMIG_BUCKET", "line 25", "BUCKET is not set"}},
		{"env missing inside vars", nil, map[string]string{"BUCKET": "b"},
			[]string{"vars.role", "ACCOUNT_ID is not set"}},
		{"undefined var", repl("${vars.region}/", "${vars.zone}/"), nil,
			[]string{"resources.discover.props.environmentVariables.KMSMIG_LANE", "vars.zone is not defined"}},
		{"unsupported reference", repl("handler: main", "handler: ${resources.dlq.props.handler}"), nil,
			[]string{"resources.discover.props.handler", "unsupported reference"}},
		{"timeout not a number", repl("timeout: 900", "timeout: soon"), nil,
			[]string{"resources.discover.props.timeout", "want an integer"}},
		{"timeout out of range", repl("timeout: 900", "timeout: 90000"), nil,
			[]string{"resources.discover.props.timeout", "1..86400"}},
		{"memory not a multiple of 64", repl("memorySize: 512", "memorySize: 500"), nil,
			[]string{"resources.discover.props.memorySize", "multiple of 64"}},
		{"instance concurrency out of range", repl("instanceConcurrency: 2", "instanceConcurrency: 201"), nil,
			[]string{"resources.discover.props.instanceConcurrency", "1..200"}},
		{"instance concurrency zero", repl("instanceConcurrency: 2", "instanceConcurrency: 0"), nil,
			[]string{"resources.discover.props.instanceConcurrency", "1..200"}},
		{"reserved concurrency out of range", repl("reservedConcurrency: 10", "reservedConcurrency: 301"), nil,
			[]string{"resources.discover.props.concurrencyConfig.reservedConcurrency", "1..300"}},
		{"concurrency config not a mapping", repl("concurrencyConfig:\n        reservedConcurrency: 10", "concurrencyConfig: 10"), nil,
			[]string{"resources.discover.props.concurrencyConfig", "a mapping"}},
		{"retries out of range", repl("maxAsyncRetryAttempts: 2", "maxAsyncRetryAttempts: 9"), nil,
			[]string{"resources.discover.props.asyncInvokeConfig.maxAsyncRetryAttempts", "0..8"}},
		{"bad cron", repl(`"@every 5m"`, `"every five minutes"`), nil,
			[]string{"resources.discover.props.triggers[0].triggerConfig.cronExpression", "invalid cron"}},
		{"enable missing", repl("            enable: false\n", ""), nil,
			[]string{"resources.discover.props.triggers[1].triggerConfig", "enable is missing"}},
		{"enable not a bool", repl("enable: true", "enable: yes please"), nil,
			[]string{"resources.discover.props.triggers[0].triggerConfig.enable", "want true or false"}},
		{"unknown trigger type", repl("triggerType: oss", "triggerType: ftp"), nil,
			[]string{"resources.discover.props.triggers[2].triggerType", `"ftp"`}},
		{"oss trigger without sourceArn", repl("          sourceArn: acs:oss:cn-hangzhou:${env(ACCOUNT_ID)}:${env(BUCKET)}\n", ""), nil,
			[]string{"resources.discover.props.triggers[2]", "sourceArn is missing"}},
		{"oss trigger with a bad sourceArn", repl("sourceArn: acs:oss:cn-hangzhou:", "sourceArn: acs:mns:cn-hangzhou:"), nil,
			[]string{"resources.discover.props.triggers[2].sourceArn", "want acs:oss:<region>:<account>:<bucket>"}},
		{"oss trigger with an unknown event", repl(`"oss:ObjectCreated:*"`, `"oss:ObjectRead:GetObject"`), nil,
			[]string{"resources.discover.props.triggers[2].triggerConfig.events", `OSS event "oss:ObjectRead:GetObject"`}},
		{"oss trigger without suffix", repl("suffix: .json", "sufix: .json"), nil,
			[]string{"resources.discover.props.triggers[2].triggerConfig.filter.key", "suffix is missing"}},
		{"function name missing", repl("functionName: kmsmig-dlq", "description: x"), nil,
			[]string{"resources.dlq.props", "functionName is missing"}},
		{"handler missing for go1", repl("      handler: main\n", ""), nil,
			[]string{"resources.discover.props", "handler is missing"}},
		{"unsupported runtime", repl("runtime: go1", "runtime: python3.10"), nil,
			[]string{"resources.discover.props.runtime", "go1 and custom"}},
		{"destination not a function", repl("destination: acs:fc:cn-hangzhou:${env(ACCOUNT_ID)}:functions/kmsmig-dlq", "destination: acs:mns:cn-hangzhou:1:/queues/q"), nil,
			[]string{"resources.discover.props.asyncInvokeConfig.destinationConfig.onFailure.destination", "functions only"}},
		{"logConfig incomplete", repl("logConfig: auto", "logConfig: {project: p}"), nil,
			[]string{"resources.dlq.props.logConfig", "logstore is missing"}},
		{"wrong edition", repl("edition: 3.0.0", "edition: 1.0.0"), nil,
			[]string{"edition", "want 3.0.0"}},
		{"not yaml", func(string) string { return "resources: [" }, nil,
			[]string{"s.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := good
			if tt.edit != nil {
				doc = tt.edit(good)
				require.NotEqual(t, good, doc, "the edit changed nothing")
			}
			env := tt.env
			if env == nil {
				env = syamlEnv
			}
			path := filepath.Join(t.TempDir(), "s.yaml")
			require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
			_, err := fc.LoadSYAML(path, fc.LoadOptions{Env: env})
			require.Error(t, err)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
			assert.Contains(t, err.Error(), path, "the error names the file")
		})
	}
}

func repl(old, new string) func(string) string {
	return func(s string) string { return strings.Replace(s, old, new, 1) }
}

func TestLoadedFunctionsDeploy(t *testing.T) {
	fns, err := fc.LoadSYAML(filepath.Join("testdata", "s.yaml"), fc.LoadOptions{
		Env:    syamlEnv,
		Binary: func(fc.Function, string) string { return fcfunc },
	})
	require.NoError(t, err)
	s, _ := newServer(t, fc.Config{})
	for _, fn := range fns {
		fn.Triggers = nil // fired in TestTimerFiresOnAcceleratedClock
		require.NoError(t, s.Deploy(fn))
	}
	_, r := invoke(t, s, "kmsmig-discover", map[string]any{"op": "context", "env": []string{"KMSMIG_BUCKET"}})
	assert.Equal(t, "kmsmig-state", r.Env["KMSMIG_BUCKET"])
	assert.Equal(t, 900, r.Context.Function.Timeout)
	assert.Equal(t, "kmsmig-logs", r.Context.Service.LogProject)
}
