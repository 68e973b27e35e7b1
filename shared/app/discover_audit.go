package app

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/report"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

// Alerts raises alerts. *alert.Alerter implements it; its errors are for
// the caller's information only (an alert that cannot be delivered never
// fails a migration step).
type Alerts interface {
	Alert(ctx context.Context, a alert.Alert) error
}

// auditDiscovery writes what a discover run found and decided: one record
// per lane (with the provider-call outcome), per discovery error, per
// verdict, per lane blocker (also raised as an alert), and per planned
// batch.
func (d *Discoverer) auditDiscovery(ctx context.Context, inv *estate.Inventory, vs *verdict.Verdicts, p *plan.Plan, replanned bool) {
	log := d.Audit
	if log == nil {
		return
	}
	for _, li := range inv.Lanes {
		outcome, level := "complete", audit.LevelInfo
		if len(li.Errors) > 0 {
			outcome, level = "incomplete", audit.LevelWarn
		}
		log.Log(ctx, audit.Record{Level: level, Account: li.Lane.Account, Region: li.Lane.Region, Action: "DiscoverLane", Outcome: outcome,
			Message: fmt.Sprintf("%d keys, %d secrets, %d instances, %d failed calls", len(li.Keys), len(li.Secrets), len(li.Instances), len(li.Errors))})
		if p := li.TaskAPI; p != nil {
			rec := audit.Record{Level: audit.LevelInfo, Account: li.Lane.Account, Region: li.Lane.Region, ResourceType: "lane",
				ResourceID: li.Lane.String(), Action: "ProbeTaskAPI", Outcome: "available", Message: p.Action + " answered"}
			if !p.Available {
				rec.Level, rec.Outcome, rec.ReasonCode, rec.Message = audit.LevelWarn, "unavailable", p.Code, p.Message
			}
			log.Log(ctx, rec)
		}
		for _, e := range li.Errors {
			log.Log(ctx, audit.Record{Level: audit.LevelWarn, Account: li.Lane.Account, Region: li.Lane.Region, Action: e.Op,
				ResourceID: e.Resource, Outcome: "failed", ReasonCode: e.Code, Message: e.Message})
		}
	}
	for _, v := range vs.Resources {
		level := audit.LevelInfo
		if v.Verdict == verdict.Blocked && v.Reason.NeedsAction() {
			level = audit.LevelWarn
		}
		log.Log(ctx, audit.Record{Level: level, Account: v.Lane.Account, Region: v.Lane.Region, ResourceType: string(v.Resource),
			ResourceID: v.ID, Action: "Classify", Outcome: string(v.Verdict), ReasonCode: string(v.Reason), Message: v.Remediation})
	}
	for _, lf := range vs.Lanes {
		f, blocked := lf.Blocker()
		if !blocked {
			continue
		}
		log.Log(ctx, audit.Record{Level: audit.LevelWarn, Account: lf.Lane.Account, Region: lf.Lane.Region, ResourceType: "lane",
			ResourceID: lf.Lane.String(), Action: "Preflight", Outcome: "blocked", ReasonCode: string(f.Reason), Message: f.Remediation})
		if d.Alerts != nil {
			_ = d.Alerts.Alert(ctx, alert.PreflightBlocked(lf.Lane.Account, lf.Lane.Region, string(f.Reason), f.Remediation))
		}
	}
	outcome := "created"
	if replanned {
		outcome = "updated"
	}
	log.Log(ctx, audit.Record{Action: "Plan", Outcome: outcome, Message: fmt.Sprintf("%d batches", p.BatchCount())})
	for _, lp := range p.Lanes {
		for _, b := range lp.Batches {
			log.Log(ctx, audit.Record{Account: lp.Lane.Account, Region: lp.Lane.Region, BatchID: b.ID, ResourceType: "batch", ResourceID: b.InstanceID,
				Action: "PlanBatch", Outcome: "planned", Message: fmt.Sprintf("%d keys, %d secrets, %d rotations to switch off",
					len(b.Keys), len(b.Secrets), len(b.KeysRotationOff)+len(b.SecretsRotationOff))})
		}
	}
}

// auditChanges writes one EstateChange record per change since the
// previous run (estate.Diff), outcome the kind of change, so that the
// trail explains what owners changed between nights, as the report does.
func (d *Discoverer) auditChanges(ctx context.Context, prev *report.Previous, inv *estate.Inventory) {
	if d.Audit == nil || prev == nil {
		return
	}
	for _, c := range estate.Diff(prev.Inventory, inv) {
		msg := report.ChangeWords(c.Kind) + " since run " + prev.Inventory.RunID
		if c.From != "" || c.To != "" {
			msg += fmt.Sprintf(": %s → %s", cmp.Or(c.From, "none"), cmp.Or(c.To, "none"))
		}
		d.Audit.Log(ctx, audit.Record{Account: c.Lane.Account, Region: c.Lane.Region, ResourceType: string(c.Resource),
			ResourceID: c.ID, Action: "EstateChange", Outcome: string(c.Kind), Message: msg})
	}
}

// auditEnd records the end of a discover invocation.
func (d *Discoverer) auditEnd(ctx context.Context, res DiscoverResult, err error, start time.Time, now time.Time) {
	if d.Audit == nil {
		return
	}
	r := audit.Record{Action: "Discover", Outcome: "completed", DurationMS: now.Sub(start).Milliseconds(),
		Message: fmt.Sprintf("%d lanes, %d keys, %d secrets, %d batches", res.Lanes, res.Counts.Keys, res.Counts.Secrets, res.Batches)}
	if res.DryRun {
		r.Outcome = "dry-run"
	}
	if err != nil {
		r.Level, r.Outcome, r.Message = audit.LevelError, "failed", err.Error()
	}
	d.Audit.Log(ctx, r)
}
