package rehearsal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/aliyun/credentials-go/credentials"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/aliyun/ram"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/verdict"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	fctwin "github.com/kmsmig/kmsmig/twin/fc"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// runIDs returns the campaign's runs, oldest first.
func (r *rehearsal) runIDs(ctx context.Context) ([]string, error) {
	c, _, err := runstate.GetJSON[migration.Campaign](ctx, r.store, statekeys.Campaign)
	if err != nil {
		return nil, fmt.Errorf("rehearsal: read the campaign: %w", err)
	}
	out := make([]string, 0, len(c.Runs))
	for _, run := range c.Runs {
		out = append(out, run.RunID)
	}
	return out, nil
}

// firstPlan returns the first night's plan.
func (r *rehearsal) firstPlan(ctx context.Context) (*plan.Plan, error) {
	if r.plan1 != nil {
		return r.plan1, nil
	}
	runs, err := r.runIDs(ctx)
	if err != nil {
		return nil, err
	}
	p, _, err := runstate.GetJSON[plan.Plan](ctx, r.store, statekeys.Plan(runs[0]))
	if err != nil {
		return nil, fmt.Errorf("rehearsal: read the plan of %s: %w", runs[0], err)
	}
	r.plan1 = &p
	return r.plan1, nil
}

// runState is what the store holds of one run.
type runState struct {
	id       string
	night    int
	inv      estate.Inventory
	verdicts verdict.Verdicts
	batches  []migration.BatchState
	report   migration.Report
}

// collect gathers the reports of every run and checks the outcome against
// the twins.
func (r *rehearsal) collect(ctx context.Context, home stack.Account, res *Result) error {
	ready := r.st.Ready()
	var results [][]byte
	invs := r.st.FC.Invocations()
	var firstDiscover app.DiscoverResult
	for _, inv := range invs {
		res.Invocations[inv.Function]++
		switch inv.Status {
		case fctwin.StatusFailed:
			msg := string(inv.Response)
			if len(msg) > 300 {
				msg = msg[:300] + "…"
			}
			res.Failed = append(res.Failed, fmt.Sprintf("%s (%s, event %s): %s", inv.Function, inv.Source, inv.Event, msg))
		case fctwin.StatusSucceeded:
			results = append(results, inv.Response)
			// The first night's discover result is the one that planned
			// (a fanned-out discovery's coordinator plans nothing).
			if inv.Function == fnDiscover && res.Discover.Plan == "" {
				var d app.DiscoverResult
				if jsonUnmarshal(inv.Response, &d) == nil {
					switch {
					case firstDiscover.RunID == "":
						firstDiscover, res.Discover = d, d
					case d.RunID == firstDiscover.RunID && d.Plan != "":
						res.Discover = d
					}
				}
			}
		}
	}
	for _, name := range functionNames {
		if cs := r.st.FC.ColdStarts(name); len(cs) > 0 {
			res.ColdStarts[name] = cs[0]
		}
	}
	res.Functions = r.functionUse(invs)
	res.Tasks, res.InvocationLog = r.st.KMS.Tasks(), invs

	c, _, err := runstate.GetJSON[migration.Campaign](ctx, r.store, statekeys.Campaign)
	if err != nil {
		return fmt.Errorf("rehearsal: no run was planned: %w", err)
	}
	var runs []runState
	for _, cr := range c.Runs {
		rs, err := r.readRun(ctx, cr.RunID)
		if err != nil {
			return err
		}
		rs.night = r.sched.night(cr.Since)
		runs = append(runs, rs)
		run := NightRun{RunID: rs.id, Night: rs.night, Report: rs.report, RunMD: rs.report.Markdown()}
		_, discoveryMD := statekeys.DiscoveryReport(rs.id)
		if obj, err := r.store.Get(ctx, discoveryMD); err == nil {
			run.DiscoveryMD = obj.Data
		}
		res.Runs = append(res.Runs, run)
	}
	if len(runs) == 0 {
		return errors.New("rehearsal: the campaign has no run")
	}
	first, last := res.Runs[0], res.Runs[len(res.Runs)-1]
	res.RunID, res.Report, res.RunMD, res.DiscoveryMD = last.RunID, last.Report, last.RunMD, first.DiscoveryMD
	if p, err := r.firstPlan(ctx); err == nil {
		res.LowerBound = lowerBound(p, kmstwin.TaskTiming{}, r.sched.windowLength())
	}
	tasks := r.st.KMS.Tasks()
	for _, tk := range tasks {
		res.NightsUsed = max(res.NightsUsed, r.sched.night(tk.Created))
	}

	client, err := kmsClient(ready, r.o.Speed)
	if err != nil {
		return err
	}
	moved := r.checkMoved(ctx, client, runs, res)
	ledger, err := r.checkRotation(ctx, client, runs, res)
	if err != nil {
		return err
	}
	var batches []migration.BatchState
	var runIDs []string
	for _, rs := range runs {
		batches = append(batches, rs.batches...)
		runIDs = append(runIDs, rs.id)
	}
	reads := r.st.KMS.CallCounts()["GetSecretValue"]
	res.Checks = append(res.Checks,
		moved, ledger,
		checkOneTaskPerBatch(tasks, batches),
		Check{Name: "no secret value read", OK: reads == 0, Detail: fmt.Sprintf("GetSecretValue called %d times", reads)},
		Check{Name: "no invocation failed for good", OK: len(res.Failed) == 0, Detail: fmt.Sprintf("%d failed: %s", len(res.Failed), strings.Join(res.Failed, "; "))},
		checkCampaignDone(c, runs),
		r.appr.checkTriggerStarts(runs, r.st.FC.Invocations()),
	)
	per, _ := strconv.Atoi(r.fns[fnDiscover].Env["KMSMIG_DISCOVER_LANES_PER_INVOCATION"])
	if c, ok := checkDiscoveryFanout(invs, per, len(runs[0].inv.Lanes), res.Functions[fnDiscover]); ok {
		res.Checks = append(res.Checks, c)
	}
	if r.o.TaskAPIAbsent {
		res.Checks = append(res.Checks, checkNoRotationChange(r.st.KMS.CallCounts()), checkTaskAPIReported(runs, res.Runs))
	}
	trail, n := checkTrail(ctx, ready, home, runIDs, batches, results)
	res.AuditRecord = n
	res.Checks = append(res.Checks, trail)
	alerts, err := readTrail(ctx, ready, home, "action: Alert")
	if err != nil {
		return fmt.Errorf("rehearsal: read the alerts: %w", err)
	}
	res.Alerts = map[string]int{}
	for _, a := range alerts {
		if a["outcome"] != alert.OutcomeDuplicate {
			res.Alerts[a["reason_code"]]++
		}
	}
	return nil
}

// readRun reads a run's documents and batches, and writes its report.
func (r *rehearsal) readRun(ctx context.Context, runID string) (runState, error) {
	rs := runState{id: runID}
	var err error
	if rs.inv, _, err = runstate.GetJSON[estate.Inventory](ctx, r.store, statekeys.Inventory(runID)); err != nil {
		return rs, fmt.Errorf("rehearsal: read inventory of %s: %w", runID, err)
	}
	if rs.verdicts, _, err = runstate.GetJSON[verdict.Verdicts](ctx, r.store, statekeys.Verdicts(runID)); err != nil {
		return rs, fmt.Errorf("rehearsal: read verdicts of %s: %w", runID, err)
	}
	keys, err := r.store.List(ctx, statekeys.BatchPrefix(runID))
	if err != nil {
		return rs, err
	}
	for _, k := range keys {
		b, _, err := runstate.GetJSON[migration.BatchState](ctx, r.store, k)
		if err != nil {
			return rs, err
		}
		rs.batches = append(rs.batches, b)
	}
	if rs.report, err = r.eng.WriteReport(ctx, runID); err != nil {
		return rs, fmt.Errorf("rehearsal: run report of %s: %w", runID, err)
	}
	return rs, nil
}

// resourceName names a resource across runs.
func resourceName(l estate.Lane, kind verdict.ResourceKind, id string) string {
	return fmt.Sprintf("%s %s %s", l, kind, id)
}

// checkMoved: every resource that any night planned to migrate is in its
// instance, or reported with a reason: failed for good or dropped in a
// run report, or blocked by a later night's discovery.
func (r *rehearsal) checkMoved(ctx context.Context, c *kms.Client, runs []runState, res *Result) Check {
	want := map[string]verdict.Verdict{}   // the latest verdict of each resource a night planned
	latest := map[string]verdict.Verdict{} // the latest verdict of every resource
	failed := map[string]string{}          // reported failures: reason
	for _, rs := range runs {
		for _, v := range rs.verdicts.Resources {
			n := resourceName(v.Lane, v.Resource, v.ID)
			latest[n] = v
			if v.Verdict.WillMigrate() {
				want[n] = v
			}
		}
		for _, f := range rs.report.Failures {
			if f.RetryBatch == "" {
				failed[resourceName(f.Lane, f.Kind, f.ID)] = f.ReasonCode
			}
		}
		// Dropped: gone, disabled or pending deletion before its task.
		for _, d := range rs.report.Dropped {
			failed[resourceName(d.Lane, d.Kind, d.ID)] = d.ReasonCode
		}
	}
	var wrong []string
	for _, n := range sortedKeys(want) {
		v := want[n]
		got, err := r.instanceOf(ctx, c, v)
		switch {
		case err == nil && got != "" && got == v.InstanceID:
			res.Moved++
		case failed[n] != "":
			res.Reported++
		case latest[n].Verdict == verdict.Blocked:
			res.Reported++
		default:
			wrong = append(wrong, fmt.Sprintf("%s (in %q, want %q, %v)", n, got, v.InstanceID, err))
		}
	}
	return Check{Name: "every migratable resource moved or reported", OK: len(wrong) == 0,
		Detail: fmt.Sprintf("%d moved, %d reported with a reason; neither: %d %s", res.Moved, res.Reported, len(wrong), clip(wrong, 20))}
}

func (r *rehearsal) instanceOf(ctx context.Context, c *kms.Client, v verdict.Verdict) (string, error) {
	if v.Resource == verdict.ResourceKey {
		k, err := c.Key(ctx, v.Lane, v.ID)
		return k.InstanceID, err
	}
	s, err := c.Secret(ctx, v.Lane, estate.Secret{Name: v.ID})
	return s.InstanceID, err
}

// checkRotation: no rotation policy is left off. Every entry of the
// campaign's ledger is restored (KMS shows its Original) or superseded by
// its owner (KMS shows what they set, Found, and the owner the rehearsal
// played set exactly that); every other key and secret has the policy the
// night that first saw it recorded.
func (r *rehearsal) checkRotation(ctx context.Context, c *kms.Client, runs []runState, res *Result) (Check, error) {
	keys, err := r.store.List(ctx, statekeys.LedgerPrefix)
	if err != nil {
		return Check{}, err
	}
	var bad []string
	inLedger := map[string]bool{}
	for _, k := range keys {
		le, _, err := runstate.GetJSON[migration.LedgerEntry](ctx, r.store, k)
		if err != nil {
			return Check{}, err
		}
		n := resourceName(le.Lane, le.Kind, le.ID)
		inLedger[n] = true
		now, err := r.rotationOf(ctx, c, le.Lane, le.Kind, le.ID)
		gone := errors.Is(err, cloud.ErrNotFound)
		switch {
		case le.Status == migration.LedgerOff:
			bad = append(bad, n+": left off (ledger)")
		case err != nil && !gone:
			bad = append(bad, fmt.Sprintf("%s: %v", n, err))
		case le.Status == migration.LedgerSuperseded:
			owner, played := r.inj.owner[n]
			switch {
			case le.Found == nil || gone || now != *le.Found:
				bad = append(bad, fmt.Sprintf("%s: superseded, KMS shows %s, the ledger found %v", n, describeRotation(now), le.Found))
			case played && owner != now:
				bad = append(bad, fmt.Sprintf("%s: the owner set %s, KMS shows %s", n, describeRotation(owner), describeRotation(now)))
			default:
				res.Superseded++
			}
		case gone:
			res.Restored++ // nothing left to restore
		case now != le.Original:
			bad = append(bad, fmt.Sprintf("%s: %s, recorded %s", n, describeRotation(now), describeRotation(le.Original)))
		default:
			res.Restored++
		}
	}
	for n := range r.inj.owner {
		if !inLedger[n] {
			bad = append(bad, n+": the owner's change is not in the ledger")
		}
	}
	// Everything else is as first seen.
	seen := map[string]bool{}
	unchanged := 0
	for _, rs := range runs {
		for _, li := range rs.inv.Lanes {
			check := func(kind verdict.ResourceKind, id string, was estate.Rotation) {
				n := resourceName(li.Lane, kind, id)
				if seen[n] || inLedger[n] {
					return
				}
				seen[n] = true
				now, err := r.rotationOf(ctx, c, li.Lane, kind, id)
				switch {
				case errors.Is(err, cloud.ErrNotFound):
				case err != nil:
					bad = append(bad, fmt.Sprintf("%s: %v", n, err))
				case now != was:
					bad = append(bad, fmt.Sprintf("%s: %s, was %s", n, describeRotation(now), describeRotation(was)))
				default:
					unchanged++
				}
			}
			for _, k := range li.Keys {
				if !k.IsServiceKey() {
					check(verdict.ResourceKey, k.ID, k.Rotation)
				}
			}
			for _, s := range li.Secrets {
				check(verdict.ResourceSecret, s.Name, s.Rotation)
			}
		}
	}
	return Check{Name: "every rotation policy restored or superseded by its owner", OK: len(bad) == 0,
		Detail: fmt.Sprintf("ledger: %d restored, %d superseded; %d others unchanged; wrong: %d %s",
			res.Restored, res.Superseded, unchanged, len(bad), clip(bad, 20))}, nil
}

func (r *rehearsal) rotationOf(ctx context.Context, c *kms.Client, l estate.Lane, kind verdict.ResourceKind, id string) (estate.Rotation, error) {
	if kind == verdict.ResourceKey {
		k, err := c.Key(ctx, l, id)
		return k.Rotation, err
	}
	s, err := c.Secret(ctx, l, estate.Secret{Name: id})
	return s.Rotation, err
}

// checkOneTaskPerBatch: the provider's tasks and the batches of every run
// match one to one: each task is the task of exactly one batch, of its
// lane, and each batch names a task the provider has.
func checkOneTaskPerBatch(tasks []kmstwin.TaskInfo, batches []migration.BatchState) Check {
	claims := map[string][]string{}
	lanes := map[string]estate.Lane{}
	var bad []string
	for _, b := range batches {
		if b.TaskID != "" {
			claims[b.TaskID] = append(claims[b.TaskID], b.RunID+" "+b.ID)
			lanes[b.TaskID] = b.Lane
		}
	}
	known := map[string]bool{}
	for _, tk := range tasks {
		known[tk.ID] = true
		switch n := len(claims[tk.ID]); {
		case n == 0:
			bad = append(bad, fmt.Sprintf("task %s of %s belongs to no batch", tk.ID, tk.Lane))
		case n > 1:
			bad = append(bad, fmt.Sprintf("task %s is claimed by %s", tk.ID, strings.Join(claims[tk.ID], ", ")))
		case lanes[tk.ID].Account != tk.Lane.Account || lanes[tk.ID].Region != tk.Lane.Region:
			bad = append(bad, fmt.Sprintf("task %s of %s is claimed by a batch of %s", tk.ID, tk.Lane, lanes[tk.ID]))
		}
	}
	for _, id := range sortedKeys(claims) {
		if !known[id] {
			bad = append(bad, fmt.Sprintf("%s names task %s, which the provider does not have", strings.Join(claims[id], ", "), id))
		}
	}
	return Check{Name: "exactly one task per batch, across every run", OK: len(bad) == 0,
		Detail: fmt.Sprintf("%d tasks, %d batches of %d runs with a task; wrong: %s", len(tasks), len(claims), countRuns(batches), clip(bad, 20))}
}

func countRuns(batches []migration.BatchState) int {
	runs := map[string]bool{}
	for _, b := range batches {
		runs[b.RunID] = true
	}
	return len(runs)
}

// checkCampaignDone: the last run finished every batch of its plan, and
// every earlier run is closed (nothing of it in flight or holding
// rotation).
func checkCampaignDone(c migration.Campaign, runs []runState) Check {
	last := runs[len(runs)-1]
	var open []string
	for _, cr := range c.Runs {
		if cr.RunID != last.id && !cr.Closed {
			open = append(open, cr.RunID)
		}
	}
	ok := last.report.Done && len(open) == 0
	return Check{Name: "campaign finished", OK: ok,
		Detail: fmt.Sprintf("%d runs; the last (%s) done: %v; earlier runs not closed: %v", len(runs), last.id, last.report.Done, open)}
}

// checkNoRotationChange: no rotation policy was changed at all (the task
// API is absent: nothing may be switched off).
func checkNoRotationChange(calls map[string]int64) Check {
	n := calls["UpdateRotationPolicy"] + calls["UpdateSecretRotationPolicy"]
	return Check{Name: "task API absent: no rotation policy changed", OK: n == 0,
		Detail: fmt.Sprintf("%d UpdateRotationPolicy, %d UpdateSecretRotationPolicy calls", calls["UpdateRotationPolicy"], calls["UpdateSecretRotationPolicy"])}
}

// taskAPIAbsentLine is what the discovery report says of a lane whose task
// API answered as an unknown action.
const taskAPIAbsentLine = "migration task API: **unavailable InvalidAction.NotFound**"

// checkTaskAPIReported: every lane of every run was probed, found
// unavailable with the unknown action's code, blocked for it, and its
// discovery report line says so.
func checkTaskAPIReported(runs []runState, nights []NightRun) Check {
	var bad []string
	lanes := 0
	for i, rs := range runs {
		md := string(nights[i].DiscoveryMD)
		for _, li := range rs.inv.Lanes {
			lanes++
			p := li.TaskAPI
			switch {
			case p == nil:
				bad = append(bad, fmt.Sprintf("%s %s: not probed", rs.id, li.Lane))
			case p.Available || p.Code != "InvalidAction.NotFound":
				bad = append(bad, fmt.Sprintf("%s %s: probe %+v", rs.id, li.Lane, *p))
			case !strings.Contains(md, "`"+li.Lane.String()+"`: "+taskAPIAbsentLine):
				bad = append(bad, fmt.Sprintf("%s %s: the discovery report does not say %q", rs.id, li.Lane, taskAPIAbsentLine))
			}
			if lf, ok := rs.verdicts.Lane(li.Lane); !ok {
				bad = append(bad, fmt.Sprintf("%s %s: no lane finding", rs.id, li.Lane))
			} else if f, blocked := lf.Blocker(); !blocked || f.Reason != verdict.TaskAPIUnavailable {
				bad = append(bad, fmt.Sprintf("%s %s: not blocked %s", rs.id, li.Lane, verdict.TaskAPIUnavailable))
			}
		}
	}
	return Check{Name: "task API absent: every lane reported unavailable", OK: lanes > 0 && len(bad) == 0,
		Detail: fmt.Sprintf("%d lanes of %d runs: %s; wrong: %d %s", lanes, len(runs), taskAPIAbsentLine, len(bad), clip(bad, 20))}
}

func kmsClient(ready stack.Ready, speed float64) (*kms.Client, error) {
	static := map[string]credentials.Credential{}
	for _, a := range ready.Accounts {
		c, err := ram.Static(a.AccessKeyID, a.AccessKeySecret, "")
		if err != nil {
			return nil, err
		}
		static[a.ID] = c
	}
	quotas := kms.DefaultQuotas()
	for g, q := range quotas {
		quotas[g] = q * speed // the twin's are scaled too
	}
	return kms.New(kms.Config{Endpoints: ready.KMS, Insecure: true, Credentials: ram.Credentials{Static: static}.For, Quotas: quotas})
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// clip joins at most n items.
func clip(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, "; ")
	}
	return strings.Join(slices.Clone(items[:n]), "; ") + fmt.Sprintf("; … %d more", len(items)-n)
}
