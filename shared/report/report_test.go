package report

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

func row(t *testing.T, r *Report, l estate.Lane) RegionRow {
	t.Helper()
	for _, rr := range r.Regions {
		if rr.Lane() == l {
			return rr
		}
	}
	require.Failf(t, "no region row", "lane %s", l)
	return RegionRow{}
}

// section returns the Markdown from the heading "## name" to the next
// level-2 heading.
func section(md, name string) string {
	_, rest, ok := strings.Cut(md, "\n## "+name+"\n")
	if !ok {
		return ""
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

func TestRegionRowsCountLikeTheConsole(t *testing.T) {
	r := goldenReport(t)
	require.Len(t, r.Regions, 3)
	got := row(t, r, laneA)
	want := RegionRow{LaneRef: refOf(laneA), KeysNotMigrated: 7, KeysMigrated: 1, SecretsNotMigrated: 7, SecretsMigrated: 1,
		ServiceKeys: 1, TargetInstance: "kst-hz-1", Batches: 2,
		Tasks: map[plan.Status]int{plan.StatusDone: 1, plan.StatusRunning: 1}}
	assert.Equal(t, want, got)

	c := row(t, r, laneC)
	assert.Empty(t, c.TargetInstance)
	assert.Equal(t, verdict.NoTargetInstance, c.NoTargetReason)
	assert.Equal(t, 2, c.DiscoveryErrors)
	assert.Contains(t, r.Markdown(), "**incomplete** (2 errors)")
}

func TestTaskStatus(t *testing.T) {
	inv := goldenInventory()
	vs, p := run(t, inv, goldenPlanSettings())

	t.Run("not given", func(t *testing.T) {
		r := Build(&inv, vs, p, Options{})
		for _, rr := range r.Regions {
			assert.Nil(t, rr.Tasks, rr.Lane().String())
		}
		for _, pl := range r.Plan.Lanes {
			for _, b := range pl.Batches {
				assert.Empty(t, b.Status, b.ID)
			}
		}
		for _, line := range strings.Split(section(r.Markdown(), "Regions"), "\n") {
			assert.NotContains(t, line, "pending")
		}
	})
	t.Run("missing batches are pending", func(t *testing.T) {
		r := Build(&inv, vs, p, Options{BatchStatus: map[string]plan.Status{plan.BatchID(laneB, 2): plan.StatusFailed}})
		assert.Equal(t, map[plan.Status]int{plan.StatusPending: 2}, row(t, r, laneA).Tasks)
		assert.Equal(t, map[plan.Status]int{plan.StatusPending: 1, plan.StatusFailed: 1}, row(t, r, laneB).Tasks)
		assert.Nil(t, row(t, r, laneC).Tasks, "a lane without batches has no task status")
		assert.Contains(t, section(r.Markdown(), "Regions"), "1 failed · 1 pending")
	})
	t.Run("without a plan, by batch ID", func(t *testing.T) {
		r := Build(&inv, vs, nil, Options{BatchStatus: goldenStatuses()})
		assert.Equal(t, map[plan.Status]int{plan.StatusDone: 1, plan.StatusRunning: 1}, row(t, r, laneA).Tasks)
		assert.Nil(t, row(t, r, laneB).Tasks)
	})
}

func TestBlockedGroupedByReason(t *testing.T) {
	inv := goldenInventory()
	vs, p := run(t, inv, goldenPlanSettings())
	r := Build(&inv, vs, p, Options{})

	total := 0
	for i, g := range r.Blocked {
		assert.NotEqual(t, verdict.ServiceKey, g.Reason, "service keys are summarised, not blocked")
		assert.Equal(t, g.Reason.Severity(), g.Severity)
		info, ok := g.Reason.Info()
		require.True(t, ok)
		assert.Equal(t, info.Action, g.Action)
		assert.Len(t, g.Resources, g.Count)
		if i > 0 {
			prev := r.Blocked[i-1]
			if severityRank(prev.Severity) == severityRank(g.Severity) {
				assert.Less(t, prev.Reason, g.Reason, "groups of one severity sorted by reason")
			} else {
				assert.Less(t, severityRank(prev.Severity), severityRank(g.Severity), "blockers before decisions")
			}
		}
		assert.True(t, slices.IsSortedFunc(g.Resources, func(a, b BlockedResource) int {
			return verdict.Verdict{Lane: a.Lane(), Resource: a.Resource, ID: a.ID}.Compare(verdict.Verdict{Lane: b.Lane(), Resource: b.Resource, ID: b.ID})
		}), "resources of %s in canonical order", g.Reason)
		total += g.Count
	}
	assert.Equal(t, vs.Counts.NeedsAction, total)
	assert.Equal(t, total, r.Summary.Blocked)
	assert.Equal(t, verdict.SeverityDecision, r.Blocked[len(r.Blocked)-1].Severity)

	secret := findBlocked(t, r, verdict.SecretCMKBlocked, "app/off")
	assert.Equal(t, "key-off", secret.EncryptionKeyID, "a secret blocked by its CMK names the CMK")
	assert.Equal(t, []string{"alias/byok"}, findBlocked(t, r, verdict.ImportedKeyMaterial, "key-byok").Aliases)
	for _, br := range r.Blocked[0].Resources {
		assert.Empty(t, br.EncryptionKeyID, "secrets sharing a name are not given one of their CMKs")
	}
	assert.Contains(t, section(r.Markdown(), "Blocked resources"), "| CMK `key-off` |")
}

func findBlocked(t *testing.T, r *Report, reason verdict.Reason, id string) BlockedResource {
	t.Helper()
	for _, g := range r.Blocked {
		if g.Reason != reason {
			continue
		}
		for _, br := range g.Resources {
			if br.ID == id {
				return br
			}
		}
	}
	require.Failf(t, "not blocked", "%s not blocked with %s", id, reason)
	return BlockedResource{}
}

func TestServiceKeysCountedUnlessVerbose(t *testing.T) {
	inv := goldenInventory()
	vs, p := run(t, inv, goldenPlanSettings())

	r := Build(&inv, vs, p, Options{})
	require.Equal(t, []ServiceKeys{{LaneRef: refOf(laneA), Count: 1}}, r.ServiceKeys)
	assert.NotContains(t, section(r.Markdown(), "Service keys"), "key-svc")

	r = Build(&inv, vs, p, Options{Verbose: true})
	require.Equal(t, []ServiceKeys{{LaneRef: refOf(laneA), Count: 1,
		Keys: []KeyRef{{ID: "key-svc", Aliases: []string{"alias/acs/oss"}, Creator: "Oss"}}}}, r.ServiceKeys)
	assert.Contains(t, section(r.Markdown(), "Service keys"), "| `key-svc` | `alias/acs/oss` | Oss")
}

func TestPlanSectionKeepsEveryID(t *testing.T) {
	inv := goldenInventory()
	vs, p := run(t, inv, goldenPlanSettings())
	r := Build(&inv, vs, p, Options{})
	require.NotNil(t, r.Plan)
	assert.Equal(t, p.Settings, r.Plan.Settings)
	require.Len(t, r.Plan.Lanes, len(p.Lanes))
	for i, lp := range p.Lanes {
		pl := r.Plan.Lanes[i]
		assert.Equal(t, lp.Lane, pl.Lane())
		require.Len(t, pl.Batches, len(lp.Batches))
		for j, b := range lp.Batches {
			got := pl.Batches[j]
			assert.Equal(t, b.ID, got.ID)
			assert.Equal(t, b.Keys, got.Keys)
			assert.Equal(t, b.Secrets, got.Secrets)
			assert.Equal(t, len(b.Keys), got.KeyCount)
			assert.Equal(t, len(b.Secrets), got.SecretCount)
		}
		require.Len(t, pl.Excluded, len(lp.Excluded))
	}
	var planner []string
	for _, pl := range r.Plan.Lanes {
		for _, e := range pl.Excluded {
			if e.Planner {
				planner = append(planner, e.ID+":"+string(e.Reason))
			}
		}
	}
	assert.Equal(t, []string{"key-tmp:excluded-by-filter", "app/tmp:cmk-not-planned"}, planner)
	assert.Equal(t, 2, r.Summary.Excluded)
}

func TestTerraformCoversEveryMigratingResource(t *testing.T) {
	inv := goldenInventory()
	vs, p := run(t, inv, goldenPlanSettings())
	r := Build(&inv, vs, p, Options{})
	tf := r.Terraform
	require.NotNil(t, tf)

	assert.Equal(t, []string{"dkms_instance_id", "automatic_rotation", "rotation_interval"}, tf.KeyIgnoreChanges)
	assert.Equal(t, []string{"dkms_instance_id", "enable_automatic_rotation", "rotation_interval"}, tf.SecretIgnoreChanges,
		"alicloud_kms_secret has enable_automatic_rotation, not automatic_rotation")
	assert.Equal(t, "protection_level", tf.HardwareToSoftware)
	assert.Equal(t, "1.235.0", tf.DropInstanceIDAfter)

	type ref struct{ lane, typ, id string }
	byRef := map[ref]TerraformResource{}
	for _, tr := range tf.Resources {
		k := ref{tr.Lane().String(), tr.Type, tr.ID}
		_, dup := byRef[k]
		require.False(t, dup, "%v listed twice", k)
		byRef[k] = tr
	}
	planned := 0
	for _, lp := range p.Lanes {
		for _, b := range lp.Batches {
			for _, id := range b.Keys {
				tr, ok := byRef[ref{lp.Lane.String(), TerraformKey, id}]
				require.True(t, ok, "planned key %s missing", id)
				assert.Equal(t, b.InstanceID, tr.InstanceID)
				assert.Equal(t, b.ID, tr.BatchID)
				planned++
			}
			for _, id := range b.Secrets {
				tr, ok := byRef[ref{lp.Lane.String(), TerraformSecret, id}]
				require.True(t, ok, "planned secret %s missing", id)
				assert.Equal(t, b.InstanceID, tr.InstanceID)
				planned++
			}
		}
	}
	migrated := 0
	for _, tr := range tf.Resources {
		if tr.Migrated {
			migrated++
			assert.Empty(t, tr.BatchID)
		}
		assert.Equal(t, tr.ID == "key-hsm", tr.AddProtectionLevel, "%s: only the HSM key moving to a software instance", tr.ID)
	}
	assert.Equal(t, 2, migrated)
	assert.Len(t, tf.Resources, planned+migrated)
	_, filtered := byRef[ref{laneA.String(), TerraformKey, "key-tmp"}]
	assert.False(t, filtered, "a key the plan leaves out gains no dkms_instance_id")

	md := section(r.Markdown(), "Terraform")
	for _, want := range []string{
		"**destroy and recreate**",
		"```hcl\nresource \"alicloud_kms_key\" \"example\" {",
		"    ignore_changes = [dkms_instance_id, automatic_rotation, rotation_interval]\n",
		"    ignore_changes = [dkms_instance_id, enable_automatic_rotation, rotation_interval]\n",
		"ignore_changes = [dkms_instance_id, automatic_rotation, rotation_interval, protection_level]",
		"keys `[automatic_rotation, rotation_interval]`, secrets `[enable_automatic_rotation, rotation_interval]`",
		"  dkms_instance_id = \"kst-hz-1\"\n",
		"| `key-hsm` ",
	} {
		assert.Contains(t, md, want)
	}
	assert.Equal(t, strings.Count(md, "```hcl"), 3)
	assert.Equal(t, strings.Count(md, "```"), 6, "every fence closed")
}

func TestTerraformWithoutPlanUsesVerdicts(t *testing.T) {
	inv := goldenInventory()
	vs, _ := run(t, inv, goldenPlanSettings())
	r := Build(&inv, vs, nil, Options{})
	require.NotNil(t, r.Terraform)
	want := 0
	for _, v := range vs.Resources {
		if v.Verdict.WillMigrate() || v.Verdict == verdict.AlreadyMigrated {
			want++
		}
	}
	assert.Len(t, r.Terraform.Resources, want)
	assert.Nil(t, r.Plan)
	assert.NotContains(t, r.Markdown(), "## Batch plan")
}

func TestDiscoveryOnlyReport(t *testing.T) {
	inv := goldenInventory()
	full := goldenReport(t)
	r := Build(&inv, nil, nil, Options{})

	for i := range r.Regions {
		want := full.Regions[i]
		want.TargetInstance, want.NoTargetReason, want.Batches, want.Tasks = "", "", 0, nil
		assert.Equal(t, want, r.Regions[i], "counts from the inventory match counts from the verdicts")
	}
	assert.Nil(t, r.Blocked)
	assert.Nil(t, r.Plan)
	assert.Nil(t, r.Summary.Verdicts)
	assert.Equal(t, full.ServiceKeys, r.ServiceKeys)
	require.NotNil(t, r.Terraform, "already migrated resources carry dkms_instance_id")
	assert.Len(t, r.Terraform.Resources, 2)
	require.Len(t, r.Warnings, 1)
	assert.Equal(t, verdict.DiscoveryIncomplete, r.Warnings[0].Reason)
	assert.Equal(t, []LaneRef{refOf(laneC)}, r.Warnings[0].Lanes)

	md := r.Markdown()
	assert.NotContains(t, md, "## Blocked resources")
	assert.NotContains(t, md, "## Batch plan")
	assert.Contains(t, md, "discovery is incomplete in 1 of 3 lanes")
}

func TestEmptyReport(t *testing.T) {
	r := Build(nil, nil, nil, Options{})
	md := r.Markdown()
	assert.True(t, strings.HasPrefix(md, "# KMS migration report: —\n"))
	assert.Contains(t, md, "No lane was discovered.")
	_, err := json.Marshal(r)
	require.NoError(t, err)
}

func TestWarningsDeduplicatedAcrossLanes(t *testing.T) {
	r := goldenReport(t)
	var expiring []Warning
	for _, w := range r.Warnings {
		if w.Reason == verdict.InstanceExpiringNoRenew {
			expiring = append(expiring, w)
		}
	}
	require.Len(t, expiring, 1, "one instance, one warning")
	assert.Equal(t, "kst-hz-1", expiring[0].InstanceID)
	assert.Equal(t, []LaneRef{refOf(laneA), refOf(laneB)}, expiring[0].Lanes)
	assert.Equal(t, len(r.Warnings), r.Summary.Warnings)
}

func TestPlanStopIsAWarning(t *testing.T) {
	inv := goldenInventory()
	vs, _ := run(t, inv, goldenPlanSettings())
	// The planner spends quota as it is left after in-flight batches; a
	// verdict set claiming less free room than Classify saw stops it.
	for i := range vs.Instances {
		vs.Instances[i].FreeKeys = 1
	}
	p, err := plan.New(vs, goldenPlanSettings())
	require.NoError(t, err)
	r := Build(&inv, vs, p, Options{})
	var stop *Warning
	for i, w := range r.Warnings {
		if w.Reason == verdict.InstanceQuotaTooSmall {
			stop = &r.Warnings[i]
		}
	}
	require.NotNil(t, stop)
	assert.Equal(t, "kst-hz-1", stop.InstanceID)
	assert.Contains(t, stop.Message, "Raise its key quota")
}

func TestRunIDMismatchWarns(t *testing.T) {
	inv := goldenInventory()
	vs, p := run(t, inv, goldenPlanSettings())
	p.RunID = "run-other"
	r := Build(&inv, vs, p, Options{})
	require.NotEmpty(t, r.Warnings)
	assert.Equal(t, RunIDMismatch, r.Warnings[0].Reason)
	assert.Contains(t, r.Warnings[0].Message, "plan run-other")
	assert.Equal(t, "run-20250301", r.RunID)
}

func TestBuildDoesNotModifyItsInputs(t *testing.T) {
	inv := goldenInventory()
	vs, p := run(t, inv, goldenPlanSettings())
	snap := func() string {
		b, err := json.Marshal([]any{inv, vs, p})
		require.NoError(t, err)
		return string(b)
	}
	before := snap()
	r := Build(&inv, vs, p, Options{BatchStatus: goldenStatuses(), Verbose: true})
	_ = r.Markdown()
	// Mutating the report must not reach the inputs either.
	for _, g := range r.Blocked {
		for i := range g.Resources {
			if len(g.Resources[i].Aliases) > 0 {
				g.Resources[i].Aliases[0] = "changed"
			}
		}
	}
	for _, pl := range r.Plan.Lanes {
		for _, b := range pl.Batches {
			if len(b.Keys) > 0 {
				b.Keys[0] = "changed"
			}
		}
	}
	assert.Equal(t, before, snap())
}

// Each probed lane says what discovery's first contact with the migration
// task API found, in the JSON and in the Markdown; an unprobed lane (the
// observe backend) says nothing.
func TestTaskAPIPerLane(t *testing.T) {
	inv := goldenInventory()
	probes := map[estate.Lane]*estate.TaskAPIProbe{
		laneA: {Action: "ListMigrationTasks", Available: true},
		laneB: {Action: "ListMigrationTasks", Code: "InvalidAction.NotFound", Permanent: true},
	}
	for i := range inv.Lanes {
		inv.Lanes[i].TaskAPI = probes[inv.Lanes[i].Lane]
	}
	r := Build(&inv, nil, nil, Options{})
	assert.Equal(t, "available", row(t, r, laneA).TaskAPI)
	assert.Equal(t, "unavailable InvalidAction.NotFound", row(t, r, laneB).TaskAPI)
	assert.Empty(t, row(t, r, laneC).TaskAPI)

	md := section(r.Markdown(), "Regions")
	assert.Contains(t, md, "- `"+laneA.String()+"`: migration task API: available\n")
	assert.Contains(t, md, "- `"+laneB.String()+"`: migration task API: **unavailable InvalidAction.NotFound**\n")
	assert.NotContains(t, md, laneC.String()+"`: migration task API")

	b, err := json.Marshal(r)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"taskApi":"unavailable InvalidAction.NotFound"`)
	var back Report
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, r.Markdown(), back.Markdown(), "the JSON renders the same text")

	plain := Build(ptr(goldenInventory()), nil, nil, Options{})
	assert.NotContains(t, plain.Markdown(), "migration task API", "no probe, no lines")
}

func ptr[T any](v T) *T { return &v }
