package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kmsmig/kmsmig/shared/approval"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/discover"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/report"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

// DiscoverOptions are what a direct invocation of discover (or a timer
// payload) may set. Every field is optional.
type DiscoverOptions struct {
	// RunID names the run; default run-YYYYMMDD of the trigger (or
	// invocation) time. Re-running discover on an existing run re-plans
	// its pending batches only.
	RunID string `json:"runId,omitempty"`
	// Accounts and Regions narrow the configured ones.
	Accounts []string `json:"accounts,omitempty"`
	Regions  []string `json:"regions,omitempty"`
	// Include and Exclude replace the configured plan filters.
	Include []string `json:"include,omitempty"`
	Exclude []string `json:"exclude,omitempty"`
	// DryRun discovers, classifies and plans but writes nothing.
	DryRun bool `json:"dryRun,omitempty"`
	// FanoutGroup, set by a coordinating discover only, makes this
	// invocation discover that group of the run's fan-out (RunID required;
	// see Fanout).
	FanoutGroup *int `json:"fanoutGroup,omitempty"`
}

// DiscoverEvent is what the discover function accepts: a timer event
// (whose payload, if any, is DiscoverOptions as JSON) or DiscoverOptions
// directly.
type DiscoverEvent struct {
	TimerEvent
	DiscoverOptions
}

// DiscoverResult is the compact summary discover returns. It carries
// references into the run-state store, never inventories, so it stays far
// below the 128 KB asynchronous-invocation limit.
type DiscoverResult struct {
	RunID       string         `json:"runId"`
	DryRun      bool           `json:"dryRun,omitempty"`
	Lanes       int            `json:"lanes"`
	Incomplete  []string       `json:"incompleteLanes,omitempty"`
	Counts      verdict.Counts `json:"counts"`
	Batches     int            `json:"batches"`
	NewBatches  int            `json:"newBatches"`
	Replanned   bool           `json:"replanned"`
	DurationMS  int64          `json:"durationMs"`
	Inventory   string         `json:"inventory,omitempty"`
	Verdicts    string         `json:"verdicts,omitempty"`
	Plan        string         `json:"plan,omitempty"`
	ReportJSON  string         `json:"reportJson,omitempty"`
	ReportMD    string         `json:"reportMarkdown,omitempty"`
	Unavailable []string       `json:"unavailable,omitempty"`
	// TaskAPIUnavailable lists the lanes whose migration task API did not
	// answer discovery's probe, as "<account>/<region>: <code>"; they are
	// blocked and nothing in them is planned.
	TaskAPIUnavailable []string `json:"taskApiUnavailable,omitempty"`
	// Approval says, under KMSMIG_APPROVAL=required, that the plan awaits
	// approval and the command that approves it (empty when approved or
	// not required).
	Approval string `json:"approval,omitempty"`
	// FanoutGroups is how many invocations a coordinating discover handed
	// groups of lanes to (Dispatched of them in this invocation);
	// FanoutGroup is the group a group's invocation discovered.
	// FanoutGroupSize is the lanes of each group (the last may hold
	// fewer): KMSMIG_DISCOVER_LANES_PER_INVOCATION, or more when that many
	// would need over KMSMIG_FANOUT_INVOCATIONS groups (GroupSize).
	FanoutGroups    int  `json:"fanoutGroups,omitempty"`
	FanoutGroupSize int  `json:"fanoutGroupSize,omitempty"`
	Dispatched      int  `json:"dispatched,omitempty"`
	FanoutGroup     *int `json:"fanoutGroup,omitempty"`
	// Audit counts the invocation's audit records; anything dropped,
	// failed or pending means the trail of this invocation is incomplete.
	Audit *audit.Stats `json:"audit,omitempty"`
}

// SetAudit records the invocation's audit counters in the result.
func (r *DiscoverResult) SetAudit(s audit.Stats) { r.Audit = &s }

// Discoverer runs the discover step: inventory, classification, plan,
// persistence.
type Discoverer struct {
	Config Config
	Source discover.Source
	Store  runstate.Store
	// Account is the function's own account (from the invocation), used
	// when Config.Accounts is empty.
	Account string
	// Region is the function's region, the default seed region.
	Region string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Progress, when set, receives discovery progress.
	Progress func(discover.Progress)
	// TaskAPI, when set, is probed once per lane (the task backend's
	// first contact with the migration task API); a lane whose probe
	// fails is blocked task-api-unavailable and nothing in it is planned.
	// nil: no probe (the observe backend needs no task API).
	TaskAPI discover.TaskProbe
	// CheckAccount, when set, is asked before anything runs whether each
	// account can be reached (a credential exists for it); a failure
	// refuses the run naming the account.
	CheckAccount func(account string) error
	// Audit receives the run's audit records; nil writes none.
	Audit audit.Logger
	// Alerts raises pre-flight alerts; nil raises none.
	Alerts Alerts
	// Kick, when set, is called once a new plan is persisted (not on a dry
	// run) to ask migrate to start: the batches then start as soon as the
	// window allows, even when discover finishes after migrate's timer. Its
	// error is logged, never returned: the timers are the safety net.
	Kick func(ctx context.Context, runID string) error
	// Dispatch, when set, hands group g of a run's fan-out to another
	// discover invocation (asynchronous, idempotent per invocation and
	// group). Without it discover never fans out.
	Dispatch func(ctx context.Context, runID string, g int) error
	// Reports renders the reports of a run; prev is the campaign's
	// previous run (nil for the first, or when discover re-runs the current
	// run). nil writes none.
	Reports func(inv *estate.Inventory, vs *verdict.Verdicts, p *plan.Plan, prev *report.Previous) (jsonDoc, markdown []byte, err error)
}

// options returns the event's options: its timer payload's, or its own.
// A payload beside direct options is refused.
func (e DiscoverEvent) options() (DiscoverOptions, error) {
	o := e.DiscoverOptions
	if e.Payload == "" {
		return o, nil
	}
	if o.RunID != "" || o.Accounts != nil || o.Regions != nil || o.Include != nil || o.Exclude != nil || o.DryRun {
		return o, fmt.Errorf("discover event: %w", errMixedPayload)
	}
	var p DiscoverOptions
	if err := decodePayload(e.Payload, &p); err != nil {
		return o, fmt.Errorf("discover event: payload: %w", err)
	}
	return p, nil
}

// MaxEventRegions bounds the regions a discover event may name when no
// regions are configured (Alibaba Cloud has fewer than 40); with
// KMSMIG_REGIONS set, an event may only narrow them.
const MaxEventRegions = 64

// MaxEventAccounts bounds the accounts a discover event may name when
// none are configured and the function's own account is unknown (the
// command-line tool); otherwise an event may only narrow them.
const MaxEventAccounts = 100

// checkEventScope checks the accounts and regions an event names, before
// anything is read: account UIDs (digits), region ids, no repeats, at most
// MaxEventRegions regions and MaxEventAccounts accounts. Narrowing (resolveAccounts, resolveRegions)
// then bounds them by the configured ones.
func checkEventScope(o DiscoverOptions) error {
	for _, f := range []struct {
		field string
		vs    []string
		ok    func(string) bool
		want  string
	}{
		{"accounts", o.Accounts, digits, "an account UID (digits only)"},
		{"regions", o.Regions, regionLike, "a region id like cn-hangzhou"},
	} {
		for i, v := range f.vs {
			if !f.ok(v) {
				return fmt.Errorf("discover event: %s[%d]: %q is not %s", f.field, i, v, f.want)
			}
			if slices.Index(f.vs, v) < i {
				return fmt.Errorf("discover event: %s[%d]: %q is given twice", f.field, i, v)
			}
		}
	}
	if len(o.Regions) > MaxEventRegions {
		return fmt.Errorf("discover event: regions: %d given, at most %d", len(o.Regions), MaxEventRegions)
	}
	if len(o.Accounts) > MaxEventAccounts {
		return fmt.Errorf("discover event: accounts: %d given, at most %d", len(o.Accounts), MaxEventAccounts)
	}
	return nil
}

// DiscoverOutcome is a discover run with the documents it produced, for
// callers in the same process (the command-line tool) that render them.
type DiscoverOutcome struct {
	Result    DiscoverResult
	Inventory *estate.Inventory
	Verdicts  *verdict.Verdicts
	Plan      *plan.Plan
	// Previous is the campaign's run before this one, as the reports
	// compare with it; nil when there is none.
	Previous *report.Previous
}

// Handle runs discover for one event and returns its compact summary. Bad
// input returns an error naming the field and changes nothing.
func (d *Discoverer) Handle(ctx context.Context, e DiscoverEvent) (DiscoverResult, error) {
	out, err := d.Run(ctx, e)
	return out.Result, err
}

// Run is Handle returning the documents too.
func (d *Discoverer) Run(ctx context.Context, e DiscoverEvent) (DiscoverOutcome, error) {
	start := d.now()
	out, err := d.run(ctx, e, start)
	d.auditEnd(audit.WithScope(ctx, audit.Scope{RunID: out.Result.RunID}), out.Result, err, start, d.now())
	return out, err
}

func (d *Discoverer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// run resolves the event, then inventories, classifies and plans, and
// persists the outcome unless the run is dry. A bad event fails before
// anything is read or written; a failure to persist returns the summary
// of what was found.
func (d *Discoverer) run(ctx context.Context, e DiscoverEvent, start time.Time) (DiscoverOutcome, error) {
	r, err := d.resolve(e, start)
	if err != nil {
		return DiscoverOutcome{}, err
	}
	inv, fanned, err := d.inventory(ctx, &r)
	if err != nil || inv == nil {
		fanned.DurationMS = d.now().Sub(start).Milliseconds()
		return DiscoverOutcome{Result: fanned}, err
	}
	out, err := d.classifyAndPlan(ctx, r, inv)
	if err != nil {
		return DiscoverOutcome{}, err
	}
	out.Result.FanoutGroups, out.Result.Dispatched, out.Result.FanoutGroup = fanned.FanoutGroups, fanned.Dispatched, fanned.FanoutGroup
	out.Result.FanoutGroupSize = fanned.FanoutGroupSize
	if !r.dryRun {
		if err := d.persist(ctx, &out.Result, out, start); err != nil {
			return DiscoverOutcome{Result: out.Result}, err
		}
		if r.fanout {
			if err := d.fanoutPlanned(ctx, r.runID); err != nil {
				return DiscoverOutcome{Result: out.Result}, err
			}
		}
		d.kick(ctx, out.Result)
	}
	out.Result.DurationMS = d.now().Sub(start).Milliseconds()
	return out, nil
}

// request is a discover event resolved against the configuration.
type request struct {
	runID    string
	at       time.Time // the trigger time, else the invocation's
	dryRun   bool
	accounts []string
	regions  []string
	seed     string
	settings plan.Settings
	// group is the fan-out group this invocation discovers (nil: none);
	// fanout is set once the inventory came from a fan-out.
	group  *int
	fanout bool
}

// resolve merges the event's options into the configuration. Its errors
// name the field at fault; nothing has been read or written yet.
func (d *Discoverer) resolve(e DiscoverEvent, start time.Time) (request, error) {
	r, o, err := d.resolveEvent(e, start)
	if err != nil {
		return request{}, badEvent(err)
	}
	if r.accounts, err = d.resolveAccounts(o.Accounts); err != nil {
		return request{}, err
	}
	return r, nil
}

// resolveEvent checks and merges what the event says; its errors are the
// event's fault.
func (d *Discoverer) resolveEvent(e DiscoverEvent, start time.Time) (request, DiscoverOptions, error) {
	o, err := e.options()
	if err != nil {
		return request{}, o, err
	}
	r := request{runID: o.RunID, at: start, dryRun: o.DryRun, seed: d.Config.SeedRegion, settings: d.Config.Plan, group: o.FanoutGroup}
	if r.group != nil && (o.RunID == "" || o.DryRun) {
		return request{}, o, errors.New("discover event: fanoutGroup: given by a coordinating discover only, with its runId and never dryRun")
	}
	if t, ok, err := e.Time(); err != nil {
		return request{}, o, fmt.Errorf("discover event: %w", err)
	} else if ok {
		r.at = t
	}
	if r.runID == "" {
		r.runID = DefaultRunID(r.at)
	}
	if err := ValidateRunID(r.runID); err != nil {
		return request{}, o, fmt.Errorf("discover event: %w", err)
	}
	if err := checkEventScope(o); err != nil {
		return request{}, o, err
	}
	if len(o.Accounts) > 0 {
		if have := d.accounts(); len(have) > 0 {
			if _, err := narrow("accounts", have, o.Accounts); err != nil {
				return request{}, o, err
			}
		}
	}
	if r.regions, err = d.resolveRegions(o.Regions); err != nil {
		return request{}, o, err
	}
	if o.Include != nil || o.Exclude != nil {
		r.settings.Include, r.settings.Exclude = o.Include, o.Exclude
	}
	if err := r.settings.Validate(); err != nil {
		return request{}, o, fmt.Errorf("discover event: %w", err)
	}
	if r.seed == "" {
		r.seed = d.Region
	}
	return r, o, nil
}

// resolveAccounts narrows the configured accounts to want and checks that
// each can be reached.
func (d *Discoverer) resolveAccounts(want []string) ([]string, error) {
	accounts, err := narrow("accounts", d.accounts(), want)
	if err != nil || d.CheckAccount == nil {
		return accounts, err
	}
	var bad []string
	for _, a := range accounts {
		if err := d.CheckAccount(a); err != nil {
			bad = append(bad, err.Error())
		}
	}
	return accounts, joinErrors("discover: accounts", bad)
}

// resolveRegions narrows the configured regions to want; without
// configured regions want is taken as is (none: every region).
func (d *Discoverer) resolveRegions(want []string) ([]string, error) {
	have := d.Config.Regions
	if len(want) == 0 {
		return have, nil
	}
	if len(have) == 0 {
		return want, nil
	}
	return narrow("regions", have, want)
}

// inventory discovers the lanes of r in this invocation, or fans them out
// (see fanout.go). It returns the inventory to classify and plan, or nil
// and the summary of a fan-out step that leaves the planning to another
// invocation.
func (d *Discoverer) inventory(ctx context.Context, r *request) (*estate.Inventory, DiscoverResult, error) {
	if inv, res, handled, err := d.fanout(ctx, r); handled || err != nil {
		return inv, res, err
	}
	inv, err := discover.Run(ctx, d.Source, discover.Options{
		RunID: r.runID, Accounts: r.accounts, Regions: r.regions, SeedRegion: r.seed,
		Progress: d.Progress, Now: func() time.Time { return r.at }, TaskAPI: d.taskProbe(),
	})
	return inv, DiscoverResult{}, err
}

// classifyAndPlan classifies every resource of inv, plans (or re-plans)
// the run and audits what it found and decided.
func (d *Discoverer) classifyAndPlan(ctx context.Context, r request, inv *estate.Inventory) (DiscoverOutcome, error) {
	vset := verdict.DefaultSettings()
	vset.Targets = d.Config.Targets
	vset.StrictKeyVersions = d.Config.StrictKeyVersions
	vs, err := verdict.Classify(*inv, vset)
	if err != nil {
		return DiscoverOutcome{}, fmt.Errorf("discover: classify: %w", err)
	}
	p, replanned, err := d.plan(ctx, r.runID, vs, r.settings)
	if err != nil {
		return DiscoverOutcome{}, err
	}
	// The previous run is read before this one becomes current.
	prev := d.previous(ctx, r.runID)
	d.auditDiscovery(audit.WithScope(ctx, audit.Scope{RunID: r.runID}), inv, vs, p, replanned)
	d.auditChanges(audit.WithScope(ctx, audit.Scope{RunID: r.runID}), prev, inv)
	res := DiscoverResult{RunID: r.runID, DryRun: r.dryRun, Lanes: len(inv.Lanes), Counts: vs.Counts, Replanned: replanned}
	for _, li := range inv.Lanes {
		if len(li.Errors) > 0 {
			res.Incomplete = append(res.Incomplete, li.Lane.String())
		}
		if li.TaskAPI.Unavailable() {
			res.TaskAPIUnavailable = append(res.TaskAPIUnavailable, li.Lane.String()+": "+li.TaskAPI.Code)
		}
	}
	for _, lp := range p.Lanes {
		res.Batches += len(lp.Batches)
	}
	return DiscoverOutcome{Result: res, Inventory: inv, Verdicts: vs, Plan: p, Previous: prev}, nil
}

// previous reads the campaign's current run, when it is not runID: its
// inventory and plan, which this run's report compares with. None (the
// first run, a re-run of the current one, a run without inventory): nil.
// A run-state error is audited and the report goes without the section:
// the night's discovery matters more than its comparison.
func (d *Discoverer) previous(ctx context.Context, runID string) *report.Previous {
	prev, cur, err := d.readPrevious(ctx, runID)
	if err != nil && d.Audit != nil {
		d.Audit.Log(audit.WithScope(ctx, audit.Scope{RunID: runID}), audit.Record{Level: audit.LevelWarn,
			Action: "ReadPreviousRun", ResourceID: cur, Outcome: "failed", Message: err.Error() + "; the report goes without its changes section"})
	}
	return prev
}

// readPrevious is previous without the audit: it returns the previous run
// (nil when there is none) and its id.
func (d *Discoverer) readPrevious(ctx context.Context, runID string) (*report.Previous, string, error) {
	cur, err := d.campaign().Current(ctx)
	switch {
	case errors.Is(err, migration.ErrNoRun) || (err == nil && cur == runID):
		return nil, cur, nil
	case err != nil:
		return nil, cur, err
	}
	inv, _, err := runstate.GetJSON[estate.Inventory](ctx, d.Store, statekeys.Inventory(cur))
	switch {
	case errors.Is(err, runstate.ErrNotFound):
		return nil, cur, nil
	case err != nil:
		return nil, cur, fmt.Errorf("discover: read the inventory of %s: %w", cur, err)
	}
	prev := &report.Previous{Inventory: &inv}
	p, _, err := runstate.GetJSON[plan.Plan](ctx, d.Store, statekeys.Plan(cur))
	switch {
	case err == nil:
		prev.Plan = &p
	case !errors.Is(err, runstate.ErrNotFound):
		return nil, cur, fmt.Errorf("discover: read the plan of %s: %w", cur, err)
	}
	return prev, cur, nil
}

// kick asks migrate to start a persisted plan that has batches. A failure
// is audited, never returned: the timers are the safety net.
func (d *Discoverer) kick(ctx context.Context, res DiscoverResult) {
	if d.Kick == nil || res.Batches == 0 {
		return
	}
	if err := d.Kick(ctx, res.RunID); err != nil && d.Audit != nil {
		d.Audit.Log(audit.WithScope(ctx, audit.Scope{RunID: res.RunID}), audit.Record{Level: audit.LevelWarn,
			Action: "ChainMigrate", Outcome: "failed", Message: err.Error()})
	}
}

// taskProbe is TaskAPI when the configured backend creates tasks.
func (d *Discoverer) taskProbe() discover.TaskProbe {
	if d.Config.Backend == "observe" {
		return nil
	}
	return d.TaskAPI
}

func (d *Discoverer) accounts() []string {
	if len(d.Config.Accounts) > 0 {
		return d.Config.Accounts
	}
	if d.Account != "" {
		return []string{d.Account}
	}
	return nil
}

// narrow returns want when every element is in have (or have is empty),
// else an error naming the field.
func narrow(field string, have, want []string) ([]string, error) {
	if len(want) == 0 {
		if len(have) == 0 {
			return nil, fmt.Errorf("discover: %s: none configured", field)
		}
		return have, nil
	}
	for _, w := range want {
		if len(have) > 0 && !slices.Contains(have, w) {
			return nil, fmt.Errorf("discover event: %s: %q is not configured (configured: %v)", field, w, have)
		}
	}
	return want, nil
}

// plan plans the run, or re-plans it when a plan already exists, keeping
// every batch that is no longer pending.
func (d *Discoverer) plan(ctx context.Context, runID string, vs *verdict.Verdicts, s plan.Settings) (*plan.Plan, bool, error) {
	// What earlier runs of the campaign hold in flight is left out.
	held, err := d.campaign().Held(ctx, runID)
	if err != nil {
		return nil, false, fmt.Errorf("discover: read earlier runs: %w", err)
	}
	prev, _, err := runstate.GetJSON[plan.Plan](ctx, d.Store, statekeys.Plan(runID))
	switch {
	case errors.Is(err, runstate.ErrNotFound):
		p, err := plan.New(vs, s, held...)
		if err != nil {
			return nil, false, fmt.Errorf("discover: plan: %w", err)
		}
		p.Digest = approval.Digest(p, nil)
		return p, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("discover: read previous plan: %w", err)
	}
	states, err := approval.Statuses(ctx, d.Store, runID)
	if err != nil {
		return nil, false, err
	}
	p, err := plan.Replan(&prev, states, vs, held...)
	if err != nil {
		return nil, false, fmt.Errorf("discover: re-plan: %w", err)
	}
	p.Digest = approval.Digest(p, states)
	return p, true, nil
}

// persist writes inventory, verdicts, plan (compare-and-swap, so a
// concurrent discover of the same run cannot silently overwrite it),
// reports; then the run joins the campaign as its current run.
func (d *Discoverer) persist(ctx context.Context, res *DiscoverResult, out DiscoverOutcome, start time.Time) error {
	inv, vs, p := out.Inventory, out.Verdicts, out.Plan
	put := func(name string, v any) (string, error) {
		key := statekeys.Run(res.RunID, name)
		var data []byte
		switch t := v.(type) {
		case []byte:
			data = t
		default:
			var err error
			if data, err = json.MarshalIndent(v, "", "  "); err != nil {
				return "", fmt.Errorf("discover: encode %s: %w", name, err)
			}
		}
		if _, err := runstate.Mutate(ctx, d.Store, key, func(_ []byte, _ bool) ([]byte, error) { return data, nil }); err != nil {
			return "", fmt.Errorf("discover: write %s: %w", key, err)
		}
		return key, nil
	}
	var err error
	if res.Inventory, err = put("inventory.json", inv); err != nil {
		return err
	}
	if res.Verdicts, err = put("verdicts.json", vs); err != nil {
		return err
	}
	if res.Plan, err = put("plan.json", p); err != nil {
		return err
	}
	var (
		awaiting, needed bool
		decision         approval.Decision
		summary          approval.Summary
	)
	if d.Config.ApprovalRequired() && res.Batches > 0 {
		if decision, summary, needed, err = d.requestApproval(ctx, p, start); err != nil {
			return fmt.Errorf("discover: %w", err)
		}
		if awaiting = needed && !decision.Approved; awaiting {
			res.Approval = decision.Why(res.RunID)
		}
	}
	if d.Reports != nil {
		j, md, err := d.Reports(inv, vs, p, out.Previous)
		if err != nil {
			return fmt.Errorf("discover: render reports: %w", err)
		}
		if needed {
			md = append(md, approvalSection(res.RunID, decision, summary)...)
		}
		if res.ReportJSON, err = put("report.json", j); err != nil {
			return err
		}
		if res.ReportMD, err = put("report.md", md); err != nil {
			return err
		}
	}
	// The run joins the campaign and becomes current; what earlier runs
	// started but never submitted is retired.
	if err := d.campaign().OpenRun(ctx, res.RunID, start); err != nil {
		return fmt.Errorf("discover: %w", err)
	}
	if awaiting && d.Alerts != nil {
		_ = d.Alerts.Alert(ctx, approvalAwaited(res.RunID, summary))
	}
	return nil
}

// campaign is the engine over the store, for the campaign's bookkeeping
// (runs, what they hold in flight, retiring what a new run supersedes).
func (d *Discoverer) campaign() *migration.Engine {
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	return &migration.Engine{Store: d.Store, Audit: d.Audit, Clock: clockFunc(now)}
}
