package app_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aliyun/credentials-go/credentials"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/fcruntime"
	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/verdict"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// demo starts the twins on the demo estate and returns a Discoverer wired
// to them with a directory store.
func demo(t *testing.T) (*stack.Stack, *app.Discoverer) {
	t.Helper()
	return demoWith(t, stack.Options{})
}

// demoWith is demo with the twins started with o (the inventory is the
// demo's, unthrottled).
func demoWith(t *testing.T, o stack.Options) (*stack.Stack, *app.Discoverer) {
	t.Helper()
	o.Inventory, o.Unthrottled = kmstwin.DemoInventory(), true
	st, err := stack.Start(o)
	require.NoError(t, err)
	// Close in the background, as shared/migration's tests do:
	// http.Server.Shutdown waits up to 5 s for connections the adapter
	// dialled but never used; the listeners close at once either way.
	t.Cleanup(func() { go st.Close() })
	keys := map[string]stack.Account{}
	var accounts []string
	for _, a := range st.Ready().Accounts {
		keys[a.ID] = a
		accounts = append(accounts, a.ID)
	}
	c, err := kms.New(kms.Config{Endpoints: st.Ready().KMS, Insecure: true,
		Credentials: func(account string) (credentials.Credential, error) {
			a, ok := keys[account]
			if !ok {
				return nil, errors.New("unknown account")
			}
			typ := "access_key"
			return credentials.NewCredential(&credentials.Config{Type: &typ, AccessKeyId: &a.AccessKeyID, AccessKeySecret: &a.AccessKeySecret})
		}})
	require.NoError(t, err)
	store, err := runstate.OpenDir(t.TempDir())
	require.NoError(t, err)
	cfg, err := app.LoadConfig(func(string) string { return "" })
	require.NoError(t, err)
	cfg.Accounts = accounts
	return st, &app.Discoverer{Config: cfg, Source: c, Store: store, Region: "cn-hangzhou",
		Now: func() time.Time { return time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC) }}
}

// handle runs discover on a raw event the way the discover function does:
// decoded and encoded by fcruntime.Handler.
func handle(t *testing.T, d *app.Discoverer, event []byte) app.DiscoverResult {
	t.Helper()
	out, err := fcruntime.Handler(d.Handle).Invoke(t.Context(), event)
	require.NoError(t, err)
	var res app.DiscoverResult
	require.NoError(t, json.Unmarshal(out, &res))
	return res
}

func TestDiscoverPersistsRun(t *testing.T) {
	st, d := demo(t)
	ctx := t.Context()
	// The timer event goes through the functions' decoder and encoder.
	ev := []byte(`{"triggerTime":"2026-11-29T01:00:00Z","triggerName":"nightly","payload":""}`)
	res := handle(t, d, ev)
	require.Equal(t, "run-20261129", res.RunID)
	require.Equal(t, 9, res.Lanes)
	require.Positive(t, res.Batches)
	require.Positive(t, res.Counts.ByVerdict[verdict.Blocked])
	require.Empty(t, res.Incomplete)

	// The result stays compact: references, not inventories.
	b, err := json.Marshal(res)
	require.NoError(t, err)
	require.Less(t, len(b), 4096)

	p, _, err := runstate.GetJSON[plan.Plan](ctx, d.Store, res.Plan)
	require.NoError(t, err)
	require.Equal(t, res.Batches, p.BatchCount())
	cur, _, err := runstate.GetJSON[migration.CurrentRun](ctx, d.Store, statekeys.Current)
	require.NoError(t, err)
	require.Equal(t, res.RunID, cur.RunID)

	// Running again re-plans the same run and keeps its batch ids.
	again := handle(t, d, ev)
	require.True(t, again.Replanned)
	p2, _, err := runstate.GetJSON[plan.Plan](ctx, d.Store, res.Plan)
	require.NoError(t, err)
	require.Equal(t, p, p2)
	require.Zero(t, st.KMS.CallCounts()["GetSecretValue"])
}

func TestDiscoverDryRunWritesNothing(t *testing.T) {
	_, d := demo(t)
	res, err := d.Handle(t.Context(), app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "trial", DryRun: true}})
	require.NoError(t, err)
	require.True(t, res.DryRun)
	keys, err := d.Store.List(t.Context(), "")
	require.NoError(t, err)
	require.Empty(t, keys)
}

func TestDiscoverRejectsBadEvents(t *testing.T) {
	_, d := demo(t)
	tests := []struct {
		name, event, want string
	}{
		{"unknown field", `{"runName":"x"}`, `unknown field "runName"`},
		{"bad run id", `{"runId":"Bad Run"}`, `runId "Bad Run"`},
		{"bad payload", `{"triggerName":"t","payload":"{\"dryRunNow\":true}"}`, `payload`},
		{"bad trigger time", `{"triggerName":"t","triggerTime":"yesterday"}`, `triggerTime`},
		{"unknown account", `{"accounts":["999"]}`, `accounts: "999" is not configured`},
		{"bad filter", `{"include":["owner:bob"]}`, `include[0]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fcruntime.Handler(d.Handle).Invoke(t.Context(), []byte(tt.event))
			require.ErrorContains(t, err, tt.want)
			keys, lerr := d.Store.List(t.Context(), "")
			require.NoError(t, lerr)
			require.Empty(t, keys, "bad input changes nothing")
		})
	}
}

// TestDemoVerdictsThroughDiscovery discovers the demo estate through the
// official SDK and the twin, and checks that every rule of the migration
// gives the verdict it should to the resource built to exercise it.
func TestDemoVerdictsThroughDiscovery(t *testing.T) {
	_, d := demo(t)
	const (
		a, b, c = "1111000011110001", "2222000022220002", "3333000033330003"
		hz, sh  = "cn-hangzhou", "cn-shanghai"
	)
	key := func(n int) string { return fmt.Sprintf("a1000001-0000-4000-8000-%012d", n) }
	out, err := d.Run(t.Context(), app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "demo", DryRun: true}})
	require.NoError(t, err)
	vs, p := out.Verdicts, out.Plan
	check := func(account, region string, kind verdict.ResourceKind, id string, want verdict.Kind, reason verdict.Reason) {
		t.Helper()
		v, ok := vs.Find(estate.Lane{Account: account, Region: region}, kind, id)
		require.True(t, ok, "no verdict for %s %s", kind, id)
		require.Equal(t, want, v.Verdict, "%s %s: %s", kind, id, v.Remediation)
		require.Equal(t, reason, v.Reason, "%s %s", kind, id)
	}
	check(a, hz, verdict.ResourceKey, key(1), verdict.Migratable, "")
	check(a, hz, verdict.ResourceKey, key(2), verdict.MigratableOnceRotationOff, "")
	check(a, hz, verdict.ResourceKey, key(3), verdict.Blocked, verdict.ImportedKeyMaterial)
	check(a, hz, verdict.ResourceKey, key(4), verdict.Blocked, verdict.ServiceKey)
	check(a, hz, verdict.ResourceKey, key(5), verdict.Blocked, verdict.KeyPendingDeletion)
	check(a, hz, verdict.ResourceKey, key(6), verdict.Blocked, verdict.KeyDisabled)
	check(a, hz, verdict.ResourceKey, key(7), verdict.AlreadyMigrated, "")
	check(a, hz, verdict.ResourceSecret, "app/byok-protected", verdict.Blocked, verdict.SecretCMKBlocked)
	check(a, hz, verdict.ResourceSecret, "rds/orders", verdict.MigratableOnceRotationOff, "")
	check(a, hz, verdict.ResourceSecret, "legacy/migrated", verdict.AlreadyMigrated, "")
	check(a, hz, verdict.ResourceSecret, "app/db-password", verdict.Migratable, "")
	check(b, hz, verdict.ResourceSecret, "shared/dup-name", verdict.Blocked, verdict.DuplicateSecretName)
	check(b, "cn-beijing", verdict.ResourceKey, "a2000002-0000-4000-8000-000000000001", verdict.Blocked, verdict.NoTargetInstance)
	check(c, hz, verdict.ResourceKey, "a3000001-0000-4000-8000-000000000001", verdict.Blocked, verdict.InstanceNotShared)
	check(c, sh, verdict.ResourceKey, "a3000002-0000-4000-8000-000000000001", verdict.Blocked, verdict.InstanceImageTooOld)

	// The expiring instance without auto-renewal warns but does not block.
	lf, ok := vs.Lane(estate.Lane{Account: a, Region: sh})
	require.True(t, ok)
	require.Equal(t, "kst-shexp001", lf.InstanceID)
	require.Contains(t, reasonsOf(lf.Findings), verdict.InstanceExpiringNoRenew)
	check(a, sh, verdict.ResourceKey, "a1000002-0000-4000-8000-000000000001", verdict.Migratable, "")

	// A secret under a CMK that migrates in this run goes in a strictly
	// later batch than the CMK; every batch respects the limits.
	batchOf := map[string]int{}
	for _, lp := range p.Lanes {
		for _, bt := range lp.Batches {
			require.LessOrEqual(t, len(bt.Keys), 50)
			require.LessOrEqual(t, len(bt.Secrets), 50)
			for _, k := range bt.Keys {
				batchOf[k] = bt.Seq
			}
			for _, s := range bt.Secrets {
				batchOf[s] = bt.Seq
			}
		}
	}
	require.Greater(t, batchOf["app/api-token"], batchOf[key(8)], "secret after its CMK")
	require.NotContains(t, batchOf, key(3), "blocked keys are never planned")

	// An explicit target without room: the quota rule.
	d.Config.Targets = map[estate.Lane]string{{Account: a, Region: hz}: "kst-hzsmall1"}
	out, err = d.Run(t.Context(), app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "demo", DryRun: true}})
	require.NoError(t, err)
	v, ok := out.Verdicts.Find(estate.Lane{Account: a, Region: hz}, verdict.ResourceKey, key(1))
	require.True(t, ok)
	require.Equal(t, verdict.InstanceQuotaTooSmall, v.Reason, v.Remediation)
}

func reasonsOf(fs []verdict.Finding) []verdict.Reason {
	var out []verdict.Reason
	for _, f := range fs {
		out = append(out, f.Reason)
	}
	return out
}

// KMSMIG_STRICT_KEY_VERSIONS and KMSMIG_BATCH_TOTAL reach classification
// and planning: the demo's two-version rotating key is blocked, and no
// batch holds more keys plus secrets than the total.
func TestProviderRuleSettingsReachThePlan(t *testing.T) {
	_, d := demo(t)
	lane := estate.Lane{Account: "1111000011110001", Region: "cn-hangzhou"}
	const rotatingKey = "a1000001-0000-4000-8000-000000000002"
	run := func(settings map[string]string) app.DiscoverOutcome {
		t.Helper()
		cfg, err := app.LoadConfig(func(k string) string { return settings[k] })
		require.NoError(t, err)
		d.Config.StrictKeyVersions, d.Config.Plan = cfg.StrictKeyVersions, cfg.Plan
		out, err := d.Run(t.Context(), app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "demo", DryRun: true}})
		require.NoError(t, err)
		return out
	}
	out := run(nil)
	v, _ := out.Verdicts.Find(lane, verdict.ResourceKey, rotatingKey)
	require.Equal(t, verdict.MigratableOnceRotationOff, v.Verdict)
	biggest := 0
	for _, lp := range out.Plan.Lanes {
		for _, b := range lp.Batches {
			biggest = max(biggest, len(b.Keys)+len(b.Secrets))
		}
	}
	require.Greater(t, biggest, 3, "the demo's largest batch is above the total tried below")

	out = run(map[string]string{"KMSMIG_STRICT_KEY_VERSIONS": "true", "KMSMIG_BATCH_TOTAL": "3"})
	v, _ = out.Verdicts.Find(lane, verdict.ResourceKey, rotatingKey)
	require.Equal(t, verdict.KeyMultipleVersions, v.Reason, v.Remediation)
	require.Equal(t, 3, out.Plan.Settings.MaxResources)
	for _, lp := range out.Plan.Lanes {
		for _, b := range lp.Batches {
			require.LessOrEqual(t, len(b.Keys)+len(b.Secrets), 3, b.ID)
			require.NotContains(t, b.Keys, rotatingKey)
		}
	}
}
