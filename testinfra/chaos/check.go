package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

// The invariants, by the names violations carry.
const (
	InvOneTask   = "no batch submitted twice"
	InvMoved     = "every migratable resource moved or reported"
	InvRotation  = "every rotation policy restored"
	InvNoValue   = "no secret value read"
	InvAudit     = "audit trail complete"
	InvHistory   = "every batch history follows the transition table"
	InvConverged = "converged"
)

// check verifies every invariant against the twin and the store once the
// run has converged (or failed to).
func (s *schedule) check(ctx context.Context) {
	states, err := s.batchStates(ctx)
	if err != nil {
		s.res.violate(InvConverged, "read batch states: "+err.Error())
		return
	}
	s.checkTasks(ctx, states)
	s.checkMoved(ctx)
	s.checkRotation(ctx)
	if n := s.st.KMS.CallCounts()["GetSecretValue"]; n != 0 {
		s.res.violate(InvNoValue, fmt.Sprintf("GetSecretValue called %d times", n))
	}
	s.checkAudit(states)
	s.checkHistories(states)
}

func (s *schedule) batchStates(ctx context.Context) ([]migration.BatchState, error) {
	keys, err := s.store.List(ctx, statekeys.BatchPrefix(RunID))
	if err != nil {
		return nil, err
	}
	var out []migration.BatchState
	for _, k := range keys {
		st, _, err := runstate.GetJSON[migration.BatchState](ctx, s.store, k)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// checkTasks: exactly one task per batch that reached submitted (or
// scheduled), and every task of every lane claimed by exactly one batch.
func (s *schedule) checkTasks(ctx context.Context, states []migration.BatchState) {
	claimed := map[string][]string{}
	for _, st := range states {
		reached := slices.ContainsFunc(st.History, func(t migration.Transition) bool {
			return t.To == migration.PhaseSubmitted || t.To == migration.PhaseScheduled
		})
		if reached && st.TaskID == "" {
			s.res.violate(InvOneTask, fmt.Sprintf("batch %s reached submitted without a task id", st.ID))
		}
		if st.TaskID != "" {
			claimed[st.TaskID] = append(claimed[st.TaskID], st.ID)
		}
	}
	inv, _, err := runstate.GetJSON[estate.Inventory](ctx, s.store, statekeys.Inventory(RunID))
	if err != nil {
		s.res.violate(InvOneTask, "read inventory: "+err.Error())
		return
	}
	seen := map[string]bool{}
	for _, li := range inv.Lanes {
		tasks, err := s.tasks.ListTasks(ctx, li.Lane)
		if err != nil {
			s.res.violate(InvOneTask, fmt.Sprintf("list tasks of %s: %v", li.Lane, err))
			continue
		}
		perBatch := map[string][]string{}
		for _, t := range tasks {
			seen[t.ID] = true
			bs := claimed[t.ID]
			switch len(bs) {
			case 0:
				s.res.violate(InvOneTask, fmt.Sprintf("task %s of %s (%d keys, %d secrets, created %s) belongs to no batch: a second submission",
					t.ID, li.Lane, t.KeyCount, t.SecretCount, t.CreateTime.Format("15:04:05")))
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
}

// checkMoved: every resource classified to migrate is in its instance, or
// reported as failed for good or dropped, with a reason code.
func (s *schedule) checkMoved(ctx context.Context) {
	rep, err := s.engine(s.store, 0).BuildReport(ctx, RunID)
	if err != nil {
		s.res.violate(InvMoved, "build report: "+err.Error())
		return
	}
	reported := map[string]string{}
	for _, f := range rep.Failures {
		if f.RetryBatch == "" {
			reported[string(f.Kind)+" "+f.Lane.String()+" "+f.ID] = f.ReasonCode
		}
	}
	for _, d := range rep.Dropped {
		reported[string(d.Kind)+" "+d.Lane.String()+" "+d.ID] = d.ReasonCode
	}
	for _, v := range s.migratable {
		var got string
		var err error
		if v.Resource == verdict.ResourceKey {
			var k estate.Key
			k, err = s.client.Key(ctx, v.Lane, v.ID)
			got = k.InstanceID
		} else {
			var sec estate.Secret
			sec, err = s.client.Secret(ctx, v.Lane, estate.Secret{Name: v.ID})
			got = sec.InstanceID
		}
		code, isReported := reported[string(v.Resource)+" "+v.Lane.String()+" "+v.ID]
		switch {
		case err == nil && got == v.InstanceID:
		case isReported && code != "":
		case isReported:
			s.res.violate(InvMoved, fmt.Sprintf("%s %s in %s reported without a reason", v.Resource, v.ID, v.Lane))
		default:
			s.res.violate(InvMoved, fmt.Sprintf("%s %s in %s: in %q, want %q, not reported (%v)", v.Resource, v.ID, v.Lane, got, v.InstanceID, err))
		}
	}
}

// checkRotation: every key and secret has exactly the rotation policy
// discovery recorded, and no ledger entry is still off.
func (s *schedule) checkRotation(ctx context.Context) {
	inv, _, err := runstate.GetJSON[estate.Inventory](ctx, s.store, statekeys.Inventory(RunID))
	if err != nil {
		s.res.violate(InvRotation, "read inventory: "+err.Error())
		return
	}
	for _, li := range inv.Lanes {
		for _, k := range li.Keys {
			if k.IsServiceKey() {
				continue
			}
			now, err := s.client.Key(ctx, li.Lane, k.ID)
			if err != nil || now.Rotation != k.Rotation {
				s.res.violate(InvRotation, fmt.Sprintf("key %s in %s: %s, recorded %s (%v)", k.ID, li.Lane, rot(now.Rotation), rot(k.Rotation), err))
			}
		}
		for _, sec := range li.Secrets {
			now, err := s.client.Secret(ctx, li.Lane, estate.Secret{Name: sec.Name})
			if errors.Is(err, cloud.ErrNotFound) {
				continue
			}
			if err != nil || now.Rotation != sec.Rotation {
				s.res.violate(InvRotation, fmt.Sprintf("secret %s in %s: %s, recorded %s (%v)", sec.Name, li.Lane, rot(now.Rotation), rot(sec.Rotation), err))
			}
		}
	}
	keys, err := s.store.List(ctx, statekeys.LedgerPrefix)
	if err != nil {
		s.res.violate(InvRotation, "list ledger: "+err.Error())
		return
	}
	for _, k := range keys {
		le, _, err := runstate.GetJSON[migration.LedgerEntry](ctx, s.store, k)
		if err != nil || le.Off() {
			s.res.violate(InvRotation, fmt.Sprintf("ledger entry %s still off (batch %s, last error %q, %v)", k, le.BatchID, le.LastError, err))
		}
	}
}

func rot(r estate.Rotation) string {
	if !r.Enabled {
		return "off"
	}
	return "on every " + r.Interval.String()
}

// checkAudit: every transition of every batch history has a Transition
// record of the same batch and phase (and request, where the history
// names one), and the trail dropped nothing.
func (s *schedule) checkAudit(states []migration.BatchState) {
	type key struct{ batch, to, req string }
	byPhase := map[key]int{}
	byReq := map[key]bool{}
	for _, r := range s.trail.Records() {
		if r.Action != "Transition" {
			continue
		}
		byPhase[key{r.BatchID, r.Outcome, ""}]++
		byReq[key{r.BatchID, r.Outcome, r.RequestID}] = true
	}
	for _, st := range states {
		need := map[key]int{}
		for _, t := range st.History {
			k := key{st.ID, string(t.To), ""}
			need[k]++
			if t.RequestID != "" && !byReq[key{st.ID, string(t.To), t.RequestID}] {
				s.res.violate(InvAudit, fmt.Sprintf("batch %s: transition %s → %s by %s at %s has no Transition record",
					st.ID, t.From, t.To, t.RequestID, t.At.Format("15:04:05")))
			}
		}
		for k, n := range need {
			if byPhase[k] < n {
				s.res.violate(InvAudit, fmt.Sprintf("batch %s: %d transitions to %s in its history, %d Transition records", k.batch, n, k.to, byPhase[k]))
			}
		}
	}
	if st := s.trail.Stats(); st.Dropped != 0 || !st.Complete() {
		s.res.violate(InvAudit, fmt.Sprintf("trail incomplete: %+v", st))
	}
}

// checkHistories: every batch's history is a path through the engine's
// transition table that ends in the batch's phase.
func (s *schedule) checkHistories(states []migration.BatchState) {
	for _, st := range states {
		if err := migration.ValidHistory(st.History); err != nil {
			s.res.violate(InvHistory, fmt.Sprintf("batch %s: %v", st.ID, err))
			continue
		}
		if last := st.History[len(st.History)-1].To; last != st.Phase {
			s.res.violate(InvHistory, fmt.Sprintf("batch %s is %s, but its history ends in %s", st.ID, st.Phase, last))
		}
	}
}

// reproduce is the command line that runs one schedule again.
func reproduce(seed uint64, index int, inventory string, steps int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "kmsmig chaos --seed %d --first %d --schedules 1", seed, index)
	if inventory != "" && inventory != "demo" {
		fmt.Fprintf(&b, " --inventory %s", inventory)
	}
	if steps != DefaultSteps {
		fmt.Fprintf(&b, " --steps %d", steps)
	}
	return b.String() + " -v"
}
