package report

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

// nightly is one lane's estate on two nights: the first run planned every
// key and secret; by the second, one key was scheduled for deletion, one
// deleted, one had migrated, one is held by the first run's batch in
// flight, and kmsmig held a rotating key's rotation off for its batch.
func nightly(t *testing.T) (prev *Previous, inv estate.Inventory, vs *verdict.Verdicts, p *plan.Plan) {
	t.Helper()
	inst := estate.Instance{ID: "kst-1", Region: "cn-hangzhou", Kind: estate.InstanceSoftware, ImageVersion: "2.10.1",
		KeyQuota: 100, SecretQuota: 100, Status: "Connected", Expires: discovered.AddDate(1, 0, 0), AutoRenew: true, Owner: "1111"}
	rotating := func(k *estate.Key) { k.Rotation = estate.Rotation{Enabled: true, Interval: 30 * 24 * time.Hour} }
	before := estate.Inventory{RunID: "run-20250228", DiscoveredAt: discovered.AddDate(0, 0, -1), Lanes: []estate.LaneInventory{{
		Lane: laneA, Instances: []estate.Instance{inst},
		Keys: []estate.Key{key("k-del"), key("k-gone"), key("k-moved"), key("k-held"), key("k-rot", rotating), key("k-same")},
	}}}
	settings := plan.DefaultSettings()
	settings.MaxKeys = 2
	_, prevPlan := run(t, before, settings)

	inv = estate.Inventory{RunID: "run-20250301", DiscoveredAt: discovered, Lanes: []estate.LaneInventory{{
		Lane: laneA, Instances: []estate.Instance{inst},
		Keys: []estate.Key{
			key("k-del", func(k *estate.Key) { k.State = estate.KeyPendingDeletion }),
			key("k-moved", func(k *estate.Key) { k.InstanceID = "kst-1" }),
			key("k-held"), key("k-rot"), key("k-same"),
		},
	}}}
	var err error
	vs, err = verdict.Classify(inv, verdict.DefaultSettings())
	require.NoError(t, err)
	held := plan.Held{Lane: laneA, Resource: verdict.ResourceKey, ID: "k-held", InstanceID: "kst-1", RunID: "run-20250228", BatchID: plan.BatchID(laneA, 2)}
	p, err = plan.New(vs, settings, held)
	require.NoError(t, err)
	return &Previous{Inventory: &before, Plan: prevPlan}, inv, vs, p
}

func TestChangesExplainWhatLeftThePlan(t *testing.T) {
	prev, inv, vs, p := nightly(t)
	r := Build(&inv, vs, p, Options{Previous: prev})
	require.NotNil(t, r.Changes)
	c := r.Changes
	assert.Equal(t, "run-20250228", c.PreviousRunID)
	assert.Equal(t, map[estate.ChangeKind]int{estate.ChangeGone: 1, estate.ChangePendingDeletion: 1, estate.ChangeRotation: 1, estate.ChangeMigrated: 1}, c.Counts)

	kinds := map[string]estate.ChangeKind{}
	for _, it := range c.Items {
		kinds[it.ID] = it.Kind
		assert.NotEmpty(t, it.PreviousBatch, "%s was planned by the previous run", it.ID)
		if it.ID == "k-rot" {
			assert.Contains(t, it.Note, "kmsmig may hold it off", "a rotation kmsmig holds off is not read as the owner's")
		} else {
			assert.Empty(t, it.Note, it.ID)
		}
	}
	assert.Equal(t, map[string]estate.ChangeKind{"k-del": estate.ChangePendingDeletion, "k-gone": estate.ChangeGone,
		"k-moved": estate.ChangeMigrated, "k-rot": estate.ChangeRotation}, kinds)

	why := map[string]string{}
	for _, lp := range c.LeftPlan {
		why[lp.ID] = lp.Why
		assert.NotEmpty(t, lp.Detail, lp.ID)
		assert.NotEmpty(t, lp.PreviousBatch, lp.ID)
	}
	assert.True(t, c.PlanCompared)
	assert.Equal(t, map[string]string{
		"k-del":   string(estate.ChangePendingDeletion),
		"k-gone":  string(estate.ChangeGone),
		"k-moved": string(estate.ChangeMigrated),
		"k-held":  string(plan.InFlightInEarlierRun),
	}, why, "k-rot and k-same are planned again")

	md := section(r.Markdown(), "Changes since the previous run (run-20250228)")
	require.NotEmpty(t, md)
	checkTables(t, md)
	assert.Contains(t, md, "4 changes since run `run-20250228`: 1 deleted · 1 scheduled for deletion · 1 rotation policy changed · 1 migrated.")
	assert.Contains(t, md, "| scheduled for deletion ")
	assert.Contains(t, md, "### Planned by run-20250228, not in this plan")
	assert.Contains(t, md, "`in-flight-in-earlier-run`")
}

func TestChangesInJSONRoundTrip(t *testing.T) {
	prev, inv, vs, p := nightly(t)
	r := Build(&inv, vs, p, Options{Previous: prev})
	b, err := json.Marshal(r)
	require.NoError(t, err)
	var raw struct {
		Changes struct {
			PreviousRunID string         `json:"previousRunId"`
			Counts        map[string]int `json:"counts"`
			Items         []struct {
				Account, Region, Resource, ID, Kind string
			} `json:"items"`
			LeftPlan []struct{ ID, Why string } `json:"leftPlan"`
		} `json:"changes"`
	}
	require.NoError(t, json.Unmarshal(b, &raw))
	assert.Equal(t, "run-20250228", raw.Changes.PreviousRunID)
	assert.Equal(t, 1, raw.Changes.Counts["pending-deletion"])
	assert.Len(t, raw.Changes.Items, 4)
	assert.Len(t, raw.Changes.LeftPlan, 4)
	var back Report
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, r.Markdown(), back.Markdown())
}

func TestChangesSectionOnlyWithAPreviousRun(t *testing.T) {
	prev, inv, vs, p := nightly(t)
	tests := []struct {
		name     string
		previous *Previous
		section  bool
		left     bool
	}{
		{name: "first run", previous: nil},
		{name: "previous run without inventory", previous: &Previous{Plan: prev.Plan}},
		{name: "previous inventory without plan", previous: &Previous{Inventory: prev.Inventory}, section: true},
		{name: "both", previous: prev, section: true, left: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Build(&inv, vs, p, Options{Previous: tt.previous})
			md := r.Markdown()
			b, err := json.Marshal(r)
			require.NoError(t, err)
			assert.Equal(t, tt.section, r.Changes != nil)
			assert.Equal(t, tt.section, strings.Contains(md, "## Changes since the previous run"))
			assert.Equal(t, tt.section, strings.Contains(string(b), `"changes"`))
			assert.Equal(t, tt.left, strings.Contains(md, "### Planned by"))
		})
	}
}

func TestChangesNoneSinceThePreviousRun(t *testing.T) {
	inv := goldenInventory()
	vs, p := run(t, inv, goldenPlanSettings())
	before := goldenInventory()
	before.RunID = "run-20250228"
	_, prevPlan := run(t, before, goldenPlanSettings())
	r := Build(&inv, vs, p, Options{Previous: &Previous{Inventory: &before, Plan: prevPlan}})
	require.NotNil(t, r.Changes)
	assert.Empty(t, r.Changes.Items)
	assert.Empty(t, r.Changes.LeftPlan)
	md := section(r.Markdown(), "Changes since the previous run (run-20250228)")
	assert.Contains(t, md, "No key, secret or instance changed since run `run-20250228`.")
	assert.Contains(t, md, "None: this plan carries again every key and secret run `run-20250228` planned that had not migrated.")
}

func TestChangesCapped(t *testing.T) {
	prev, inv, vs, p := nightly(t)
	md := Build(&inv, vs, p, Options{Previous: prev, MaxRows: 1}).Markdown()
	sec := section(md, "Changes since the previous run (run-20250228)")
	checkTables(t, sec)
	assert.Equal(t, 2, strings.Count(sec, "… and 3 more (see report.json)"), "both listings are capped")
}
