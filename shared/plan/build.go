package plan

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

// New plans every resource of vs that will migrate, lane by lane, under
// settings s. It returns an error naming the field or filter when s is
// invalid. The plan's RunID is the verdicts' RunID.
//
// Resources that batches of earlier runs hold in flight (held) are left
// out (InFlightInEarlierRun) and charged to their instance's quota.
func New(vs *verdict.Verdicts, s Settings, held ...Held) (*Plan, error) {
	return build(vs.RunID, s, vs, &freezer{held: held})
}

// Replan re-plans a run in progress from fresh verdicts. Every batch of
// prev whose status in states is not pending (see Status.Frozen) is kept
// unchanged, in place; a batch missing from states is pending. The rest
// is planned again, with prev's settings, into new batches numbered after
// the highest frozen Seq of each lane, so that no frozen batch ID is ever
// reused:
//   - resources of in-flight batches (submitted, running) are not planned
//     again: they may be migrating right now;
//   - resources of finished batches (done, failed) that the new verdicts
//     still call migratable are planned again, since a finished task does
//     not mean its resources migrated;
//   - a secret whose CMK is in a frozen batch may go in the first new
//     batch, which runs after every frozen one.
//
// With no frozen batch, Replan returns what New returns for prev's
// settings, under prev's RunID.
//
// Resources held in flight by batches of earlier runs are left out as in
// New.
func Replan(prev *Plan, states map[string]Status, vs *verdict.Verdicts, held ...Held) (*Plan, error) {
	frozen := map[estate.Lane][]Batch{}
	for _, lp := range prev.Lanes {
		for _, b := range lp.Batches {
			if states[b.ID].Frozen() {
				b.Keys, b.Secrets = slices.Clone(b.Keys), slices.Clone(b.Secrets)
				frozen[lp.Lane] = append(frozen[lp.Lane], b)
			}
		}
	}
	return build(prev.RunID, prev.Settings, vs, &freezer{batches: frozen, states: states, held: held})
}

// freezer is what Replan carries over from the previous plan.
type freezer struct {
	batches map[estate.Lane][]Batch
	states  map[string]Status
	held    []Held
}

type resource struct {
	kind verdict.ResourceKind
	id   string
}

// elsewhere returns, per lane, the resources held in flight by batches of
// other runs, with who holds them.
func (f *freezer) elsewhere() map[estate.Lane]map[resource]Held {
	out := map[estate.Lane]map[resource]Held{}
	if f == nil {
		return out
	}
	for _, h := range f.held {
		if out[h.Lane] == nil {
			out[h.Lane] = map[resource]Held{}
		}
		out[h.Lane][resource{h.Resource, h.ID}] = h
	}
	return out
}

// inFlight returns, per lane, the resources of frozen batches still in
// flight, and of batches of other runs holding them, with their instance.
func (f *freezer) inFlight() map[estate.Lane]map[resource]string {
	out := map[estate.Lane]map[resource]string{}
	if f == nil {
		return out
	}
	for _, h := range f.held {
		if out[h.Lane] == nil {
			out[h.Lane] = map[resource]string{}
		}
		out[h.Lane][resource{h.Resource, h.ID}] = h.InstanceID
	}
	for lane, bs := range f.batches {
		for _, b := range bs {
			if !f.states[b.ID].InFlight() {
				continue
			}
			if out[lane] == nil {
				out[lane] = map[resource]string{}
			}
			for _, id := range b.Keys {
				out[lane][resource{verdict.ResourceKey, id}] = b.InstanceID
			}
			for _, id := range b.Secrets {
				out[lane][resource{verdict.ResourceSecret, id}] = b.InstanceID
			}
		}
	}
	return out
}

// budget is what is left of one instance's free quota.
type budget struct{ keys, secrets int }

func build(runID string, s Settings, vs *verdict.Verdicts, fz *freezer) (*Plan, error) {
	include, exclude, err := s.compile()
	if err != nil {
		return nil, err
	}
	sel := selection{include: include, exclude: exclude}

	byLane := map[estate.Lane][]*verdict.Verdict{}
	for i := range vs.Resources {
		v := &vs.Resources[i]
		byLane[v.Lane] = append(byLane[v.Lane], v)
	}
	findings := map[estate.Lane]verdict.LaneFinding{}
	for _, lf := range vs.Lanes {
		findings[lf.Lane] = lf
	}
	lanes := slices.Collect(maps.Keys(findings))
	if fz != nil {
		for l := range fz.batches {
			if _, ok := findings[l]; !ok {
				lanes = append(lanes, l)
			}
		}
	}
	for l := range byLane {
		if _, ok := findings[l]; !ok {
			lanes = append(lanes, l)
		}
	}
	slices.SortFunc(lanes, estate.Lane.Compare)
	lanes = slices.Compact(lanes)

	budgets := map[string]*budget{}
	for _, iu := range vs.Instances {
		budgets[iu.InstanceID] = &budget{keys: iu.FreeKeys, secrets: iu.FreeSecrets}
	}
	flying := fz.inFlight()
	spendInFlight(flying, byLane, budgets)
	elsewhere := fz.elsewhere()

	p := &Plan{RunID: runID, Settings: s, Lanes: make([]LanePlan, 0, len(lanes))}
	for _, lane := range lanes {
		var frozen []Batch
		if fz != nil {
			frozen = fz.batches[lane]
		}
		lp := planLane(lane, findings[lane].InstanceID, byLane[lane], frozen, flying[lane], budgets, sel, s)
		for _, h := range elsewhere[lane] {
			lp.Excluded = append(lp.Excluded, Exclusion{Resource: h.Resource, ID: h.ID, Reason: InFlightInEarlierRun,
				Detail: fmt.Sprintf("Batch %s of run %s is migrating it into %s now; the first discover after that batch ends plans it again if it did not move.", h.BatchID, h.RunID, h.InstanceID)})
		}
		slices.SortStableFunc(lp.Excluded, func(a, b Exclusion) int {
			return cmp.Or(cmp.Compare(kindRank(a.Resource), kindRank(b.Resource)), cmp.Compare(a.ID, b.ID))
		})
		p.Lanes = append(p.Lanes, lp)
	}
	return p, nil
}

// spendInFlight charges the resources of in-flight batches to their
// instance's quota: they have not migrated yet, so the instance's usage
// does not count them, but they will take room.
func spendInFlight(flying map[estate.Lane]map[resource]string, byLane map[estate.Lane][]*verdict.Verdict, budgets map[string]*budget) {
	for lane, rs := range flying {
		migrated := map[resource]bool{}
		for _, v := range byLane[lane] {
			if v.Verdict == verdict.AlreadyMigrated {
				migrated[resource{v.Resource, v.ID}] = true
			}
		}
		for r, instanceID := range rs {
			b := budgets[instanceID]
			if b == nil || migrated[r] {
				continue
			}
			if r.kind == verdict.ResourceKey {
				b.keys--
			} else {
				b.secrets--
			}
		}
	}
}

func planLane(lane estate.Lane, target string, vs []*verdict.Verdict, frozen []Batch, flying map[resource]string,
	budgets map[string]*budget, sel selection, s Settings) LanePlan {
	lp := LanePlan{Lane: lane, InstanceID: target, Batches: frozen}
	nextSeq := 1
	for _, b := range frozen {
		nextSeq = max(nextSeq, b.Seq+1)
	}
	exclude := func(v *verdict.Verdict, r verdict.Reason, detail string) {
		lp.Excluded = append(lp.Excluded, Exclusion{Resource: v.Resource, ID: v.ID, Reason: r, Detail: detail})
	}

	var keys, secrets []*verdict.Verdict
	for _, v := range vs {
		if _, ok := flying[resource{v.Resource, v.ID}]; ok {
			continue
		}
		switch {
		case v.Verdict == verdict.AlreadyMigrated:
			lp.AlreadyMigrated++
		case !v.Verdict.WillMigrate():
			exclude(v, v.Reason, v.Remediation)
		default:
			if r, detail := sel.admit(v); r != "" {
				exclude(v, r, detail)
			} else if v.Resource == verdict.ResourceKey {
				keys = append(keys, v)
			} else {
				secrets = append(secrets, v)
			}
		}
	}
	if len(keys)+len(secrets) > 0 && target == "" {
		// Verdicts never mark a resource migratable without a target;
		// guard against hand-made ones all the same.
		for _, v := range append(keys, secrets...) {
			exclude(v, verdict.NoTargetInstance, "The lane has no target instance.")
		}
		keys, secrets = nil, nil
	}

	b := budgets[target]
	if b == nil {
		b = &budget{}
	}
	keys = orderKeys(keys, secrets)
	if over := len(keys) - max(b.keys, 0); over > 0 {
		lp.Stopped = fmt.Sprintf("Instance %s has room for %d more keys; %d keys of lane %s are not planned. Raise its key quota and plan again.",
			target, max(b.keys, 0), over, lane)
		for _, v := range keys[len(keys)-over:] {
			exclude(v, verdict.InstanceQuotaTooSmall, lp.Stopped)
		}
		keys = keys[:len(keys)-over]
	}
	b.keys -= len(keys)

	kc := s.keysPerBatch()
	batchOf := make(map[string]int, len(keys))
	for i, v := range keys {
		batchOf[v.ID] = i / kc
	}
	items := make([]secretItem, 0, len(secrets))
	for _, v := range secrets {
		it := secretItem{name: v.ID, rotationOff: v.Verdict == verdict.MigratableOnceRotationOff}
		if v.DependsOn != "" {
			n, planned := batchOf[v.DependsOn]
			_, frozenCMK := flying[resource{verdict.ResourceKey, v.DependsOn}]
			switch {
			case planned:
				it.release = n + 1
			case frozenCMK:
				// The CMK is in a frozen batch, which runs before any new one.
			default:
				exclude(v, CMKNotPlanned, fmt.Sprintf("CMK %s must migrate first but is not in this plan; include it, or leave the secret for a later plan.", v.DependsOn))
				continue
			}
		}
		items = append(items, it)
	}
	slices.SortFunc(items, func(a, b secretItem) int {
		return cmp.Or(cmp.Compare(a.release, b.release), cmp.Compare(a.name, b.name))
	})
	if over := len(items) - max(b.secrets, 0); over > 0 {
		msg := fmt.Sprintf("Instance %s has room for %d more secrets; %d secrets of lane %s are not planned. Raise its secret quota and plan again.",
			target, max(b.secrets, 0), over, lane)
		lp.Stopped = joinSentences(lp.Stopped, msg)
		for _, it := range items[len(items)-over:] {
			lp.Excluded = append(lp.Excluded, Exclusion{Resource: verdict.ResourceSecret, ID: it.name, Reason: verdict.InstanceQuotaTooSmall, Detail: msg})
		}
		items = items[:len(items)-over]
	}
	b.secrets -= len(items)

	lp.Batches = append(lp.Batches, pack(lane, target, keys, items, s, nextSeq)...)
	slices.SortStableFunc(lp.Excluded, func(a, b Exclusion) int {
		return cmp.Or(cmp.Compare(kindRank(a.Resource), kindRank(b.Resource)), cmp.Compare(a.ID, b.ID))
	})
	return lp
}

func joinSentences(a, b string) string {
	if a == "" {
		return b
	}
	return a + " " + b
}

func kindRank(k verdict.ResourceKind) int {
	if k == verdict.ResourceKey {
		return 0
	}
	return 1
}
