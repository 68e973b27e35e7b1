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
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/report"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// Two nights of a campaign: between them an owner schedules a planned key
// for deletion, disables the CMK of a planned secret and deletes another
// secret. The second night's report compares with the first run (the
// current one until the second becomes current), says why each of those
// left the plan, and the trail has one EstateChange per change. The first
// run and a re-run of the current run have no changes section.
func TestDiscoverReportsChangesBetweenNights(t *testing.T) {
	st, d := demo(t)
	ctx := t.Context()
	trail := &records{}
	d.Audit, d.Reports = trail, app.RenderReports
	const (
		account   = "1111000011110001"
		appData   = "a1000001-0000-4000-8000-000000000001"
		secretCMK = "a1000001-0000-4000-8000-000000000008"
	)

	first, err := d.Run(ctx, app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "run-20261128"}})
	require.NoError(t, err)
	assert.Nil(t, first.Previous, "the campaign's first run has nothing to compare with")
	assert.NotContains(t, readMarkdown(t, d, first.Result), "## Changes since the previous run")
	assert.Empty(t, trail.count("EstateChange"))

	hz := kmstwin.Lane{Account: account, Region: "cn-hangzhou"}
	require.NoError(t, st.KMS.SetKeyState(hz, appData, "PendingDeletion"))
	require.NoError(t, st.KMS.SetKeyState(hz, secretCMK, "Disabled"))
	require.NoError(t, st.KMS.RemoveSecret(hz, "app/db-password"))

	second, err := d.Run(ctx, app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "run-20261129"}})
	require.NoError(t, err)
	require.NotNil(t, second.Previous)
	assert.Equal(t, "run-20261128", second.Previous.Inventory.RunID)
	require.NotNil(t, second.Previous.Plan)

	assert.Equal(t, map[string]int{"pending-deletion": 1, "disabled": 1, "gone": 1}, trail.count("EstateChange"))
	for _, r := range trail.rs {
		if r.Action == "EstateChange" {
			assert.Equal(t, account, r.Account)
			assert.Equal(t, "cn-hangzhou", r.Region)
			assert.Contains(t, []string{"key", "secret"}, r.ResourceType)
			assert.Contains(t, []string{appData, secretCMK, "app/db-password"}, r.ResourceID)
			assert.Contains(t, r.Message, "since run run-20261128")
		}
	}

	var rep report.Report
	obj, err := d.Store.Get(ctx, second.Result.ReportJSON)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(obj.Data, &rep))
	require.NotNil(t, rep.Changes)
	assert.Equal(t, "run-20261128", rep.Changes.PreviousRunID)
	assert.Equal(t, map[estate.ChangeKind]int{estate.ChangePendingDeletion: 1, estate.ChangeDisabled: 1, estate.ChangeGone: 1}, rep.Changes.Counts)
	why := map[string]string{}
	for _, lp := range rep.Changes.LeftPlan {
		why[lp.ID] = lp.Why
	}
	assert.Equal(t, map[string]string{
		appData:           "pending-deletion",
		secretCMK:         "disabled",
		"app/db-password": "gone",
		"app/api-token":   "secret-cmk-blocked",
	}, why, "what the first run planned and the second does not, each with why")
	md := readMarkdown(t, d, second.Result)
	assert.Contains(t, md, "## Changes since the previous run (run-20261128)")
	assert.Contains(t, md, "3 changes since run `run-20261128`: 1 deleted · 1 scheduled for deletion · 1 disabled.")

	// Re-running the current run compares with nothing: it is its own
	// previous run.
	trail.rs = nil
	again, err := d.Run(ctx, app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "run-20261129"}})
	require.NoError(t, err)
	assert.Nil(t, again.Previous)
	assert.NotContains(t, readMarkdown(t, d, again.Result), "## Changes since the previous run")
	assert.Empty(t, trail.count("EstateChange"))
}

func readMarkdown(t *testing.T, d *app.Discoverer, res app.DiscoverResult) string {
	t.Helper()
	require.NotEmpty(t, res.ReportMD)
	obj, err := d.Store.Get(t.Context(), res.ReportMD)
	require.NoError(t, err)
	return string(obj.Data)
}

// failGet fails Get of one key.
type failGet struct {
	runstate.Store
	key string
	err error
}

func (s failGet) Get(ctx context.Context, key string) (runstate.Object, error) {
	if key == s.key {
		return runstate.Object{}, s.err
	}
	return s.Store.Get(ctx, key)
}

// When the previous run cannot be read, discover still runs the night: the
// report goes without its changes section and the trail says why.
func TestDiscoverWithoutThePreviousRunWhenItCannotBeRead(t *testing.T) {
	_, d := demo(t)
	ctx := t.Context()
	trail := &records{}
	d.Audit, d.Reports = trail, app.RenderReports
	_, err := d.Run(ctx, app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "run-20261128"}})
	require.NoError(t, err)

	d.Store = failGet{Store: d.Store, key: statekeys.Inventory("run-20261128"), err: errors.New("oss: 503")}
	out, err := d.Run(ctx, app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "run-20261129"}})
	require.NoError(t, err)
	assert.Nil(t, out.Previous)
	assert.NotContains(t, readMarkdown(t, d, out.Result), "## Changes since the previous run")
	assert.Equal(t, map[string]int{"failed": 1}, trail.count("ReadPreviousRun"))
	for _, r := range trail.rs {
		if r.Action == "ReadPreviousRun" {
			assert.Equal(t, audit.LevelWarn, r.Level)
			assert.Equal(t, "run-20261128", r.ResourceID)
			assert.Contains(t, r.Message, "oss: 503")
		}
	}
}
