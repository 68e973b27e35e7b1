package app

import (
	"context"
	"fmt"
	"time"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/approval"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/plan"
)

// ApprovalRequired reports whether migrate needs an approval of a run's
// plan before it starts it (KMSMIG_APPROVAL=required).
func (cfg Config) ApprovalRequired() bool { return cfg.Approval == approval.ModeRequired }

// ApproveCommand is the command that approves runID, as the notifications,
// reports and refusals name it.
func ApproveCommand(runID string) string { return "kmsmig approve --run " + runID }

// approvalAwaited is the notification of a plan awaiting approval.
func approvalAwaited(runID string, s approval.Summary) alert.Alert {
	return alert.ApprovalAwaited(runID, s.Digest, alert.PlanCounts{Lanes: len(s.Lanes), Batches: s.Batches, Keys: s.Keys,
		Secrets: s.Secrets, RotationOff: s.RotationOff, Blockers: s.Blockers}, ApproveCommand(runID))
}

// requestApproval, under KMSMIG_APPROVAL=required, records that the plan
// just stored awaits approval, audits it and returns the decision (and
// the summary for the notification); needed is false, and nothing is
// written, when the plan has no pending batch (nothing to approve). An
// approval of the same digest given before (a re-plan that changed
// nothing pending) still holds.
func (d *Discoverer) requestApproval(ctx context.Context, p *plan.Plan, at time.Time) (dec approval.Decision, sum approval.Summary, needed bool, err error) {
	st, err := approval.Statuses(ctx, d.Store, p.RunID)
	if err != nil || len(approval.Pending(p, st)) == 0 {
		return approval.Decision{}, approval.Summary{}, false, err
	}
	dec, sum, err = approval.RequestApproval(ctx, d.Store, p, st, at)
	if err != nil {
		return dec, sum, true, err
	}
	if d.Audit != nil {
		rec := audit.Record{Level: audit.LevelInfo, Action: "RequestApproval", ResourceType: "plan", ResourceID: p.Digest, Outcome: "awaiting",
			ReasonCode: dec.Reason, Message: dec.Why(p.RunID)}
		if dec.Approved {
			rec.Outcome, rec.Message = "approved", fmt.Sprintf("the plan's digest %s was approved by %s at %s", p.Digest, dec.Approval.By, dec.Approval.At.UTC().Format(time.RFC3339))
		}
		d.Audit.Log(audit.WithScope(ctx, audit.Scope{RunID: p.RunID}), rec)
	}
	return dec, sum, true, nil
}

// approvalSection is the discovery report's section on the approval.
func approvalSection(runID string, dec approval.Decision, sum approval.Summary) string {
	if dec.Approved {
		return fmt.Sprintf("\n## Approval\n\nApproved by %s at %s (digest `%s`).\n", dec.Approval.By, dec.Approval.At.UTC().Format("2006-01-02 15:04Z"), dec.PlanDigest)
	}
	return fmt.Sprintf("\n## Approval\n\n**Awaiting approval.** Nothing is switched off or submitted until this plan (digest `%s`: %d batches, %d keys, %d secrets, %d rotation policies to switch off) is approved: run `%s`.\n",
		dec.PlanDigest, sum.Batches, sum.Keys, sum.Secrets, sum.RotationOff, ApproveCommand(runID))
}

// checkApproval, under KMSMIG_APPROVAL=required, asks whether the run's
// plan is approved. A refusal (no approval, or one of another digest) is
// audited and notifies the operators (de-duplicated per digest); it
// returns the refusal ("" when approved). The engine holds the batches
// itself (migration.Engine.Approvals): this is the record of it.
func (x *Executor) checkApproval(ctx context.Context, runID string) (string, error) {
	dec, err := approval.Check(ctx, x.Engine.Store, runID)
	if err != nil {
		return "", err
	}
	if dec.Approved {
		// The approval itself joins the trail once (kmsmig approve runs
		// where the trail may not be reachable).
		if a := dec.Approval; !a.Recorded && x.Engine.Audit != nil {
			x.Engine.Audit.Log(audit.WithScope(ctx, audit.Scope{RunID: runID}), audit.Record{Level: audit.LevelInfo, Action: "Approve",
				ResourceType: "plan", ResourceID: a.Digest, Outcome: "approved",
				Message: fmt.Sprintf("plan %s of %s approved by %s (%s) at %s: %d batches, %d keys, %d secrets, %d rotation policies to switch off",
					a.Digest, runID, a.By, a.By.IdentityType, a.At.UTC().Format(time.RFC3339), a.Summary.Batches, a.Summary.Keys, a.Summary.Secrets, a.Summary.RotationOff)})
			if err := approval.MarkRecorded(ctx, x.Engine.Store, runID, a.Digest); err != nil {
				return "", err
			}
		}
		return "", nil
	}
	p, st, err := approval.Plan(ctx, x.Engine.Store, runID)
	if err != nil {
		return "", err
	}
	sum := approval.Summarize(&p, st)
	if sum.Batches == 0 {
		return "", nil // nothing pending: nothing awaits an approval
	}
	why := dec.Why(runID)
	if x.Engine.Audit != nil {
		x.Engine.Audit.Log(audit.WithScope(ctx, audit.Scope{RunID: runID}), audit.Record{Level: audit.LevelWarn, Action: "ApprovalGate",
			ResourceType: "plan", ResourceID: dec.PlanDigest, Outcome: "refused", ReasonCode: dec.Reason, Message: why})
	}
	if x.Alerts != nil && dec.PlanDigest != "" {
		_ = x.Alerts.Alert(ctx, approvalAwaited(runID, sum))
	}
	return why, nil
}
