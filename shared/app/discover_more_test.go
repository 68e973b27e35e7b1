package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// count returns how many records of action there are, by outcome.
func (l *records) count(action string) map[string]int {
	out := map[string]int{}
	for _, o := range l.outcomes(action) {
		out[o]++
	}
	return out
}

// A discover run audits what it found and decided, raises the lanes'
// pre-flight blockers, writes its reports, and kicks migrate once a plan
// with batches is persisted (a failed kick is audited, not returned).
func TestDiscoverAuditsReportsAndKicks(t *testing.T) {
	_, d := demo(t)
	ctx := t.Context()
	trail, alerts := &records{}, &alertRecorder{}
	var kicked []string
	kickErr := error(nil)
	d.Audit, d.Alerts, d.Reports = trail, alerts, app.RenderReports
	d.Kick = func(_ context.Context, runID string) error { kicked = append(kicked, runID); return kickErr }

	out, err := d.Run(ctx, app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "audited"}})
	require.NoError(t, err)
	res := out.Result
	assert.Equal(t, []string{"audited"}, kicked)
	assert.Equal(t, map[string]int{"complete": res.Lanes}, trail.count("DiscoverLane"))
	classified := 0
	for _, n := range trail.count("Classify") {
		classified += n
	}
	assert.Equal(t, len(out.Verdicts.Resources), classified)
	assert.Equal(t, map[string]int{"created": 1}, trail.count("Plan"))
	assert.Equal(t, map[string]int{"planned": res.Batches}, trail.count("PlanBatch"))
	assert.Equal(t, map[string]int{"completed": 1}, trail.count("Discover"))
	blocked := trail.count("Preflight")["blocked"]
	require.Positive(t, blocked, "the demo estate has blocked lanes")
	keys := alerts.take()
	assert.Len(t, keys, blocked)
	for _, k := range keys {
		assert.Regexp(t, `^preflight-blocked/`, k)
	}

	// The reports are in the store, referenced by the result.
	assert.Equal(t, statekeys.Run("audited", "report.json"), res.ReportJSON)
	obj, err := d.Store.Get(ctx, res.ReportJSON)
	require.NoError(t, err)
	var rep struct {
		RunID string `json:"runId"`
	}
	require.NoError(t, json.Unmarshal(obj.Data, &rep))
	assert.Equal(t, "audited", rep.RunID)
	md, err := d.Store.Get(ctx, res.ReportMD)
	require.NoError(t, err)
	assert.Contains(t, string(md.Data), "audited")

	// Again: re-planned, and a kick that fails is recorded, not returned.
	kickErr = errors.New("fc: throttled")
	again, err := d.Handle(ctx, app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "audited"}})
	require.NoError(t, err)
	assert.True(t, again.Replanned)
	assert.Equal(t, 1, trail.count("Plan")["updated"])
	assert.Equal(t, map[string]int{"failed": 1}, trail.count("ChainMigrate"))

	// A dry run neither kicks nor writes; its end says so.
	_, err = d.Handle(ctx, app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "dry", DryRun: true}})
	require.NoError(t, err)
	assert.Len(t, kicked, 2)
	assert.Equal(t, 1, trail.count("Discover")["dry-run"])

	// A refused event ends with a failed record at error level.
	_, err = d.Handle(ctx, app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "Bad"}})
	require.Error(t, err)
	last := trail.rs[len(trail.rs)-1]
	assert.Equal(t, "Discover", last.Action)
	assert.Equal(t, "failed", last.Outcome)
	assert.Equal(t, audit.LevelError, last.Level)
}

// Accounts and regions are resolved against the configuration before
// anything is read: unknown ones, unreachable ones and none at all are
// refused naming the field.
func TestDiscoverResolvesAccountsAndRegions(t *testing.T) {
	tests := []struct {
		name     string
		accounts []string // configured
		regions  []string // configured
		account  string   // the function's own
		check    func(string) error
		event    app.DiscoverOptions
		want     string
	}{
		{name: "no account at all", want: "discover: accounts: none configured"},
		{name: "unreachable accounts", accounts: []string{"111", "222", "333"},
			check: func(a string) error {
				if a == "111" {
					return nil
				}
				return errors.New("no role for " + a)
			},
			want: "discover: accounts: no role for 222; no role for 333"},
		{name: "the function's account is checked too", account: "444",
			check: func(a string) error { return errors.New("no credential for " + a) }, want: "discover: accounts: no credential for 444"},
		{name: "unknown account", accounts: []string{"111"}, event: app.DiscoverOptions{Accounts: []string{"222"}},
			want: `discover event: accounts: "222" is not configured (configured: [111])`},
		{name: "unknown region", account: "111", regions: []string{"cn-hangzhou"}, event: app.DiscoverOptions{Regions: []string{"cn-beijing"}},
			want: `discover event: regions: "cn-beijing" is not configured (configured: [cn-hangzhou])`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := app.LoadConfig(func(string) string { return "" })
			require.NoError(t, err)
			cfg.Accounts, cfg.Regions = tt.accounts, tt.regions
			store := dirStore(t)
			d := &app.Discoverer{Config: cfg, Store: store, Account: tt.account, CheckAccount: tt.check}
			_, err = d.Handle(t.Context(), app.DiscoverEvent{DiscoverOptions: tt.event})
			require.EqualError(t, err, tt.want)
			keys, err := store.List(t.Context(), "")
			require.NoError(t, err)
			assert.Empty(t, keys)
		})
	}
}

// Regions named by the event narrow the configured ones, or stand alone
// when none are configured; accounts likewise.
func TestDiscoverNarrowsToTheEvent(t *testing.T) {
	_, d := demo(t)
	const a = "1111000011110001"
	res, err := d.Handle(t.Context(), app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "narrow", DryRun: true,
		Accounts: []string{a}, Regions: []string{"cn-shanghai"}}})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Lanes)

	d.Config.Regions = []string{"cn-hangzhou", "cn-shanghai"}
	out, err := d.Run(t.Context(), app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "narrow", DryRun: true,
		Accounts: []string{a}, Regions: []string{"cn-hangzhou"}}})
	require.NoError(t, err)
	require.Len(t, out.Inventory.Lanes, 1)
	assert.Equal(t, a+"/cn-hangzhou", out.Inventory.Lanes[0].Lane.String())
}

func TestSetAudit(t *testing.T) {
	s := audit.Stats{Logged: 3, Written: 2, Pending: 1}
	var d app.DiscoverResult
	d.SetAudit(s)
	require.NotNil(t, d.Audit)
	assert.Equal(t, s, *d.Audit)
	var r app.StepResult
	r.SetAudit(s)
	require.NotNil(t, r.Audit)
	assert.Equal(t, s, *r.Audit)
}
