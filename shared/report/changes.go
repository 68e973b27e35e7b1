package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

// Previous is the campaign's run before this one: its inventory, which the
// changes section compares with this run's, and its plan, which lets the
// section say why a resource it planned is not in this plan. Plan may be
// nil; without Inventory there is no section.
type Previous struct {
	Inventory *estate.Inventory
	Plan      *plan.Plan
}

// Changes is the section on what owners changed since the previous run
// (estate.Diff), and on what that run planned that this plan leaves out.
type Changes struct {
	PreviousRunID string `json:"previousRunId"`
	// Counts counts Items per kind; kinds without any are left out.
	Counts map[estate.ChangeKind]int `json:"counts,omitempty"`
	Items  []ChangeItem              `json:"items,omitempty"`
	// PlanCompared is set when the previous plan was given: LeftPlan is
	// then complete (and empty when this plan carries everything again).
	PlanCompared bool `json:"planCompared,omitempty"`
	// LeftPlan lists the keys and secrets a batch of the previous plan
	// carried (not migrated when that run discovered them) that no batch
	// of this plan carries, each with why.
	LeftPlan []LeftPlan `json:"leftPlan,omitempty"`
}

// ChangeItem is one estate.Change, with the previous plan's batch that
// carried the key or secret, if one did.
type ChangeItem struct {
	LaneRef
	Resource estate.Subject    `json:"resource"`
	ID       string            `json:"id"`
	Kind     estate.ChangeKind `json:"kind"`
	From     string            `json:"from,omitempty"`
	To       string            `json:"to,omitempty"`
	// PreviousBatch is the batch of the previous plan that carried it.
	PreviousBatch string `json:"previousBatch,omitempty"`
	// Note explains a change kmsmig itself makes (rotation off around a
	// batch), so that it is not read as an owner's.
	Note string `json:"note,omitempty"`
}

// LeftPlan is a key or secret of the previous plan that this plan does not
// carry. Why is the change that explains it (gone, pending-deletion,
// disabled, migrated), else this plan's exclusion reason (for example
// in-flight-in-earlier-run: an earlier run's batch is migrating it now),
// else its verdict's reason; Detail says it in words.
type LeftPlan struct {
	LaneRef
	Resource      verdict.ResourceKind `json:"resource"`
	ID            string               `json:"id"`
	PreviousBatch string               `json:"previousBatch"`
	Why           string               `json:"why"`
	Detail        string               `json:"detail,omitempty"`
}

// Reasons of LeftPlan.Why that are neither a change kind nor a plan or
// verdict reason.
const (
	// LeftLaneNotDiscovered: this run did not discover the lane.
	LeftLaneNotDiscovered = "lane-not-discovered"
	// LeftUnexplained: nothing in this run's inputs says why.
	LeftUnexplained = "unexplained"
)

// changeWords says each change kind in plain words, for Markdown.
var changeWords = map[estate.ChangeKind]string{
	estate.ChangeCreated:         "created",
	estate.ChangeGone:            "deleted",
	estate.ChangePendingDeletion: "scheduled for deletion",
	estate.ChangeDisabled:        "disabled",
	estate.ChangeEnabled:         "enabled again",
	estate.ChangeState:           "state changed",
	estate.ChangeRotation:        "rotation policy changed",
	estate.ChangeEncryptionKey:   "encryption key (CMK) changed",
	estate.ChangeMigrated:        "migrated",
	estate.ChangeKeyQuota:        "key quota changed",
	estate.ChangeSecretQuota:     "secret quota changed",
	estate.ChangeExpiry:          "expiry changed",
	estate.ChangeAutoRenew:       "auto-renewal changed",
}

// ChangeWords returns kind in plain words ("scheduled for deletion"), or
// the kind itself when it has none.
func ChangeWords(kind estate.ChangeKind) string { return cmp.Or(changeWords[kind], string(kind)) }

// leftWords explains the change kinds that take a resource out of a plan.
var leftWords = map[estate.ChangeKind]string{
	estate.ChangeGone:            "It no longer exists: deleted since the previous run.",
	estate.ChangePendingDeletion: "Its owner scheduled it for deletion; cancel the deletion to migrate it.",
	estate.ChangeDisabled:        "Its owner disabled it; enable it to migrate it.",
	estate.ChangeMigrated:        "It has migrated into %s.",
}

// planned is where the previous plan put one key or secret.
type planned struct {
	batch       string
	seq         int
	rotationOff bool // the batch switches its rotation off
}

func (b *builder) changes() *Changes {
	prev := b.opts.Previous
	if prev == nil || prev.Inventory == nil || b.inv == nil {
		return nil
	}
	c := &Changes{PreviousRunID: prev.Inventory.RunID}
	before := b.previousBatches(prev.Plan)
	for _, ch := range estate.Diff(prev.Inventory, b.inv) {
		it := ChangeItem{LaneRef: refOf(ch.Lane), Resource: ch.Resource, ID: ch.ID, Kind: ch.Kind, From: ch.From, To: ch.To}
		if ch.Resource != estate.SubjectInstance {
			if pl, ok := before[resID{ch.Lane, verdict.ResourceKind(ch.Resource), ch.ID}]; ok {
				it.PreviousBatch = pl.batch
				if ch.Kind == estate.ChangeRotation && ch.To == "off" && pl.rotationOff {
					it.Note = fmt.Sprintf("Batch %s switches it off to migrate it: kmsmig may hold it off, and gives it back after the batch.", pl.batch)
				}
			}
		}
		if c.Counts == nil {
			c.Counts = map[estate.ChangeKind]int{}
		}
		c.Counts[ch.Kind]++
		c.Items = append(c.Items, it)
	}
	if prev.Plan != nil {
		c.PlanCompared = true
		c.LeftPlan = b.leftPlan(prev.Inventory, before, c.Items)
	}
	return c
}

// previousBatches indexes the previous plan's keys and secrets by the
// latest batch that carried each.
func (b *builder) previousBatches(p *plan.Plan) map[resID]planned {
	out := map[resID]planned{}
	if p == nil {
		return out
	}
	for _, lp := range p.Lanes {
		for _, bt := range lp.Batches {
			add := func(kind verdict.ResourceKind, ids, off []string) {
				for _, id := range ids {
					k := resID{lp.Lane, kind, id}
					if cur, ok := out[k]; !ok || bt.Seq > cur.seq {
						out[k] = planned{batch: bt.ID, seq: bt.Seq, rotationOff: slices.Contains(off, id)}
					}
				}
			}
			add(verdict.ResourceKey, bt.Keys, bt.KeysRotationOff)
			add(verdict.ResourceSecret, bt.Secrets, bt.SecretsRotationOff)
		}
	}
	return out
}

// leftPlan explains every resource of the previous plan, not migrated
// when that run discovered it, that no batch of this plan carries.
func (b *builder) leftPlan(prevInv *estate.Inventory, before map[resID]planned, items []ChangeItem) []LeftPlan {
	migratedBefore := map[resID]bool{}
	for _, li := range prevInv.Lanes {
		for _, k := range li.Keys {
			if k.Migrated() {
				migratedBefore[resID{li.Lane, verdict.ResourceKey, k.ID}] = true
			}
		}
		unmigrated := map[string]bool{}
		for _, s := range li.Secrets {
			if !s.Migrated() {
				unmigrated[s.Name] = true
			}
		}
		for _, s := range li.Secrets {
			if !unmigrated[s.Name] {
				migratedBefore[resID{li.Lane, verdict.ResourceSecret, s.Name}] = true
			}
		}
	}
	now := map[resID]bool{}
	excluded := map[resID]plan.Exclusion{}
	if b.p != nil {
		for _, lp := range b.p.Lanes {
			for _, bt := range lp.Batches {
				for _, id := range bt.Keys {
					now[resID{lp.Lane, verdict.ResourceKey, id}] = true
				}
				for _, id := range bt.Secrets {
					now[resID{lp.Lane, verdict.ResourceSecret, id}] = true
				}
			}
			for _, e := range lp.Excluded {
				excluded[resID{lp.Lane, e.Resource, e.ID}] = e
			}
		}
	}
	changed := map[resID]ChangeItem{}
	for _, it := range items {
		if _, ok := leftWords[it.Kind]; !ok || it.Resource == estate.SubjectInstance {
			continue
		}
		k := resID{it.Lane(), verdict.ResourceKind(it.Resource), it.ID}
		if _, seen := changed[k]; !seen {
			changed[k] = it // items are in kind order: gone first
		}
	}
	var out []LeftPlan
	for k, pl := range before {
		if now[k] || migratedBefore[k] {
			continue
		}
		lp := LeftPlan{LaneRef: refOf(k.lane), Resource: k.kind, ID: k.id, PreviousBatch: pl.batch}
		lp.Why, lp.Detail = b.why(k, changed, excluded)
		out = append(out, lp)
	}
	slices.SortFunc(out, func(x, y LeftPlan) int {
		return cmp.Or(x.Lane().Compare(y.Lane()), cmp.Compare(kindRank(x.Resource), kindRank(y.Resource)), cmp.Compare(x.ID, y.ID))
	})
	return out
}

// why explains one resource the previous plan carried and this one does
// not: a change first, then this plan's exclusion, then the verdict.
func (b *builder) why(k resID, changed map[resID]ChangeItem, excluded map[resID]plan.Exclusion) (string, string) {
	if it, ok := changed[k]; ok {
		detail := leftWords[it.Kind]
		if it.Kind == estate.ChangeMigrated {
			detail = fmt.Sprintf(detail, it.To)
		}
		return string(it.Kind), detail
	}
	if e, ok := excluded[k]; ok {
		detail := e.Detail
		if detail == "" {
			info, _ := e.Reason.Info()
			detail = info.Action
		}
		return string(e.Reason), detail
	}
	if v, ok := b.verdictOf[k]; ok {
		if v.Verdict == verdict.AlreadyMigrated {
			return string(estate.ChangeMigrated), "It has already migrated."
		}
		return string(v.Reason), v.Remediation
	}
	if _, ok := b.invLane[k.lane]; !ok {
		return LeftLaneNotDiscovered, fmt.Sprintf("This run did not discover lane %s.", k.lane)
	}
	return LeftUnexplained, "No batch, exclusion or verdict of this run names it."
}

func kindRank(k verdict.ResourceKind) int {
	if k == verdict.ResourceKey {
		return 0
	}
	return 1
}

// changes renders the changes section.
func (m *mdWriter) changes() {
	c := m.r.Changes
	if c == nil {
		return
	}
	prev := dash(c.PreviousRunID)
	m.h2(fmt.Sprintf("Changes since the previous run (%s)", prev))
	if len(c.Items) == 0 {
		m.p("No key, secret or instance changed since run %s.", code(prev))
	} else {
		var parts []string
		for _, k := range estate.ChangeKinds {
			if n := c.Counts[k]; n > 0 {
				parts = append(parts, num(n)+" "+ChangeWords(k))
			}
		}
		for _, k := range sortedKeys(c.Counts) {
			if !slices.Contains(estate.ChangeKinds, k) && c.Counts[k] > 0 {
				parts = append(parts, num(c.Counts[k])+" "+text(string(k)))
			}
		}
		m.p("%s %s since run %s: %s.", num(len(c.Items)), plural(len(c.Items), "change"), code(prev), strings.Join(parts, " · "))
		t := newTable("Account", "Region", "Resource", "Key ID / secret name / instance", "Change", "Before", "Now", "Previous batch", "Note")
		shown := c.Items[:min(len(c.Items), m.lim.MaxRows)]
		for _, it := range shown {
			t.add(code(it.Account), code(it.Region), string(it.Resource), code(it.ID), ChangeWords(it.Kind),
				dash(code(it.From)), dash(code(it.To)), dash(code(it.PreviousBatch)), text(clip(it.Note, detailRunes)))
		}
		m.table(t)
		m.more(len(c.Items) - len(shown))
	}
	if !c.PlanCompared {
		return
	}
	m.h3(fmt.Sprintf("Planned by %s, not in this plan", prev))
	if len(c.LeftPlan) == 0 {
		m.p("None: this plan carries again every key and secret run %s planned that had not migrated.", code(prev))
		return
	}
	m.p("Why each key or secret a batch of run %s carried is in no batch of this plan. This plan covers everything not yet migrated, except what an earlier run's batch is migrating now.", code(prev))
	t := newTable("Account", "Region", "Resource", "Key ID / secret name", "Previous batch", "Why", "Detail")
	shown := c.LeftPlan[:min(len(c.LeftPlan), m.lim.MaxRows)]
	for _, lp := range shown {
		t.add(code(lp.Account), code(lp.Region), string(lp.Resource), code(lp.ID), code(lp.PreviousBatch), code(lp.Why), text(clip(lp.Detail, detailRunes)))
	}
	m.table(t)
	m.more(len(c.LeftPlan) - len(shown))
}
