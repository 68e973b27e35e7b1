package app_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/app"
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
