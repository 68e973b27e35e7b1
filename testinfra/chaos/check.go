package chaos

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/verdict"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// The invariants, by the names violations carry.
const (
	InvOneTask   = "no batch submitted twice"
	InvMoved     = "every migratable resource moved or reported"
	InvRotation  = "every rotation policy restored"
	InvOwner     = "no rotation restored over its owner's change"
	InvNoValue   = "no secret value read"
	InvAudit     = "audit trail complete"
	InvHistory   = "every batch history follows the transition table"
	InvConverged = "converged"
)

// check verifies every invariant against the twin and the store once the
// schedule has converged (or failed to), across every run it made: one
// for one night, every night's for many.
func (s *schedule) check(ctx context.Context) {
	states, err := s.batchStates(ctx)
	if err != nil {
		s.res.violate(InvConverged, "read batch states: "+err.Error())
		return
	}
	s.checkTasks(ctx, states)
	s.checkMoved(ctx, states)
	s.checkRotation(ctx)
	if n := s.st.KMS.CallCounts()["GetSecretValue"]; n != 0 {
		s.res.violate(InvNoValue, fmt.Sprintf("GetSecretValue called %d times", n))
	}
	s.checkAudit(states)
	s.checkHistories(states)
}

// runs are the runs of the schedule, oldest first.
func (s *schedule) runs() []string {
	if s.nights == nil {
		return []string{RunID}
	}
	return s.nights.runs
}

// batchStates reads every batch state of every run.
func (s *schedule) batchStates(ctx context.Context) ([]migration.BatchState, error) {
	var out []migration.BatchState
	for _, r := range s.runs() {
		states, err := s.runStates(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, states...)
	}
	return out, nil
}

// lanes are the lanes of every run's inventory.
func (s *schedule) lanes(ctx context.Context) ([]estate.Lane, error) {
	var out []estate.Lane
	for _, r := range s.runs() {
		inv, _, err := runstate.GetJSON[estate.Inventory](ctx, s.view, statekeys.Inventory(r))
		if err != nil {
			return nil, fmt.Errorf("read inventory of %s: %w", r, err)
		}
		for _, li := range inv.Lanes {
			if !slices.Contains(out, li.Lane) {
				out = append(out, li.Lane)
			}
		}
	}
	return out, nil
}

// checkTasks: in every run, exactly one task per batch that reached
// submitted (or scheduled), carrying exactly the batch's resources; every
// task of every lane claimed by exactly one batch (of any run, or for the
// observe backend by the operator who started it for one batch); and no
// resource in two tasks at once (the provider's task log, whatever
// claims the tasks).
func (s *schedule) checkTasks(ctx context.Context, states []migration.BatchState) {
	claimed := map[string][]string{}
	claimedBy := map[string]migration.BatchState{}
	for _, st := range states {
		reached := slices.ContainsFunc(st.History, func(t migration.Transition) bool {
			return t.To == migration.PhaseSubmitted || t.To == migration.PhaseScheduled
		})
		if reached && st.TaskID == "" {
			s.res.violate(InvOneTask, fmt.Sprintf("batch %s of %s reached submitted without a task id", st.ID, st.RunID))
		}
		if st.TaskID != "" {
			claimed[st.TaskID] = append(claimed[st.TaskID], runRef(st.RunID, st.ID))
			claimedBy[st.TaskID] = st
		}
	}
	if s.nights != nil {
		for id, ref := range s.nights.opTasks {
			claimed[id] = append(claimed[id], ref+" (the operator)")
		}
	}
	lanes, err := s.lanes(ctx)
	if err != nil {
		s.res.violate(InvOneTask, err.Error())
		return
	}
	seen := map[string]bool{}
	for _, l := range lanes {
		tasks, err := s.tasks.ListTasks(ctx, l)
		if err != nil {
			s.res.violate(InvOneTask, fmt.Sprintf("list tasks of %s: %v", l, err))
			continue
		}
		perBatch := map[string][]string{}
		for _, t := range tasks {
			seen[t.ID] = true
			bs := claimed[t.ID]
			switch len(bs) {
			case 0:
				s.res.violate(InvOneTask, fmt.Sprintf("task %s of %s (%d keys, %d secrets, created %s) belongs to no batch: a second submission",
					t.ID, l, t.KeyCount, t.SecretCount, t.CreateTime.Format("15:04:05")))
			case 1:
				perBatch[bs[0]] = append(perBatch[bs[0]], t.ID)
			default:
				s.res.violate(InvOneTask, fmt.Sprintf("task %s claimed by batches %v", t.ID, bs))
			}
		}
		for b, ts := range perBatch {
			if len(ts) > 1 {
				s.res.violate(InvOneTask, fmt.Sprintf("batch %s has tasks %v", b, ts))
			}
		}
	}
	for id, bs := range claimed {
		if !seen[id] {
			s.res.violate(InvOneTask, fmt.Sprintf("batches %v record task %s, which the provider does not know", bs, id))
		}
	}
	s.checkTaskLog(claimedBy, s.st.KMS.TaskLog())
}

// checkTaskLog: in the provider's task log, a batch's task lists exactly
// the batch's resources, and no resource is in two unfinished tasks at
// once.
func (s *schedule) checkTaskLog(claimedBy map[string]migration.BatchState, log []kmstwin.TaskRecord) {
	for _, t := range log {
		st, ok := claimedBy[t.ID]
		if !ok {
			continue
		}
		if !sameSet(t.Keys, st.Keys) || !sameSet(t.Secrets, st.Secrets) {
			s.res.violate(InvOneTask, fmt.Sprintf("batch %s of %s records task %s, which carries keys %v and secrets %v; the batch has %v and %v",
				st.ID, st.RunID, t.ID, t.Keys, t.Secrets, st.Keys, st.Secrets))
		}
	}
	for i, a := range log {
		for _, b := range log[i+1:] {
			if a.Lane != b.Lane || !overlap(a, b) {
				continue
			}
			for _, k := range a.Keys {
				if slices.Contains(b.Keys, k) {
					s.res.violate(InvOneTask, fmt.Sprintf("key %s of %s is in tasks %s and %s at once", k, a.Lane, a.ID, b.ID))
				}
			}
			for _, n := range a.Secrets {
				if slices.Contains(b.Secrets, n) {
					s.res.violate(InvOneTask, fmt.Sprintf("secret %s of %s is in tasks %s and %s at once", n, a.Lane, a.ID, b.ID))
				}
			}
		}
	}
}

// overlap reports whether two tasks were unfinished at one moment.
func overlap(a, b kmstwin.TaskRecord) bool {
	end := func(t kmstwin.TaskRecord) time.Time {
		if t.Finished.IsZero() {
			return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		return t.Finished
	}
	return a.Created.Before(end(b)) && b.Created.Before(end(a))
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// checkMoved: every resource some run classified to migrate, and that
// still exists, is in an instance some run targeted, or is reported: the
// last outcome any batch recorded for it (the latest run's, its highest
// batch's) is a failure with a reason code, or the last run to classify
// it classified it not to migrate, with the discovery's reason. (A
// failure whose retry an earlier run planned but never ran, because a
// later run became current, is reported with its reason in that run; the
// next discover plans the resource again.)
func (s *schedule) checkMoved(ctx context.Context, states []migration.BatchState) {
	targets := map[resKey][]string{}
	latest := map[resKey]verdict.Verdict{}
	var order []resKey
	for _, run := range s.runs() {
		vs, _, err := runstate.GetJSON[verdict.Verdicts](ctx, s.view, statekeys.Verdicts(run))
		if err != nil {
			s.res.violate(InvMoved, fmt.Sprintf("read verdicts of %s: %v", run, err))
			return
		}
		for _, v := range vs.Resources {
			k := resKey{v.Lane, v.Resource, v.ID}
			latest[k] = v
			if !v.Verdict.WillMigrate() {
				continue
			}
			if _, ok := targets[k]; !ok {
				order = append(order, k)
			}
			if !slices.Contains(targets[k], v.InstanceID) {
				targets[k] = append(targets[k], v.InstanceID)
			}
		}
	}
	outcome := lastOutcomes(s.runs(), states)
	for _, k := range order {
		if s.nights != nil && s.nights.deleted[k] {
			continue
		}
		var got string
		var err error
		if k.Kind == verdict.ResourceKey {
			var key estate.Key
			key, err = s.client.Key(ctx, k.Lane, k.ID)
			got = key.InstanceID
		} else {
			var sec estate.Secret
			sec, err = s.client.Secret(ctx, k.Lane, estate.Secret{Name: k.ID})
			got = sec.InstanceID
		}
		o, recorded := outcome[k]
		last := latest[k]
		switch {
		case err == nil && got != "" && slices.Contains(targets[k], got):
		case recorded && (o.Result == migration.ResultFailed || o.Result == migration.ResultDropped) && o.ReasonCode != "":
		case recorded && (o.Result == migration.ResultFailed || o.Result == migration.ResultDropped):
			s.res.violate(InvMoved, fmt.Sprintf("%s reported without a reason", k))
		case !last.Verdict.WillMigrate() && last.Reason != "":
		case recorded:
			s.res.violate(InvMoved, fmt.Sprintf("%s: recorded %s into %s, but in %q (%v)", k, o.Result, o.InstanceID, got, err))
		default:
			s.res.violate(InvMoved, fmt.Sprintf("%s: in %q, want %q, not reported (%v)", k, got, targets[k], err))
		}
	}
}

// lastOutcomes returns, per resource, the outcome the last batch to
// record one recorded: runs in campaign order, batches by seq.
func lastOutcomes(runs []string, states []migration.BatchState) map[resKey]migration.ResourceOutcome {
	sorted := slices.Clone(states)
	slices.SortStableFunc(sorted, func(a, b migration.BatchState) int {
		return cmp.Or(cmp.Compare(slices.Index(runs, a.RunID), slices.Index(runs, b.RunID)), cmp.Compare(a.Seq, b.Seq))
	})
	out := map[resKey]migration.ResourceOutcome{}
	for _, st := range sorted {
		for _, o := range st.Resources {
			out[resKey{st.Lane, o.Kind, o.ID}] = o
		}
	}
	return out
}

// checkRotation: every key and secret shows the rotation policy the
// schedule first saw, unless its owner changed it since; a changed one
// shows what its owner last set (InvOwner), except a switch-off made while
// kmsmig's ledger entry was off, which no engine can tell from its own
// and which the ledger therefore governs; no ledger entry is off, and
// each shows what it ended with: the recorded original (restored,
// verified) or the owner's policy (superseded), unless the owner changed
// the resource after the entry's end.
func (s *schedule) checkRotation(ctx context.Context) {
	initial, err := s.initialPolicies(ctx)
	if err != nil {
		s.res.violate(InvRotation, err.Error())
		return
	}
	last := map[resKey]ownerChange{}
	var deleted map[resKey]bool
	if s.nights != nil {
		for _, c := range s.nights.owners {
			last[c.Res] = c
		}
		deleted = s.nights.deleted
	}
	changedAfter := func(r resKey, t time.Time) bool { c, ok := last[r]; return ok && c.At.After(t) }
	now := map[resKey]estate.Rotation{}
	read := func(r resKey) (estate.Rotation, error) {
		if p, ok := now[r]; ok {
			return p, nil
		}
		p, _, err := s.policy(ctx, r)
		if err == nil {
			now[r] = p
		}
		return p, err
	}
	keys := slices.SortedFunc(maps.Keys(initial), resKey.compare)
	for _, r := range keys {
		if deleted[r] {
			continue
		}
		got, err := read(r)
		if errors.Is(err, cloud.ErrNotFound) && r.Kind == verdict.ResourceSecret {
			continue
		}
		c, changed := last[r]
		switch {
		case err != nil:
			s.res.violate(InvRotation, fmt.Sprintf("%s: %v", r, err))
		case changed && (c.After.Enabled || !c.HeldOff):
			if !samePolicy(got, c.After) {
				s.res.violate(InvOwner, fmt.Sprintf("%s: %s; its owner set %s at %s (it was %s, kmsmig's ledger entry off: %v)",
					r, rot(got), rot(c.After), c.At.Format("01-02 15:04"), rot(c.Before), c.HeldOff))
			}
		case changed:
			// Switched off by its owner while kmsmig held it off: the ledger
			// entry below governs.
		case !samePolicy(got, initial[r]):
			s.res.violate(InvRotation, fmt.Sprintf("%s: %s, recorded %s", r, rot(got), rot(initial[r])))
		}
	}
	lkeys, err := s.view.List(ctx, statekeys.LedgerPrefix)
	if err != nil {
		s.res.violate(InvRotation, "list ledger: "+err.Error())
		return
	}
	statuses := map[migration.LedgerStatus]int{}
	defer func() { s.res.Logf("ledger: %d entries %v", len(lkeys), statuses) }()
	for _, k := range lkeys {
		le, _, err := runstate.GetJSON[migration.LedgerEntry](ctx, s.view, k)
		statuses[le.Status]++
		if err != nil || le.Off() {
			s.res.violate(InvRotation, fmt.Sprintf("ledger entry %s still off (batch %s of %s, last error %q, %v)", k, le.BatchID, le.RunID, le.LastError, err))
			continue
		}
		r := resKey{le.Lane, le.Kind, le.ID}
		want, end := le.Original, le.RestoredAt
		if le.Status == migration.LedgerSuperseded && le.Found != nil {
			want, end = *le.Found, le.SupersededAt
		}
		if deleted[r] || le.LastError == migration.ReasonResourceGone || changedAfter(r, end) {
			continue
		}
		got, err := read(r)
		if err != nil || !samePolicy(got, want) {
			s.res.violate(InvRotation, fmt.Sprintf("ledger entry %s is %s with %s, KMS shows %s (%v)", k, le.Status, rot(want), rot(got), err))
		}
	}
}

// samePolicy compares policies the way KMS applies them: the interval
// matters only when rotation is on.
func samePolicy(a, b estate.Rotation) bool {
	if a.Enabled != b.Enabled {
		return false
	}
	return !a.Enabled || a.Interval == b.Interval
}

func rot(r estate.Rotation) string {
	if !r.Enabled {
		return "off"
	}
	return "on every " + r.Interval.String()
}

// checkAudit: every transition of every batch history, in every run, has
// a Transition record of the same run, batch and phase (and request, where
// the history names one), and the trail dropped nothing.
func (s *schedule) checkAudit(states []migration.BatchState) {
	type key struct{ run, batch, to, req string }
	byPhase := map[key]int{}
	byReq := map[key]bool{}
	for _, r := range s.trail.Records() {
		if r.Action != "Transition" {
			continue
		}
		byPhase[key{r.RunID, r.BatchID, r.Outcome, ""}]++
		byReq[key{r.RunID, r.BatchID, r.Outcome, r.RequestID}] = true
	}
	for _, st := range states {
		need := map[key]int{}
		for _, t := range st.History {
			k := key{st.RunID, st.ID, string(t.To), ""}
			need[k]++
			if t.RequestID != "" && !byReq[key{st.RunID, st.ID, string(t.To), t.RequestID}] {
				s.res.violate(InvAudit, fmt.Sprintf("batch %s of %s: transition %s → %s by %s at %s has no Transition record",
					st.ID, st.RunID, t.From, t.To, t.RequestID, t.At.Format("15:04:05")))
			}
		}
		for k, n := range need {
			if byPhase[k] < n {
				s.res.violate(InvAudit, fmt.Sprintf("batch %s of %s: %d transitions to %s in its history, %d Transition records", k.batch, k.run, n, k.to, byPhase[k]))
			}
		}
	}
	if st := s.trail.Stats(); st.Dropped != 0 || !st.Complete() {
		s.res.violate(InvAudit, fmt.Sprintf("trail incomplete: %+v", st))
	}
}

// checkHistories: every batch's history, in every run, is a path through
// the engine's transition table that ends in the batch's phase.
func (s *schedule) checkHistories(states []migration.BatchState) {
	for _, st := range states {
		if err := migration.ValidHistory(st.History); err != nil {
			s.res.violate(InvHistory, fmt.Sprintf("batch %s of %s: %v", st.ID, st.RunID, err))
			continue
		}
		if last := st.History[len(st.History)-1].To; last != st.Phase {
			s.res.violate(InvHistory, fmt.Sprintf("batch %s of %s is %s, but its history ends in %s", st.ID, st.RunID, st.Phase, last))
		}
	}
}

// reproduce is the command line that runs one schedule again.
func reproduce(seed uint64, index int, inventory string, steps, nights int, state string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "kmsmig chaos --seed %d --first %d --schedules 1", seed, index)
	if state != "" && state != StateOSS {
		fmt.Fprintf(&b, " --state %s", state)
	}
	if nights > 1 {
		fmt.Fprintf(&b, " --nights %d", nights)
	}
	if inventory != "" && inventory != "demo" {
		fmt.Fprintf(&b, " --inventory %s", inventory)
	}
	if steps != DefaultSteps {
		fmt.Fprintf(&b, " --steps %d", steps)
	}
	return b.String() + " -v"
}
