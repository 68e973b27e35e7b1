package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/approval"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

func TestApprovalSetting(t *testing.T) {
	for v, want := range map[string]string{"": "auto", "auto": "auto", "required": "required"} {
		cfg, err := app.LoadConfig(func(k string) string { return map[string]string{"KMSMIG_APPROVAL": v}[k] })
		require.NoError(t, err)
		assert.Equal(t, want, cfg.Approval)
		assert.Equal(t, want == "required", cfg.ApprovalRequired())
	}
	_, err := app.LoadConfig(func(k string) string { return map[string]string{"KMSMIG_APPROVAL": "maybe"}[k] })
	require.EqualError(t, err, `configuration: KMSMIG_APPROVAL: "maybe": want auto or required`)
}

// Under KMSMIG_APPROVAL=required discover stores the plan with its digest
// and asks for approval (report, result, audit, notification); migrate
// switches nothing off and submits nothing, auditing each refusal, until
// the digest is approved; then the run goes on.
func TestApprovalRequiredHoldsTheRun(t *testing.T) {
	_, d := demoWith(t, stack.Options{Timing: kmstwin.TaskTiming{Speed: 1e6}})
	ctx := t.Context()
	d.Config.Approval = approval.ModeRequired
	trail := &records{}
	alerts := &alertRecorder{}
	d.Audit, d.Alerts, d.Reports = trail, alerts, app.RenderReports
	disc, err := d.Handle(ctx, app.DiscoverEvent{})
	require.NoError(t, err)
	require.Positive(t, disc.Batches)
	assert.Equal(t, "awaiting approval: run kmsmig approve --run "+disc.RunID+" (plan ", disc.Approval[:len("awaiting approval: run kmsmig approve --run "+disc.RunID+" (plan ")])

	p, _, err := runstate.GetJSON[plan.Plan](ctx, d.Store, statekeys.Plan(disc.RunID))
	require.NoError(t, err)
	assert.Equal(t, approval.Digest(&p, nil), p.Digest, "the plan is stored with its digest")
	_, md := statekeys.DiscoveryReport(disc.RunID)
	obj, err := d.Store.Get(ctx, md)
	require.NoError(t, err)
	assert.Contains(t, string(obj.Data), "**Awaiting approval.**")
	assert.Contains(t, string(obj.Data), "`kmsmig approve --run "+disc.RunID+"`")
	assert.Equal(t, []string{"awaiting"}, trail.outcomes("RequestApproval"))
	keys := alerts.take()
	require.Contains(t, keys, "approval-awaited/"+disc.RunID+"/"+p.Digest)
	aw := alerts.last(t)
	assert.Contains(t, aw.Text, "`kmsmig approve --run "+disc.RunID+"`")
	assert.Contains(t, aw.Text, "**blockers** (left out): ")

	c := d.Source.(*kms.Client)
	eng := &migration.Engine{Store: d.Store, KMS: c, Tasks: c.Tasks(kms.TaskActions{}), Config: d.Config.EngineConfig(d.Now()),
		Audit: trail, Approvals: approval.Gate{Store: d.Store}}
	x := &app.Executor{Config: d.Config, Alerts: alerts, Now: d.Now, Engine: eng}
	res, err := x.Migrate(ctx, app.StepEvent{})
	require.NoError(t, err)
	assert.Contains(t, res.Approval, "kmsmig approve --run "+disc.RunID)
	for _, s := range res.Steps {
		assert.Equal(t, migration.OutcomeWaiting, s.Outcome, s.BatchID)
		assert.Equal(t, migration.PhasePlanned, s.Phase, s.BatchID)
	}
	assert.Equal(t, []string{"refused"}, trail.outcomes("ApprovalGate"))
	assert.Equal(t, []string{"approval-awaited/" + disc.RunID + "/" + p.Digest}, alerts.take(), "the same digest, the same (de-duplicated) key")
	for _, lane := range []string{"1111000011110001/cn-hangzhou", "2222000022220002/cn-hangzhou"} {
		tasks, err := c.Tasks(kms.TaskActions{}).ListTasks(ctx, mustLane(t, lane))
		require.NoError(t, err)
		assert.Empty(t, tasks, "nothing submitted without approval in %s", lane)
	}
	rep, err := eng.BuildReport(ctx, disc.RunID)
	require.NoError(t, err)
	assert.Contains(t, string(rep.Markdown()), "**Awaiting approval**: run kmsmig approve --run "+disc.RunID)

	_, _, err = approval.Approve(ctx, d.Store, disc.RunID, p.Digest, approval.Identity{AccountID: "1111000011110001"}, time.Now())
	require.NoError(t, err)
	res, err = x.Migrate(ctx, app.StepEvent{})
	require.NoError(t, err)
	assert.Empty(t, res.Approval)
	assert.Equal(t, []string{"approved"}, trail.outcomes("Approve"), "the approval joins the trail")
	var submitted []string
	for _, s := range res.Steps {
		if s.Phase == migration.PhaseSubmitted {
			submitted = append(submitted, s.BatchID)
		}
	}
	assert.NotEmpty(t, submitted, "approved: batches submitted")
	assert.Equal(t, []string{"refused"}, trail.outcomes("ApprovalGate"), "no refusal once approved")

	// discover again, same estate: the batches that started are frozen,
	// the pending ones are re-planned unchanged, so the approval still
	// covers them and nothing is refused.
	disc2, err := d.Handle(ctx, app.DiscoverEvent{})
	require.NoError(t, err)
	require.True(t, disc2.Replanned)
	assert.Empty(t, disc2.Approval, "the re-plan changed no pending batch")
	p2, _, err := runstate.GetJSON[plan.Plan](ctx, d.Store, statekeys.Plan(disc.RunID))
	require.NoError(t, err)
	assert.NotEqual(t, p.Digest, p2.Digest, "fewer batches are pending")
	assert.Equal(t, approval.Digest(&p2, mustStatuses(t, d.Store, disc.RunID)), p2.Digest)
	res, err = x.Migrate(ctx, app.StepEvent{})
	require.NoError(t, err)
	assert.Empty(t, res.Approval)
	assert.Equal(t, []string{"refused"}, trail.outcomes("ApprovalGate"))
	assert.Equal(t, []string{"approved"}, trail.outcomes("Approve"), "once")
}

// last is the last alert raised, whatever take has forgotten since.
func (r *alertRecorder) last(t *testing.T) alert.Alert {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.NotEmpty(t, r.all)
	return r.all[len(r.all)-1]
}

func mustStatuses(t *testing.T, s runstate.Store, runID string) map[string]plan.Status {
	t.Helper()
	st, err := approval.Statuses(t.Context(), s, runID)
	require.NoError(t, err)
	return st
}

func mustLane(t *testing.T, s string) (l estate.Lane) {
	t.Helper()
	parts := strings.SplitN(s, "/", 2)
	l.Account, l.Region = parts[0], parts[1]
	return l
}
