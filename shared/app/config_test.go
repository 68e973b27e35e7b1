package app

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfigDefaults(t *testing.T) {
	c, err := LoadConfig(env(nil))
	require.NoError(t, err)
	require.Equal(t, "dir:/tmp/kmsmig-state", c.State)
	require.Equal(t, 50, c.Plan.MaxKeys)
	require.Equal(t, 50, c.Plan.MaxSecrets)
	require.Empty(t, c.Accounts)
	require.Zero(t, c.DiscoverLanesPerInvocation, "no fan-out unless asked")
	require.Equal(t, "kmsmig-discover", c.FunctionDiscover)
	require.Zero(t, c.StepLanesPerInvocation, "migrate and poll step every lane themselves unless asked")
	require.Equal(t, "kmsmig-poll", c.FunctionPoll)
	require.Equal(t, DefaultFanoutInvocations, c.FanoutInvocations)
	require.Equal(t, 10, DefaultFanoutInvocations)
}

func TestLoadConfigFull(t *testing.T) {
	c, err := LoadConfig(env(map[string]string{
		"KMSMIG_ACCOUNTS":                      "111, 222",
		"KMSMIG_ROLE_ARNS":                     "222=acs:ram::222:role/kmsmig",
		"KMSMIG_REGIONS":                       "cn-hangzhou,cn-shanghai",
		"KMSMIG_KMS_ENDPOINTS":                 "cn-hangzhou=127.0.0.1:1000,cn-shanghai=http://localhost:1001",
		"KMSMIG_INSECURE":                      "true",
		"KMSMIG_STATE":                         "oss://bucket/prefix",
		"KMSMIG_OSS_ENDPOINT":                  "127.0.0.1:2000",
		"KMSMIG_FC_ENDPOINT":                   "[::1]:3000",
		"KMSMIG_TARGETS":                       "111/cn-hangzhou=kst-1",
		"KMSMIG_BATCH_KEYS":                    "20",
		"KMSMIG_EXCLUDE":                       "secret:test-*;tag:env=dev",
		"KMSMIG_CLOCK":                         "file:/tmp/rehearsal/clock.json",
		"KMSMIG_DISCOVER_LANES_PER_INVOCATION": "100",
		"KMSMIG_STEP_LANES_PER_INVOCATION":     "1000",
		"KMSMIG_FANOUT_INVOCATIONS":            "90",
		"KMSMIG_FUNCTION_POLL":                 "ops-poll",
	}))
	require.NoError(t, err)
	require.Equal(t, []string{"111", "222"}, c.Accounts)
	require.Equal(t, "acs:ram::222:role/kmsmig", c.RoleArns["222"])
	require.True(t, c.Insecure)
	require.Equal(t, map[string]string{"cn-hangzhou": "127.0.0.1:1000", "cn-shanghai": "localhost:1001"}, c.KMSEndpoints,
		"an endpoint URL is kept as host:port, the adapters choose the scheme")
	require.Equal(t, "kst-1", c.Targets[estate.Lane{Account: "111", Region: "cn-hangzhou"}])
	require.Equal(t, 20, c.Plan.MaxKeys)
	require.Equal(t, []string{"secret:test-*", "tag:env=dev"}, c.Plan.Exclude)
	require.Equal(t, "file:/tmp/rehearsal/clock.json", c.Clock)
	require.Equal(t, 100, c.DiscoverLanesPerInvocation)
	require.Equal(t, 1000, c.StepLanesPerInvocation)
	require.Equal(t, 90, c.FanoutInvocations)
	require.Equal(t, "ops-poll", c.FunctionPoll)
}

func TestLoadConfigNamesEveryBadSetting(t *testing.T) {
	_, err := LoadConfig(env(map[string]string{
		"KMSMIG_ACCOUNTS":      "abc",
		"KMSMIG_REGIONS":       "Hangzhou",
		"KMSMIG_ROLE_ARNS":     "222=arn:aws:iam::222:role/x",
		"KMSMIG_INSECURE":      "maybe",
		"KMSMIG_STATE":         "s3://x",
		"KMSMIG_TARGETS":       "nolane=kst-1",
		"KMSMIG_BATCH_SECRETS": "51",
		"KMSMIG_KMS_ENDPOINTS": "cn-hangzhou",
	}))
	require.Error(t, err)
	for _, name := range []string{"KMSMIG_ACCOUNTS", "KMSMIG_REGIONS", "KMSMIG_ROLE_ARNS", "KMSMIG_INSECURE",
		"KMSMIG_STATE", "KMSMIG_TARGETS", "KMSMIG_BATCH_SECRETS", "KMSMIG_KMS_ENDPOINTS"} {
		require.True(t, strings.Contains(err.Error(), name), "error should name %s:\n%v", name, err)
	}
}

// Every value is trimmed of surrounding spaces, whatever its kind; a value
// of spaces only is unset.
func TestLoadConfigTrimsEveryValue(t *testing.T) {
	c, err := LoadConfig(env(map[string]string{
		"KMSMIG_STALL_AFTER":      " 45m ",
		"KMSMIG_POLL_WAIT":        "\t50s",
		"KMSMIG_ALERT_PERIOD":     "2h\n",
		"KMSMIG_MAX_ATTEMPTS":     " 5 ",
		"KMSMIG_BATCH_KEYS":       " 20",
		"KMSMIG_INSECURE":         " true ",
		"KMSMIG_KMS_ENDPOINTS":    " cn-hangzhou=127.0.0.1:1 ",
		"KMSMIG_FC_ENDPOINT":      " 127.0.0.1:2 ",
		"KMSMIG_METHOD":           " automatic ",
		"KMSMIG_STATE":            "   ",
		"KMSMIG_FUNCTION_MIGRATE": "  ",
		"KMSMIG_SEED_REGION":      " cn-hangzhou ",
	}))
	require.NoError(t, err)
	require.Equal(t, 45*time.Minute, c.StallAfter)
	require.Equal(t, 50*time.Second, c.PollWait)
	require.Equal(t, 2*time.Hour, c.AlertPeriod)
	require.Equal(t, 5, c.MaxAttempts)
	require.Equal(t, 20, c.Plan.MaxKeys)
	require.True(t, c.Insecure)
	require.True(t, c.Automatic)
	require.Equal(t, "dir:/tmp/kmsmig-state", c.State, "spaces only is unset")
	require.Equal(t, "kmsmig-migrate", c.FunctionMigrate, "spaces only is unset")
	require.Equal(t, "cn-hangzhou", c.SeedRegion)
}

// Every bad setting's message, exactly: operators read them in the
// function's error.
func TestLoadConfigErrorTexts(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"KMSMIG_ACCOUNTS", "111,abc", `KMSMIG_ACCOUNTS: "abc" is not an account UID (digits only)`},
		{"KMSMIG_ROLE_ARNS", "222=arn:x", `KMSMIG_ROLE_ARNS: role for account 222 must look like acs:ram::222:role/<name>, got "arn:x"`},
		{"KMSMIG_ROLE_ARNS", "222=a,222=b", `KMSMIG_ROLE_ARNS: "222" is given twice`},
		{"KMSMIG_REGIONS", "Hangzhou", `KMSMIG_REGIONS: "Hangzhou" is not a region id like cn-hangzhou`},
		{"KMSMIG_KMS_ENDPOINTS", "cn-hangzhou", `KMSMIG_KMS_ENDPOINTS: "cn-hangzhou": want key=value`},
		{"KMSMIG_INSECURE", "maybe", `KMSMIG_INSECURE: "maybe" is not true or false`},
		{"KMSMIG_STATE", "s3://x", `KMSMIG_STATE: "s3://x": want dir:<path> or oss://<bucket>[/<prefix>]`},
		{"KMSMIG_STATE", "dir:", `KMSMIG_STATE: "dir:": want dir:<path> or oss://<bucket>[/<prefix>]`},
		{"KMSMIG_TIMEZONE", "Mars/Olympus", `KMSMIG_TIMEZONE: "Mars/Olympus" is not an IANA time zone like Asia/Shanghai`},
		{"KMSMIG_WINDOW", "02:00", `KMSMIG_WINDOW: "02:00": want HH:MM-HH:MM, e.g. 02:00-06:00`},
		{"KMSMIG_CLOCK", "/tmp/clock.json", `KMSMIG_CLOCK: "/tmp/clock.json": want file:<path> (rehearsals only) or nothing`},
		{"KMSMIG_CLOCK", "file:", `KMSMIG_CLOCK: "file:": want file:<path> (rehearsals only) or nothing`},
		{"KMSMIG_METHOD", "auto", `KMSMIG_METHOD: "auto": want manual or automatic`},
		{"KMSMIG_BACKEND", "console", `KMSMIG_BACKEND: "console": want task or observe`},
		{"KMSMIG_TASK_ACTIONS", "a,b", `KMSMIG_TASK_ACTIONS: "a,b": want three action names: create,describe,list`},
		{"KMSMIG_MAX_ATTEMPTS", "11", `KMSMIG_MAX_ATTEMPTS: "11": must be a whole number from 1 to 10`},
		{"KMSMIG_BATCH_KEYS", "0", `KMSMIG_BATCH_KEYS: "0": must be a whole number from 1 to 50`},
		{"KMSMIG_BATCH_SECRETS", "x", `KMSMIG_BATCH_SECRETS: "x": must be a whole number from 1 to 50`},
		{"KMSMIG_DISCOVER_LANES_PER_INVOCATION", "0", `KMSMIG_DISCOVER_LANES_PER_INVOCATION: "0": must be a whole number from 1 to 1000`},
		{"KMSMIG_DISCOVER_LANES_PER_INVOCATION", "1001", `KMSMIG_DISCOVER_LANES_PER_INVOCATION: "1001": must be a whole number from 1 to 1000`},
		{"KMSMIG_DISCOVER_LANES_PER_INVOCATION", "-1", `KMSMIG_DISCOVER_LANES_PER_INVOCATION: "-1": must be a whole number from 1 to 1000`},
		{"KMSMIG_DISCOVER_LANES_PER_INVOCATION", "many", `KMSMIG_DISCOVER_LANES_PER_INVOCATION: "many": must be a whole number from 1 to 1000`},
		{"KMSMIG_STEP_LANES_PER_INVOCATION", "0", `KMSMIG_STEP_LANES_PER_INVOCATION: "0": must be a whole number from 1 to 1000 (` + stepLanesWhy + `)`},
		{"KMSMIG_STEP_LANES_PER_INVOCATION", "-5", `KMSMIG_STEP_LANES_PER_INVOCATION: "-5": must be a whole number from 1 to 1000 (` + stepLanesWhy + `)`},
		{"KMSMIG_STEP_LANES_PER_INVOCATION", "5x", `KMSMIG_STEP_LANES_PER_INVOCATION: "5x": must be a whole number from 1 to 1000 (` + stepLanesWhy + `)`},
		{"KMSMIG_STEP_LANES_PER_INVOCATION", "1001", `KMSMIG_STEP_LANES_PER_INVOCATION: "1001": must be a whole number from 1 to 1000 (` + stepLanesWhy + `)`},
		{"KMSMIG_FANOUT_INVOCATIONS", "0", `KMSMIG_FANOUT_INVOCATIONS: "0": must be a whole number from 1 to 90 (` + fanoutWhy + `)`},
		{"KMSMIG_FANOUT_INVOCATIONS", "-1", `KMSMIG_FANOUT_INVOCATIONS: "-1": must be a whole number from 1 to 90 (` + fanoutWhy + `)`},
		{"KMSMIG_FANOUT_INVOCATIONS", "ten", `KMSMIG_FANOUT_INVOCATIONS: "ten": must be a whole number from 1 to 90 (` + fanoutWhy + `)`},
		{"KMSMIG_FANOUT_INVOCATIONS", "91", `KMSMIG_FANOUT_INVOCATIONS: "91": must be a whole number from 1 to 90 (` + fanoutWhy + `)`},
		{"KMSMIG_FUNCTION_POLL", "../poll", `KMSMIG_FUNCTION_POLL: "../poll" is not a Function Compute function name (letters, digits, _ and -, 1 to 64 characters, not starting with a digit or -) or - (no chaining)`},
		{"KMSMIG_STALL_AFTER", "0s", `KMSMIG_STALL_AFTER: "0s": want a duration like 30m`},
		{"KMSMIG_POLL_WAIT", "16m", `KMSMIG_POLL_WAIT: "16m": want a duration from 0 to 15m, e.g. 50s`},
		{"KMSMIG_OBSERVE_TIMEOUT", "721h", `KMSMIG_OBSERVE_TIMEOUT: "721h": want a duration from 1m to 720h, e.g. 24h`},
		{"KMSMIG_ALERT_PERIOD", "-1s", `KMSMIG_ALERT_PERIOD: "-1s": want a duration of at least 1m, like 30m or 2h (de-duplication cannot be turned off)`},
		{"KMSMIG_ALERT_PERIOD", "0", `KMSMIG_ALERT_PERIOD: "0": want a duration of at least 1m, like 30m or 2h (de-duplication cannot be turned off)`},
		{"KMSMIG_QPS", "tags=0.05", `KMSMIG_QPS: tags=0.05: want one of key-read, key-write, tags, secret-read, secret-write, instance-read, migration = a finite rate of at least 0.1 per second`},
		{"KMSMIG_AUDIT", "loud", `KMSMIG_AUDIT: "loud": want auto, sls, stdout or off`},
		{"KMSMIG_ALERT_WEBHOOK", "ftp://x", `KMSMIG_ALERT_WEBHOOK: must be an http(s) URL with a host and no user (the value is not shown: it holds a token)`},
		{"KMSMIG_DINGTALK_WEBHOOK", "oapi.dingtalk.com", `KMSMIG_DINGTALK_WEBHOOK: must be an http(s) URL with a host and no user (the value is not shown: it holds a token)`},
		{"KMSMIG_DINGTALK_SECRET", "SEC1", `KMSMIG_DINGTALK_SECRET: is set but KMSMIG_DINGTALK_WEBHOOK is not`},
		{"KMSMIG_TARGETS", "nolane=kst-1", `KMSMIG_TARGETS: `},
		{"KMSMIG_INCLUDE", "owner:bob", `KMSMIG_INCLUDE/KMSMIG_EXCLUDE: `},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			_, err := LoadConfig(env(map[string]string{tt.name: tt.value}))
			require.Error(t, err)
			msg := strings.TrimPrefix(err.Error(), "configuration: ")
			if strings.HasSuffix(tt.want, ": ") {
				require.True(t, strings.HasPrefix(msg, tt.want), "got %q", msg)
				require.NotContains(t, msg, "\n", "one bad setting, one line")
				return
			}
			require.Equal(t, tt.want, msg)
		})
	}
	_, err := LoadConfig(env(map[string]string{"KMSMIG_BACKEND": "observe", "KMSMIG_METHOD": "automatic"}))
	require.EqualError(t, err, "configuration: KMSMIG_METHOD: automatic applies to the task backend only; with KMSMIG_BACKEND=observe the operator starts the migration")
	for _, fn := range []string{"KMSMIG_FUNCTION_MIGRATE", "KMSMIG_FUNCTION_POLL"} {
		_, err = LoadConfig(env(map[string]string{"KMSMIG_STEP_LANES_PER_INVOCATION": "5", fn: "-"}))
		require.EqualError(t, err, "configuration: KMSMIG_STEP_LANES_PER_INVOCATION: is set but "+fn+" is - (no chaining): a coordinating step hands its groups to its own function")
	}
}

const (
	stepLanesWhy = "a group's event names its lanes, and above 1000 lanes it could exceed Function Compute's 128 KB asynchronous payload"
	fanoutWhy    = "the group invocations one coordinator hands out at once; at most 90, 90% of Function Compute's default limit of 100 instances per account and region"
)

func TestEngineConfig(t *testing.T) {
	c, err := LoadConfig(env(map[string]string{
		"KMSMIG_WINDOW": "02:00-06:00", "KMSMIG_TIMEZONE": "Asia/Shanghai", "KMSMIG_METHOD": "automatic",
		"KMSMIG_MAX_ATTEMPTS": "5", "KMSMIG_STALL_AFTER": "45m", "KMSMIG_POLL_WAIT": "50s",
		"KMSMIG_FUNCTION_MIGRATE": "-", "KMSMIG_FUNCTION_ROTATE": "my-rotate",
	}))
	require.NoError(t, err)
	now := time.Date(2026, 11, 28, 19, 0, 0, 0, time.UTC) // 03:00 in Shanghai: the window is open
	ec := c.EngineConfig(now)
	require.Equal(t, time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC), ec.Window.Start.UTC())
	require.Equal(t, time.Date(2026, 11, 28, 22, 0, 0, 0, time.UTC), ec.Window.End.UTC())
	require.True(t, ec.Automatic)
	require.Equal(t, 5, ec.MaxAttempts)
	require.Equal(t, 45*time.Minute, ec.StallAfter)
	require.Equal(t, 50*time.Second, ec.PollWait)
	require.Empty(t, ec.Functions.Migrate, "- turns chaining to migrate off")
	require.Equal(t, "my-rotate", ec.Functions.Rotate)

	d, err := LoadConfig(env(nil))
	require.NoError(t, err)
	ec = d.EngineConfig(now)
	require.True(t, ec.Window.Start.IsZero() && ec.Window.End.IsZero(), "no window: always open")
	require.Equal(t, "kmsmig-migrate", ec.Functions.Migrate)
	require.Equal(t, "kmsmig-rotate", ec.Functions.Rotate)
	require.Equal(t, "task", ec.Backend)
}
