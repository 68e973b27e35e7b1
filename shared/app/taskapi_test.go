package app_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/verdict"
	"github.com/kmsmig/kmsmig/testinfra/stack"
)

// Against a KMS without the task API (the twin answering every task
// action as an unknown one), discover probes each lane once, reports
// "migration task API: unavailable InvalidAction.NotFound" per lane, blocks
// every lane task-api-unavailable so that nothing is planned (no rotation
// can be switched off), raises one pre-flight alert per lane naming the
// remedies, and audits the probe. With the task API present every lane
// says "available"; with the observe backend nothing is probed.
func TestDiscoverProbesTheTaskAPI(t *testing.T) {
	st, d := demoWith(t, stack.Options{TaskAPIAbsent: true})
	trail, alerts := &records{}, &alertRecorder{}
	d.Audit, d.Alerts, d.Reports = trail, alerts, app.RenderReports
	d.TaskAPI = d.Source.(*kms.Client).Tasks(kms.DefaultTaskActions())

	out, err := d.Run(t.Context(), app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "absent"}})
	require.NoError(t, err)
	require.Positive(t, out.Result.Lanes)
	assert.Zero(t, out.Result.Batches, "nothing is planned in a lane without the task API")
	assert.Len(t, out.Result.TaskAPIUnavailable, out.Result.Lanes)
	for _, l := range out.Result.TaskAPIUnavailable {
		assert.Regexp(t, `^\d+/[a-z0-9-]+: InvalidAction\.NotFound$`, l)
	}
	_, md := statekeys.DiscoveryReport("absent")
	obj, err := d.Store.Get(t.Context(), md)
	require.NoError(t, err)
	for _, li := range out.Inventory.Lanes {
		require.NotNil(t, li.TaskAPI, "%s probed", li.Lane)
		assert.Equal(t, "InvalidAction.NotFound", li.TaskAPI.Code, "%s", li.Lane)
		assert.True(t, li.TaskAPI.Permanent)
		lf, _ := out.Verdicts.Lane(li.Lane)
		f, blocked := lf.Blocker()
		require.True(t, blocked, "%s", li.Lane)
		assert.Equal(t, verdict.TaskAPIUnavailable, f.Reason, "%s", li.Lane)
		assert.Contains(t, string(obj.Data), "- `"+li.Lane.String()+"`: migration task API: **unavailable InvalidAction.NotFound**")
	}
	keys := alerts.take()
	assert.Len(t, keys, out.Result.Lanes, "one alert per lane: %v", keys)
	for _, k := range keys {
		assert.Regexp(t, `^preflight-blocked/\d+/[a-z0-9-]+/task-api-unavailable$`, k)
	}
	for _, a := range alerts.as {
		assert.Contains(t, a.Text, "KMSMIG_TASK_ACTIONS")
		assert.Contains(t, a.Text, "KMSMIG_BACKEND=observe")
	}
	assert.Equal(t, map[string]int{"unavailable": out.Result.Lanes}, trail.count("ProbeTaskAPI"))
	probes := st.KMS.CallCounts()
	assert.Zero(t, probes["UpdateRotationPolicy"]+probes["UpdateSecretRotationPolicy"], "no rotation changed")

	// The task API present: every lane available, the demo plans batches.
	_, d = demo(t)
	d.TaskAPI = d.Source.(*kms.Client).Tasks(kms.DefaultTaskActions())
	out, err = d.Run(t.Context(), app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "present", DryRun: true}})
	require.NoError(t, err)
	assert.Positive(t, out.Result.Batches)
	for _, li := range out.Inventory.Lanes {
		require.NotNil(t, li.TaskAPI)
		assert.True(t, li.TaskAPI.Available, "%s: %+v", li.Lane, li.TaskAPI)
	}

	// The observe backend needs no task API: no probe.
	d.Config.Backend = "observe"
	out, err = d.Run(t.Context(), app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "observed", DryRun: true}})
	require.NoError(t, err)
	for _, li := range out.Inventory.Lanes {
		assert.Nil(t, li.TaskAPI, "%s", li.Lane)
	}
}

// A run planned without a probe (say, by an earlier version) against a KMS
// without the task API: migrate stops every lane at its first task call,
// gives back the rotation it had switched off, fails the lanes' batches
// TaskAPIUnavailable without another rotation change, and raises one
// task-api-unavailable alert per lane and no alert per resource.
func TestMigrateStopsLanesWithoutTheTaskAPI(t *testing.T) {
	st, d := demoWith(t, stack.Options{TaskAPIAbsent: true})
	ctx := t.Context()
	disc, err := d.Handle(ctx, app.DiscoverEvent{})
	require.NoError(t, err)
	require.Positive(t, disc.Batches, "no probe: the lanes are planned")
	c := d.Source.(*kms.Client)
	alerts := &alertRecorder{}
	cfg := d.Config.EngineConfig(d.Now())
	cfg.TaskRetryDelay = -1
	x := &app.Executor{Config: d.Config, Alerts: alerts, Now: d.Now,
		Engine: &migration.Engine{Store: d.Store, KMS: c, Tasks: c.Tasks(kms.TaskActions{}), Config: cfg}}

	seen := map[string]int{}
	for range 10 {
		res, err := x.Migrate(ctx, app.StepEvent{})
		require.NoError(t, err)
		for _, k := range alerts.take() {
			seen[k]++
		}
		if res.Done {
			break
		}
	}
	lanes, err := x.Engine.Lanes(ctx, disc.RunID)
	require.NoError(t, err)
	require.NotEmpty(t, lanes)
	for _, l := range lanes {
		assert.Positive(t, seen["task-api-unavailable/"+l.String()], "%s alerted: %v", l, seen)
	}
	for k := range seen {
		if strings.HasPrefix(k, alert.KindNightEnded+"/") {
			continue // a notification, not a failure
		}
		assert.Regexp(t, `^task-api-unavailable/`, k, "only the lane alerts")
	}
	p, err := x.Engine.Status(ctx, disc.RunID)
	require.NoError(t, err)
	assert.True(t, p.Done(), "%v", p.Active)
	rep, err := x.Engine.BuildReport(ctx, disc.RunID)
	require.NoError(t, err)
	require.NotEmpty(t, rep.Failures)
	for _, f := range rep.Failures {
		assert.Equal(t, migration.ReasonTaskAPIUnavailable, f.ReasonCode, "%s %s", f.Kind, f.ID)
	}
	calls := st.KMS.CallCounts()
	// Every rotation switched off (the first batch of a lane) was switched
	// back on: twice as many changes as resources switched off, and each
	// policy as discovered.
	keys, err := d.Store.List(ctx, statekeys.LedgerPrefix)
	require.NoError(t, err)
	for _, k := range keys {
		le, _, err := runstate.GetJSON[migration.LedgerEntry](ctx, d.Store, k)
		require.NoError(t, err)
		assert.False(t, le.Off(), "%s still off", k)
	}
	assert.Equal(t, int64(2*len(keys)), calls["UpdateRotationPolicy"]+calls["UpdateSecretRotationPolicy"], "off and back on, once each")
	assert.Empty(t, st.KMS.Tasks())
}
