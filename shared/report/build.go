package report

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

// resID names one resource of a run.
type resID struct {
	lane estate.Lane
	kind verdict.ResourceKind
	id   string
}

// builder indexes the three inputs by lane and resource once, so that each
// section is one pass.
type builder struct {
	inv  *estate.Inventory
	vs   *verdict.Verdicts
	p    *plan.Plan
	opts Options

	lanes     []estate.Lane
	invLane   map[estate.Lane]*estate.LaneInventory
	finding   map[estate.Lane]verdict.LaneFinding
	planLane  map[estate.Lane]*plan.LanePlan
	byLane    map[estate.Lane][]*verdict.Verdict
	verdictOf map[resID]*verdict.Verdict
	keys      map[resID]*estate.Key
	secrets   map[resID]*estate.Secret // nil for a name several secrets share
	instKind  map[string]estate.InstanceKind
}

// Build assembles the report of one run from its inventory, verdicts and
// plan; it never modifies them. Any of the three may be nil: a report of
// discovery alone has no blocked, plan or Terraform sections, and a
// report without a plan takes the resources to migrate from the verdicts.
// The same inputs and options give the same Report.
func Build(inv *estate.Inventory, vs *verdict.Verdicts, p *plan.Plan, opts Options) *Report {
	b := newBuilder(inv, vs, p, opts)
	r := &Report{Limits: opts.limits()}
	if inv != nil {
		r.RunID, r.DiscoveredAt = inv.RunID, inv.DiscoveredAt.UTC()
	}
	if r.RunID == "" && vs != nil {
		r.RunID = vs.RunID
	}
	if r.RunID == "" && p != nil {
		r.RunID = p.RunID
	}
	r.Regions = b.regions()
	r.Blocked = b.blocked()
	r.ServiceKeys = b.serviceKeys()
	r.Plan = b.plan()
	r.Terraform = b.terraform()
	r.Warnings = b.warnings()
	r.Changes = b.changes()
	r.Summary = b.summary(r)
	return r
}

func (o Options) limits() Limits {
	l := Limits{MaxRows: o.MaxRows, MaxIDs: o.MaxIDs, JSONName: o.JSONName}
	if l.MaxRows <= 0 {
		l.MaxRows = DefaultMaxRows
	}
	if l.MaxIDs <= 0 {
		l.MaxIDs = DefaultMaxIDs
	}
	if l.JSONName == "" {
		l.JSONName = DefaultJSONName
	}
	return l
}

func newBuilder(inv *estate.Inventory, vs *verdict.Verdicts, p *plan.Plan, opts Options) *builder {
	b := &builder{inv: inv, vs: vs, p: p, opts: opts,
		invLane: map[estate.Lane]*estate.LaneInventory{}, finding: map[estate.Lane]verdict.LaneFinding{},
		planLane: map[estate.Lane]*plan.LanePlan{}, byLane: map[estate.Lane][]*verdict.Verdict{},
		verdictOf: map[resID]*verdict.Verdict{}, keys: map[resID]*estate.Key{}, secrets: map[resID]*estate.Secret{},
		instKind: map[string]estate.InstanceKind{}}
	seen := map[estate.Lane]bool{}
	addLane := func(l estate.Lane) {
		if !seen[l] {
			seen[l] = true
			b.lanes = append(b.lanes, l)
		}
	}
	if inv != nil {
		for i := range inv.Lanes {
			li := &inv.Lanes[i]
			addLane(li.Lane)
			b.invLane[li.Lane] = li
			for j := range li.Keys {
				k := &li.Keys[j]
				b.keys[resID{li.Lane, verdict.ResourceKey, k.ID}] = k
			}
			for j := range li.Secrets {
				s := &li.Secrets[j]
				id := resID{li.Lane, verdict.ResourceSecret, s.Name}
				if _, ok := b.secrets[id]; ok {
					// Secrets sharing a name cannot be told apart by
					// verdict: attach none of them to the name.
					b.secrets[id] = nil
					continue
				}
				b.secrets[id] = s
			}
			for _, in := range li.Instances {
				if _, ok := b.instKind[in.ID]; !ok || in.Kind != "" {
					b.instKind[in.ID] = in.Kind
				}
			}
		}
	}
	if vs != nil {
		for _, lf := range vs.Lanes {
			addLane(lf.Lane)
			b.finding[lf.Lane] = lf
		}
		sorted := make([]*verdict.Verdict, len(vs.Resources))
		for i := range vs.Resources {
			sorted[i] = &vs.Resources[i]
		}
		slices.SortStableFunc(sorted, func(x, y *verdict.Verdict) int { return x.Compare(*y) })
		for _, v := range sorted {
			addLane(v.Lane)
			b.byLane[v.Lane] = append(b.byLane[v.Lane], v)
			id := resID{v.Lane, v.Resource, v.ID}
			// Of secrets sharing a name, the one that migrates speaks for
			// the name, as verdict.Verdicts.Find does.
			if prev, ok := b.verdictOf[id]; !ok || (!prev.Verdict.WillMigrate() && v.Verdict.WillMigrate()) {
				b.verdictOf[id] = v
			}
		}
	}
	if p != nil {
		for i := range p.Lanes {
			lp := &p.Lanes[i]
			addLane(lp.Lane)
			b.planLane[lp.Lane] = lp
		}
	}
	slices.SortFunc(b.lanes, estate.Lane.Compare)
	return b
}

// laneCounts counts a lane's resources the way the console does, from the
// verdicts when there are some, else from the inventory.
func (b *builder) laneCounts(l estate.Lane, row *RegionRow) {
	if b.vs != nil {
		for _, v := range b.byLane[l] {
			switch {
			case v.Resource == verdict.ResourceKey && v.Verdict == verdict.AlreadyMigrated:
				row.KeysMigrated++
			case v.Resource == verdict.ResourceKey && v.Reason == verdict.ServiceKey:
				row.ServiceKeys++
			case v.Resource == verdict.ResourceKey:
				row.KeysNotMigrated++
			case v.Verdict == verdict.AlreadyMigrated:
				row.SecretsMigrated++
			default:
				row.SecretsNotMigrated++
			}
		}
		return
	}
	li := b.invLane[l]
	if li == nil {
		return
	}
	for _, k := range li.Keys {
		switch {
		case k.Migrated():
			row.KeysMigrated++
		case k.IsServiceKey():
			row.ServiceKeys++
		default:
			row.KeysNotMigrated++
		}
	}
	for _, s := range li.Secrets {
		if s.Migrated() {
			row.SecretsMigrated++
		} else {
			row.SecretsNotMigrated++
		}
	}
}

func (b *builder) regions() []RegionRow {
	var rows []RegionRow
	tasks := b.tasksByLane()
	for _, l := range b.lanes {
		row := RegionRow{LaneRef: refOf(l)}
		b.laneCounts(l, &row)
		if lf, ok := b.finding[l]; ok {
			row.TargetInstance = lf.InstanceID
			if f, blocked := lf.Blocker(); blocked && lf.InstanceID == "" {
				row.NoTargetReason = f.Reason
			}
		} else if lp := b.planLane[l]; lp != nil {
			row.TargetInstance = lp.InstanceID
		}
		if lp := b.planLane[l]; lp != nil {
			row.Batches = len(lp.Batches)
		}
		row.Tasks = tasks[l]
		if li := b.invLane[l]; li != nil {
			row.DiscoveryErrors = len(li.Errors)
			row.TaskAPI = TaskAPIWords(li.TaskAPI)
		}
		rows = append(rows, row)
	}
	return rows
}

// tasksByLane counts batch statuses per lane. With a plan, every planned
// batch counts (missing from the statuses: pending); without one, the
// statuses are attributed to lanes by their batch IDs.
func (b *builder) tasksByLane() map[estate.Lane]map[plan.Status]int {
	st := b.opts.BatchStatus
	if len(st) == 0 {
		return nil
	}
	out := map[estate.Lane]map[plan.Status]int{}
	add := func(l estate.Lane, s plan.Status) {
		if out[l] == nil {
			out[l] = map[plan.Status]int{}
		}
		out[l][s]++
	}
	if b.p != nil {
		for _, lp := range b.p.Lanes {
			for _, bt := range lp.Batches {
				add(lp.Lane, cmp.Or(st[bt.ID], plan.StatusPending))
			}
		}
		return out
	}
	for id, s := range st {
		i := strings.LastIndex(id, "/")
		if i < 0 {
			continue
		}
		if l, err := estate.ParseLane(id[:i]); err == nil {
			add(l, cmp.Or(s, plan.StatusPending))
		}
	}
	return out
}

func (b *builder) blocked() []BlockedGroup {
	if b.vs == nil {
		return nil
	}
	groups := map[verdict.Reason]*BlockedGroup{}
	for _, l := range b.lanes {
		for _, v := range b.byLane[l] {
			if v.Verdict != verdict.Blocked || v.Reason == verdict.ServiceKey {
				continue
			}
			g := groups[v.Reason]
			if g == nil {
				info, _ := v.Reason.Info()
				g = &BlockedGroup{Reason: v.Reason, Severity: v.Reason.Severity(), Action: info.Action}
				groups[v.Reason] = g
			}
			br := BlockedResource{LaneRef: refOf(l), Resource: v.Resource, ID: v.ID, Aliases: slices.Clone(v.Aliases), Detail: v.Remediation}
			if len(br.Aliases) == 0 {
				br.Aliases = nil
			}
			if s := b.secrets[resID{l, verdict.ResourceSecret, v.ID}]; v.Resource == verdict.ResourceSecret && s != nil && !s.UsesSystemKey() {
				br.EncryptionKeyID = s.EncryptionKeyID
			}
			g.Resources = append(g.Resources, br)
			g.Count++
		}
	}
	out := make([]BlockedGroup, 0, len(groups))
	for _, g := range groups {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(x, y BlockedGroup) int {
		return cmp.Or(cmp.Compare(severityRank(x.Severity), severityRank(y.Severity)), cmp.Compare(x.Reason, y.Reason))
	})
	if len(out) == 0 {
		return nil
	}
	return out
}

// severityRank orders what must be fixed before what must be decided.
func severityRank(s verdict.Severity) int {
	switch s {
	case verdict.SeverityBlocker:
		return 0
	case verdict.SeverityDecision:
		return 1
	case verdict.SeverityWarning:
		return 2
	case verdict.SeverityInfo:
		return 3
	}
	return 0
}

func (b *builder) serviceKeys() []ServiceKeys {
	var out []ServiceKeys
	for _, l := range b.lanes {
		sk := ServiceKeys{LaneRef: refOf(l)}
		add := func(id string, aliases []string) {
			sk.Count++
			if b.opts.Verbose {
				ref := KeyRef{ID: id, Aliases: slices.Clone(aliases)}
				if k := b.keys[resID{l, verdict.ResourceKey, id}]; k != nil {
					ref.Creator = k.Creator
					if len(ref.Aliases) == 0 {
						ref.Aliases = slices.Clone(k.Aliases)
					}
				}
				if len(ref.Aliases) == 0 {
					ref.Aliases = nil
				}
				sk.Keys = append(sk.Keys, ref)
			}
		}
		if b.vs != nil {
			for _, v := range b.byLane[l] {
				if v.Reason == verdict.ServiceKey {
					add(v.ID, v.Aliases)
				}
			}
		} else if li := b.invLane[l]; li != nil {
			for _, k := range li.Keys {
				if !k.Migrated() && k.IsServiceKey() {
					add(k.ID, k.Aliases)
				}
			}
		}
		if sk.Count > 0 {
			out = append(out, sk)
		}
	}
	return out
}

func (b *builder) plan() *PlanSection {
	if b.p == nil {
		return nil
	}
	ps := &PlanSection{Settings: b.p.Settings}
	for _, l := range b.lanes {
		lp := b.planLane[l]
		if lp == nil {
			continue
		}
		pl := PlanLane{LaneRef: refOf(l), InstanceID: lp.InstanceID, AlreadyMigrated: lp.AlreadyMigrated, Stopped: lp.Stopped}
		for _, bt := range lp.Batches {
			row := BatchRow{ID: bt.ID, Seq: bt.Seq, InstanceID: bt.InstanceID,
				KeyCount: len(bt.Keys), SecretCount: len(bt.Secrets),
				Keys: cloneOrNil(bt.Keys), Secrets: cloneOrNil(bt.Secrets),
				KeysRotationOff: cloneOrNil(bt.KeysRotationOff), SecretsRotationOff: cloneOrNil(bt.SecretsRotationOff)}
			if len(b.opts.BatchStatus) > 0 {
				row.Status = cmp.Or(b.opts.BatchStatus[bt.ID], plan.StatusPending)
			}
			pl.Batches = append(pl.Batches, row)
		}
		for _, e := range lp.Excluded {
			pl.Excluded = append(pl.Excluded, Exclusion{Resource: e.Resource, ID: e.ID, Reason: e.Reason, Detail: e.Detail,
				Planner: b.byPlanner(l, e)})
		}
		ps.Lanes = append(ps.Lanes, pl)
	}
	return ps
}

// byPlanner reports whether the planner, not the classification, left e
// out: the resource's verdict would migrate, or (without verdicts) the
// reason is one only the planner gives.
func (b *builder) byPlanner(l estate.Lane, e plan.Exclusion) bool {
	if v, ok := b.verdictOf[resID{l, e.Resource, e.ID}]; ok {
		return v.Verdict.WillMigrate()
	}
	switch e.Reason {
	case plan.NotIncluded, plan.ExcludedByFilter, plan.CMKNotPlanned:
		return true
	}
	return false
}

func cloneOrNil(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

func (b *builder) warnings() []Warning {
	var out []Warning
	at := map[string]int{}
	add := func(r verdict.Reason, instance string, l *estate.Lane, msg string) {
		k := string(r) + "\x00" + instance + "\x00" + msg
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, Warning{Reason: r, InstanceID: instance, Message: msg})
		}
		if l != nil && !slices.Contains(out[i].Lanes, refOf(*l)) {
			out[i].Lanes = append(out[i].Lanes, refOf(*l))
		}
	}
	if msg := b.runMismatch(); msg != "" {
		add(RunIDMismatch, "", nil, msg)
	}
	for _, l := range b.lanes {
		reported := false
		if lf, ok := b.finding[l]; ok {
			for _, f := range lf.Findings {
				if f.Severity == verdict.SeverityWarning {
					add(f.Reason, f.InstanceID, &l, f.Remediation)
					reported = reported || f.Reason == verdict.DiscoveryIncomplete
				}
			}
		}
		if li := b.invLane[l]; li != nil && len(li.Errors) > 0 && !reported {
			add(verdict.DiscoveryIncomplete, "", &l, fmt.Sprintf("Discovery met %d error(s) in lane %s; run it again before trusting what is absent.", len(li.Errors), l))
		}
		if lp := b.planLane[l]; lp != nil && lp.Stopped != "" {
			add(verdict.InstanceQuotaTooSmall, lp.InstanceID, &l, lp.Stopped)
		}
	}
	return out
}

// runMismatch returns a sentence naming the runs when the inputs come
// from different runs, or "".
func (b *builder) runMismatch() string {
	var parts []string
	ids := map[string]bool{}
	note := func(what, id string) {
		if id != "" {
			parts = append(parts, fmt.Sprintf("%s %s", what, id))
			ids[id] = true
		}
	}
	if b.inv != nil {
		note("inventory", b.inv.RunID)
	}
	if b.vs != nil {
		note("verdicts", b.vs.RunID)
	}
	if b.p != nil {
		note("plan", b.p.RunID)
	}
	if len(ids) < 2 {
		return ""
	}
	return "The inputs come from different runs (" + strings.Join(parts, ", ") + "); build the report from one run's inventory, verdicts and plan."
}

func (b *builder) summary(r *Report) Summary {
	s := Summary{Lanes: len(b.lanes)}
	accounts, regions := map[string]bool{}, map[string]bool{}
	for _, l := range b.lanes {
		accounts[l.Account], regions[l.Region] = true, true
	}
	s.Accounts, s.Regions = len(accounts), len(regions)
	for _, row := range r.Regions {
		s.Keys += row.KeysNotMigrated + row.KeysMigrated + row.ServiceKeys
		s.Secrets += row.SecretsNotMigrated + row.SecretsMigrated
		s.ServiceKeys += row.ServiceKeys
	}
	if b.vs != nil {
		s.Verdicts = map[verdict.Kind]int{verdict.AlreadyMigrated: 0, verdict.Migratable: 0, verdict.MigratableOnceRotationOff: 0, verdict.Blocked: 0}
		for _, l := range b.lanes {
			for _, v := range b.byLane[l] {
				s.Verdicts[v.Verdict]++
			}
		}
	}
	for _, g := range r.Blocked {
		s.Blocked += g.Count
		if s.ByReason == nil {
			s.ByReason = map[verdict.Reason]int{}
		}
		s.ByReason[g.Reason] += g.Count
	}
	if r.Plan != nil {
		for _, pl := range r.Plan.Lanes {
			s.Batches += len(pl.Batches)
			for _, bt := range pl.Batches {
				s.PlannedKeys += bt.KeyCount
				s.PlannedSecrets += bt.SecretCount
				s.RotationOff += len(bt.KeysRotationOff) + len(bt.SecretsRotationOff)
			}
			for _, e := range pl.Excluded {
				if e.Planner {
					s.Excluded++
				}
			}
		}
	}
	s.Warnings = len(r.Warnings)
	if r.Terraform != nil {
		s.TerraformResources = len(r.Terraform.Resources)
	}
	for _, l := range b.lanes {
		if li := b.invLane[l]; li != nil && len(li.Errors) > 0 {
			s.IncompleteLanes = append(s.IncompleteLanes, IncompleteLane{LaneRef: refOf(l), Errors: slices.Clone(li.Errors)})
		}
	}
	return s
}

// sortedKeys returns m's keys in order.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}
