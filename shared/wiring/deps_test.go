package wiring_test

import (
	"context"
	"strings"
	"testing"
	"time"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/fcruntime"
	"github.com/kmsmig/kmsmig/shared/aliyun/sls"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/wiring"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
	slstwin "github.com/kmsmig/kmsmig/twin/sls"
)

func TestCredentials(t *testing.T) {
	cfg := app.Config{RoleArns: map[string]string{"2222": "acs:ram::2222:role/kmsmig"}, STSEndpoint: "sts.example.com"}
	inv := fcruntime.Invocation{RequestID: "req-1", Function: "kmsmig-poll", AccountID: "1111",
		AccessKeyID: "STS.AK", AccessKeySecret: "secret", SecurityToken: "token"}
	creds, err := wiring.Credentials(cfg, inv)
	require.NoError(t, err)
	assert.Equal(t, "1111", creds.Home)
	assert.Equal(t, cfg.RoleArns, creds.RoleArns)
	assert.Equal(t, "sts.example.com", creds.STSEndpoint)
	assert.Equal(t, "kmsmig-kmsmig-poll", creds.SessionName)

	// The function's own account signs with the invocation's STS credential.
	home, err := creds.For("1111")
	require.NoError(t, err)
	c, err := home.GetCredential()
	require.NoError(t, err)
	assert.Equal(t, "STS.AK", *c.AccessKeyId)
	assert.Equal(t, "token", *c.SecurityToken)
	// An account without a role cannot be reached.
	_, err = creds.For("3333")
	require.ErrorContains(t, err, "account 3333: no RAM role configured")

	_, err = wiring.Credentials(cfg, fcruntime.Invocation{RequestID: "req-2"})
	require.EqualError(t, err, "invocation req-2 carries no credentials (give the function a role: s.yaml role)")
}

func TestOpenStore(t *testing.T) {
	ctx := t.Context()
	store, err := wiring.OpenStore(ctx, app.Config{State: "dir:" + t.TempDir()}, nil, "cn-hangzhou")
	require.NoError(t, err)
	_, err = store.Create(ctx, "probe", []byte("x"))
	require.NoError(t, err)
	obj, err := store.Get(ctx, "probe")
	require.NoError(t, err)
	assert.Equal(t, "x", string(obj.Data))

	for _, tt := range []struct{ state, want string }{
		{"s3://bucket", `KMSMIG_STATE "s3://bucket": want dir:<path> or oss://<bucket>[/<prefix>]`},
		{"", `KMSMIG_STATE "": want dir:<path> or oss://<bucket>[/<prefix>]`},
		{"oss://bucket/prefix", `KMSMIG_STATE oss://bucket/prefix: no credential for OSS`},
	} {
		_, err := wiring.OpenStore(ctx, app.Config{State: tt.state}, nil, "cn-hangzhou")
		require.EqualError(t, err, tt.want)
	}
}

// homeAccount returns the stack's account that owns the state bucket, the
// log project and the functions.
func homeAccount(t *testing.T, st *stack.Stack) stack.Account {
	t.Helper()
	for _, a := range st.Ready().Accounts {
		if a.ID == st.Ready().Home {
			return a
		}
	}
	require.FailNow(t, "no home account")
	return stack.Account{}
}

func startStack(t *testing.T) *stack.Stack {
	t.Helper()
	st, err := stack.Start(stack.Options{Inventory: kmstwin.DemoInventory(), Unthrottled: true})
	require.NoError(t, err)
	// Shutdown waits up to 5 s for idle connections; the listeners close at
	// once either way.
	t.Cleanup(func() { go st.Close() })
	return st
}

// invocation is an invocation of the stack's home account, signed with its
// access key (the twins take it where Function Compute passes STS
// credentials).
func invocation(t *testing.T, st *stack.Stack, function string) fcruntime.Invocation {
	home := homeAccount(t, st)
	return fcruntime.Invocation{RequestID: "req-" + function, Function: "kmsmig-" + function, AccountID: home.ID, Region: "cn-hangzhou",
		AccessKeyID: home.AccessKeyID, AccessKeySecret: home.AccessKeySecret, Deadline: time.Now().Add(time.Minute)}
}

// The OSS store opens on the state bucket (through the OSS twin, with the
// function's region by default) and keeps objects.
func TestOpenStoreOSS(t *testing.T) {
	st := startStack(t)
	ready := st.Ready()
	inv := invocation(t, st, "discover")
	creds, err := wiring.Credentials(app.Config{}, inv)
	require.NoError(t, err)
	cfg := app.Config{State: "oss://" + ready.StateBucket + "/wiring", OSSEndpoint: ready.OSS, Insecure: true}
	store, err := wiring.OpenStore(t.Context(), cfg, creds.Base, ready.OSSRegion)
	require.NoError(t, err)
	_, err = store.Create(t.Context(), "probe", []byte("x"))
	require.NoError(t, err)
	keys, err := store.List(t.Context(), "")
	require.NoError(t, err)
	assert.Equal(t, []string{"probe"}, keys)
}

// Wire builds each use case over the invocation's adapters; chaining is
// wired unless turned off with "-".
func TestWire(t *testing.T) {
	inv := fcruntime.Invocation{RequestID: "req-1", AccountID: "1111", Region: "cn-hangzhou", AccessKeyID: "AK", AccessKeySecret: "secret"}
	load := func(env map[string]string) app.Config {
		env["KMSMIG_STATE"] = "dir:" + t.TempDir()
		cfg, err := app.LoadConfig(getenv(env))
		require.NoError(t, err)
		return cfg
	}

	d, err := wiring.Wire(t.Context(), load(map[string]string{"KMSMIG_QPS": "key-read=5", "KMSMIG_TASK_ACTIONS": "C,D,L"}), inv, audit.Discard)
	require.NoError(t, err)
	disc := d.Discoverer()
	assert.Equal(t, "1111", disc.Account)
	assert.Equal(t, "cn-hangzhou", disc.Region)
	assert.NotNil(t, disc.Kick, "a new plan kicks migrate")
	assert.NotNil(t, disc.Reports)
	require.NoError(t, disc.CheckAccount("1111"))
	require.Error(t, disc.CheckAccount("2222"), "no role for another account")
	x, err := d.Executor()
	require.NoError(t, err)
	assert.NotNil(t, x.Engine.Invoker)
	assert.Equal(t, migration.Functions{Migrate: "kmsmig-migrate", Rotate: "kmsmig-rotate"}, x.Engine.Config.Functions)
	assert.NotNil(t, x.Engine.Tasks)
	assert.Same(t, d.Alerter, x.Alerts)

	d, err = wiring.Wire(t.Context(), load(map[string]string{"KMSMIG_FUNCTION_MIGRATE": "-", "KMSMIG_FUNCTION_ROTATE": "-"}), inv, audit.Discard)
	require.NoError(t, err)
	assert.Nil(t, d.Discoverer().Kick)
	x, err = d.Executor()
	require.NoError(t, err)
	assert.Nil(t, x.Engine.Invoker, "chaining off: the timers do the work")

	bad := load(map[string]string{})
	bad.State = "s3://x"
	_, err = wiring.Wire(t.Context(), bad, inv, audit.Discard)
	require.ErrorContains(t, err, `open run-state store: KMSMIG_STATE "s3://x"`)
	_, err = wiring.Wire(t.Context(), load(map[string]string{}), fcruntime.Invocation{RequestID: "req-9"}, audit.Discard)
	require.ErrorContains(t, err, "req-9 carries no credentials")
}

// Discover end to end in process, against the twins: the audit trail goes
// to the SLS twin, the plan to the directory store, and the kick to migrate
// reaches the FC twin, which has no such function: the kick's failure is
// audited, not returned.
func TestDiscoverThroughTheTwins(t *testing.T) {
	st := startStack(t)
	ready := st.Ready()
	home := homeAccount(t, st)
	_, err := sls.EnsureLogstore(t.Context(), sls.SetupConfig{Endpoint: ready.SLS, DialAddr: ready.SLS, Project: ready.LogProject,
		Logstore: "kmsmig-audit", Credentials: sls.Credentials{AccessKeyID: home.AccessKeyID, AccessKeySecret: home.AccessKeySecret}})
	require.NoError(t, err)
	var endpoints []string
	for r, a := range ready.KMS {
		endpoints = append(endpoints, r+"="+a)
	}
	state := t.TempDir()
	env := getenv(map[string]string{
		"KMSMIG_KMS_ENDPOINTS": strings.Join(endpoints, ","), "KMSMIG_INSECURE": "true", "KMSMIG_STATE": "dir:" + state,
		"KMSMIG_REGIONS": "cn-hangzhou", "KMSMIG_FC_ENDPOINT": ready.FC,
		"KMSMIG_SLS_ENDPOINT": ready.SLS, "KMSMIG_SLS_PROJECT": ready.LogProject, "KMSMIG_SLS_LOGSTORE": "kmsmig-audit",
	})
	out := &lines{}
	inv := invocation(t, st, "discover")
	cfg, err := app.LoadConfig(env)
	require.NoError(t, err)
	res, err := wiring.Invoke(t.Context(), wiring.NewObserver(cfg, out), cfg, nil, inv, "discover",
		func(ctx context.Context, d *wiring.Deps) (app.DiscoverResult, error) {
			return wiring.Discover(ctx, d, app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "wired"}})
		})
	require.NoError(t, err)
	assert.Equal(t, "wired", res.RunID)
	assert.Equal(t, 1, res.Lanes, "the home account in one region")
	assert.Positive(t, res.Batches)
	require.NotNil(t, res.Audit)
	assert.True(t, res.Audit.Complete(), "%+v", *res.Audit)
	assert.Positive(t, res.Audit.Written, "the trail went to SLS")
	assert.Empty(t, out.records(t), "nothing on stdout when SLS takes the trail")

	store, err := runstate.OpenDir(state)
	require.NoError(t, err)
	cur, _, err := runstate.GetJSON[migration.CurrentRun](t.Context(), store, statekeys.Current)
	require.NoError(t, err)
	assert.Equal(t, "wired", cur.RunID)

	// The trail, read back through the official SLS client.
	c := &slssdk.Client{Endpoint: ready.SLS, AccessKeyID: home.AccessKeyID, AccessKeySecret: home.AccessKeySecret}
	c.SetHTTPClient(slstwin.HTTPClient(ready.SLS))
	now := time.Now().Unix()
	logs, err := c.GetLogs(ready.LogProject, "kmsmig-audit", "", now-3600, now+60, "action: ChainMigrate", 100, 0, false)
	require.NoError(t, err)
	require.Len(t, logs.Logs, 1, "the failed kick is in the trail")
	assert.Equal(t, "failed", logs.Logs[0]["outcome"])
	assert.Contains(t, logs.Logs[0]["message"], "FunctionNotFound")
	assert.Equal(t, "wired", logs.Logs[0]["run_id"])
	logs, err = c.GetLogs(ready.LogProject, "kmsmig-audit", "", now-3600, now+60, "action: Invoke", 100, 0, false)
	require.NoError(t, err)
	assert.Len(t, logs.Logs, 2, "start and end")
}
