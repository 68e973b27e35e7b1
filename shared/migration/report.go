package migration

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// Report is the run report: what happened to every batch, resource and
// rotation policy of a run, built from the run state alone.
type Report struct {
	RunID       string    `json:"runId"`
	GeneratedAt time.Time `json:"generatedAt"`
	// Started and Ended are the first and last recorded transitions.
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
	Done    bool      `json:"done"`
	// Approval says that the run awaits approval and the command to run
	// (empty when approved or no approval gate applies).
	Approval string `json:"approval,omitempty"`

	Timeline []TimelineEvent `json:"timeline"`
	Lanes    []LaneFigures   `json:"lanes"`
	// Failures lists every failed resource, retried ones included (with the
	// batch they went to), each with its reason and what to do.
	Failures []Failure `json:"failures,omitempty"`
	// Dropped lists the resources left out of their batch because they no
	// longer exist, are scheduled for deletion or are disabled: their
	// owners' decisions, not failures (never retried nor alerted).
	Dropped []Dropped `json:"dropped,omitempty"`
	// Problems are verification findings, per batch.
	Problems []string   `json:"problems,omitempty"`
	Stalled  []string   `json:"stalled,omitempty"`
	Ledger   LedgerView `json:"ledger"`
	Window   WindowUse  `json:"window"`
	// After is what changes for the migrated resources and what to check
	// once the run is over.
	After AfterMigration `json:"afterMigration"`
}

// DefaultPoliciesNote is what the provider documents about access to
// migrated resources: the run report says it whenever anything migrated.
const DefaultPoliciesNote = "Default key and secret policies now apply to every migrated key and secret: " +
	"review access that relied on KMS 1.0's policies (RAM policies of applications, cross-account access) before relying on them."

// AfterMigration is the report's closing advice: the default policies the
// provider applies to migrated resources, and the service keys, which do
// not migrate and which the guide says to check under Default Keys.
type AfterMigration struct {
	// Migrated counts the resources this run migrated.
	Migrated int `json:"migrated"`
	// DefaultPolicies is DefaultPoliciesNote once anything migrated.
	DefaultPolicies string `json:"defaultPolicies,omitempty"`
	// ServiceKeys lists every service key of the run's inventory; filled
	// by WriteReport (nil from BuildReport), empty when the inventory is
	// absent (InventoryMissing).
	ServiceKeys      []ServiceKey `json:"serviceKeys,omitempty"`
	InventoryMissing bool         `json:"inventoryMissing,omitempty"`
}

// ServiceKey is a key a cloud product created for server-side
// encryption; it stays in KMS 1.0's Default Keys view.
type ServiceKey struct {
	Lane    estate.Lane `json:"lane"`
	ID      string      `json:"id"`
	Aliases []string    `json:"aliases,omitempty"`
	Creator string      `json:"creator,omitempty"`
}

// TimelineEvent is one batch transition.
type TimelineEvent struct {
	At        time.Time `json:"at"`
	BatchID   string    `json:"batchId"`
	From      Phase     `json:"from,omitempty"`
	To        Phase     `json:"to"`
	RequestID string    `json:"requestId,omitempty"`
	Reason    string    `json:"reason,omitempty"`
}

// LaneFigures are one lane's numbers.
type LaneFigures struct {
	Lane     estate.Lane `json:"lane"`
	Batches  int         `json:"batches"`
	Finished int         `json:"finished"`
	Migrated int         `json:"migrated"`
	// Failed counts resources that failed for good (not retried).
	Failed int `json:"failed"`
	// Retried counts failures that went into a later batch.
	Retried int `json:"retried"`
	// Dropped counts resources dropped from their batch (see Report.Dropped).
	Dropped int `json:"dropped"`
	// Tasks and TaskSeconds are the lane's tasks and their durations
	// (provider start to end); TotalTaskSeconds is their sum.
	Tasks            int       `json:"tasks"`
	TaskSeconds      []float64 `json:"taskSeconds,omitempty"`
	TotalTaskSeconds float64   `json:"totalTaskSeconds"`
}

// Failure is one failed resource of one batch.
type Failure struct {
	Lane        estate.Lane  `json:"lane"`
	BatchID     string       `json:"batchId"`
	TaskID      string       `json:"taskId,omitempty"`
	Kind        ResourceKind `json:"kind"`
	ID          string       `json:"id"`
	ReasonCode  string       `json:"reasonCode"`
	Message     string       `json:"message,omitempty"`
	Attempt     int          `json:"attempt"`
	RetryBatch  string       `json:"retryBatch,omitempty"`
	Remediation string       `json:"remediation"`
}

// Dropped is one resource dropped from one batch, with the reason.
type Dropped struct {
	Lane       estate.Lane  `json:"lane"`
	BatchID    string       `json:"batchId"`
	Kind       ResourceKind `json:"kind"`
	ID         string       `json:"id"`
	ReasonCode string       `json:"reasonCode"`
	Message    string       `json:"message,omitempty"`
}

// LedgerView is the rotation ledger's status.
type LedgerView struct {
	Entries  int `json:"entries"`
	Off      int `json:"off"`
	Restored int `json:"restored"`
	Verified int `json:"verified"`
	// Superseded counts entries whose owner set a policy of their own
	// while kmsmig held rotation off (left as they set it).
	Superseded int           `json:"superseded"`
	Items      []LedgerEntry `json:"items,omitempty"`
}

// WindowUse relates the migration's critical path to the time it took:
// the busiest lane's summed task durations (a lower bound on any schedule,
// since a lane runs one task at a time) divided by the run's duration,
// from the first batch that left planned for work (rotation off or
// submission) to the last transition. Batches become planned when discover
// kicks migrate, which may be long before the window opens or an approval
// arrives; that wait is the schedule's and the approver's, not kmsmig's.
// Near 1, the run was as short as the lanes allow; low, time went to
// waiting, deferrals and overhead.
type WindowUse struct {
	// BusiestLane names what bounds the run: the lane, or "instance <id>"
	// when one instance's tasks (which run one after another) add up to
	// more than any lane's.
	BusiestLane         string  `json:"busiestLane,omitempty"`
	CriticalPathSeconds float64 `json:"criticalPathSeconds"`
	RunSeconds          float64 `json:"runSeconds"`
	Utilisation         float64 `json:"utilisation"`
	// Where the run's time went that the critical path did not use, on
	// the lane or instance that bounds it: before its first task started
	// (preparation: ledger, rotation off, submission), between one task's
	// end and the next one's start (Handovers of them, the longest
	// LongestHandoverSeconds), and after its last task ended (the last
	// batches' observation, restore and verification).
	LeadSeconds            float64 `json:"leadSeconds"`
	HandoverSeconds        float64 `json:"handoverSeconds"`
	Handovers              int     `json:"handovers"`
	LongestHandoverSeconds float64 `json:"longestHandoverSeconds"`
	TailSeconds            float64 `json:"tailSeconds"`
}

// taskSpan is when one batch's task ran.
type taskSpan struct{ from, to time.Time }

// idle fills w's lead, handovers and tail from the spans of the tasks on
// what bounds the run, between from and to.
func (w *WindowUse) idle(spans []taskSpan, from, to time.Time) {
	if len(spans) == 0 || from.IsZero() {
		return
	}
	slices.SortFunc(spans, func(a, b taskSpan) int { return a.from.Compare(b.from) })
	w.LeadSeconds = max(0, spans[0].from.Sub(from).Seconds())
	end := spans[0].to
	for _, s := range spans[1:] {
		if gap := s.from.Sub(end).Seconds(); gap > 0 {
			w.HandoverSeconds += gap
			w.Handovers++
			w.LongestHandoverSeconds = max(w.LongestHandoverSeconds, gap)
		}
		if s.to.After(end) {
			end = s.to
		}
	}
	w.TailSeconds = max(0, to.Sub(end).Seconds())
}

// BuildReport reads a run's plan, batch states and ledger and builds its
// report. No plan: an error matching runstate.ErrNotFound.
func (e *Engine) BuildReport(ctx context.Context, runID string) (Report, error) {
	r, err := e.LanesReport(ctx, runID, nil)
	if err != nil {
		return r, err
	}
	return r, r.AddLedger(ctx, e.Store)
}

// LanesReport is BuildReport over the run's lanes in lanes only (nil:
// every lane), without the ledger: what an invocation that stepped those
// lanes reads at its end. A thousand-lane run has more than a thousand
// batch states; a lane's invocation reads its lane's. The states are read
// runstate.ReadConcurrency at a time. No plan: an error matching
// runstate.ErrNotFound.
func (e *Engine) LanesReport(ctx context.Context, runID string, lanes []estate.Lane) (Report, error) {
	r := Report{RunID: runID, GeneratedAt: e.now()}
	p, err := e.readPlan(ctx, runID)
	if err != nil {
		return r, err
	}
	r.Done = true
	if e.Approvals != nil {
		if ok, why, err := e.approved(ctx, runID); err == nil && !ok {
			r.Approval = why
		}
	}
	var lps []plan.LanePlan
	var keys []string
	for _, lp := range p.Lanes {
		if len(lp.Batches) == 0 || lanes != nil && !slices.Contains(lanes, lp.Lane) {
			continue
		}
		lp.Batches = slices.Clone(lp.Batches)
		slices.SortFunc(lp.Batches, func(a, b plan.Batch) int { return cmp.Compare(a.Seq, b.Seq) })
		lps = append(lps, lp)
		for _, b := range lp.Batches {
			keys = append(keys, statekeys.Batch(runID, b.ID))
		}
	}
	states, errs := runstate.GetAllJSON[BatchState](ctx, e.Store, keys)
	perInstance := map[string]float64{}
	spans := map[string][]taskSpan{} // by lane, and by "instance <id>"
	i := 0
	for _, lp := range lps {
		lf := LaneFigures{Lane: lp.Lane}
		for range lp.Batches {
			s, err := states[i], errs[i]
			i++
			lf.Batches++
			if errors.Is(err, runstate.ErrNotFound) {
				r.Done = false
				continue
			}
			if err != nil {
				return r, err
			}
			before := lf.TotalTaskSeconds
			r.addBatch(&lf, &s)
			perInstance[s.InstanceID] += lf.TotalTaskSeconds - before
			if sp, ok := s.taskSpan(); ok {
				spans[lp.Lane.String()] = append(spans[lp.Lane.String()], sp)
				spans["instance "+s.InstanceID] = append(spans["instance "+s.InstanceID], sp)
			}
		}
		r.Lanes = append(r.Lanes, lf)
		if lf.TotalTaskSeconds > r.Window.CriticalPathSeconds || r.Window.BusiestLane == "" {
			r.Window.CriticalPathSeconds, r.Window.BusiestLane = lf.TotalTaskSeconds, lf.Lane.String()
		}
	}
	// Tasks into one instance run one after another, so the busiest
	// instance bounds the run too: the critical path is the longer bound.
	for id, secs := range perInstance {
		if secs > r.Window.CriticalPathSeconds {
			r.Window.CriticalPathSeconds, r.Window.BusiestLane = secs, "instance "+id
		}
	}
	slices.SortStableFunc(r.Timeline, func(a, b TimelineEvent) int { return a.At.Compare(b.At) })
	if n := len(r.Timeline); n > 0 {
		r.Started, r.Ended = r.Timeline[0].At, r.Timeline[n-1].At
	}
	workFrom := r.Started
	for _, ev := range r.Timeline {
		if ev.From == PhasePlanned && ev.To != PhaseFailed {
			workFrom = ev.At
			break
		}
	}
	r.Window.RunSeconds = r.Ended.Sub(workFrom).Seconds()
	if r.Window.RunSeconds > 0 {
		r.Window.Utilisation = r.Window.CriticalPathSeconds / r.Window.RunSeconds
	}
	r.Window.idle(spans[r.Window.BusiestLane], workFrom, r.Ended)
	r.After = afterMigration(r.Lanes)
	return r, nil
}

// AddLedger counts the campaign's ledger entries held for the run (or
// for none) into r.Ledger, read runstate.ReadConcurrency at a time.
func (r *Report) AddLedger(ctx context.Context, store runstate.Store) error {
	keys, err := store.List(ctx, statekeys.LedgerPrefix)
	if err != nil {
		return err
	}
	entries, errs := runstate.GetAllJSON[LedgerEntry](ctx, store, keys)
	for i, le := range entries {
		if errs[i] != nil {
			return errs[i]
		}
		if le.RunID != r.RunID && le.RunID != "" {
			continue // held by another run's batch: in that run's report
		}
		r.Ledger.Entries++
		switch le.Status {
		case LedgerOff:
			r.Ledger.Off++
		case LedgerRestored:
			r.Ledger.Restored++
		case LedgerVerified:
			r.Ledger.Verified++
		case LedgerSuperseded:
			r.Ledger.Superseded++
		}
		r.Ledger.Items = append(r.Ledger.Items, le)
	}
	return nil
}

// afterMigration counts what the lanes migrated and, once anything did,
// says that default policies apply to it.
func afterMigration(lanes []LaneFigures) AfterMigration {
	var a AfterMigration
	for _, lf := range lanes {
		a.Migrated += lf.Migrated
	}
	if a.Migrated > 0 {
		a.DefaultPolicies = DefaultPoliciesNote
	}
	return a
}

// addServiceKeys lists the service keys of the run's inventory in
// r.After (WriteReport only: BuildReport runs at the end of every
// invocation and reads no inventory).
func (r *Report) addServiceKeys(ctx context.Context, store runstate.Store) error {
	inv, _, err := runstate.GetJSON[estate.Inventory](ctx, store, statekeys.Inventory(r.RunID))
	switch {
	case errors.Is(err, runstate.ErrNotFound):
		r.After.InventoryMissing = true
		return nil
	case err != nil:
		return fmt.Errorf("migration: report %s: %w", r.RunID, err)
	}
	r.After.ServiceKeys = []ServiceKey{}
	for _, li := range inv.Lanes {
		for _, k := range li.Keys {
			if k.IsServiceKey() && !k.Migrated() {
				r.After.ServiceKeys = append(r.After.ServiceKeys, ServiceKey{Lane: li.Lane, ID: k.ID, Aliases: slices.Clone(k.Aliases), Creator: k.Creator})
			}
		}
	}
	slices.SortFunc(r.After.ServiceKeys, func(x, y ServiceKey) int { return cmp.Or(x.Lane.Compare(y.Lane), cmp.Compare(x.ID, y.ID)) })
	return nil
}

// taskSpan is when the batch's task ran, from its start (its creation
// when the provider did not say) to its end; ok is false until it ended.
func (s *BatchState) taskSpan() (taskSpan, bool) {
	if s.TaskID == "" || s.TaskEnded.IsZero() {
		return taskSpan{}, false
	}
	from := s.TaskStarted
	if from.IsZero() {
		from = s.TaskCreated
	}
	return taskSpan{from, s.TaskEnded}, true
}

func (r *Report) addBatch(lf *LaneFigures, s *BatchState) {
	if s.Finished() {
		lf.Finished++
	} else {
		r.Done = false
	}
	for _, t := range s.History {
		r.Timeline = append(r.Timeline, TimelineEvent{At: t.At, BatchID: s.ID, From: t.From, To: t.To, RequestID: t.RequestID, Reason: t.Reason})
	}
	if s.TaskID != "" {
		lf.Tasks++
		if sp, ok := s.taskSpan(); ok {
			d := sp.to.Sub(sp.from).Seconds()
			lf.TaskSeconds = append(lf.TaskSeconds, d)
			lf.TotalTaskSeconds += d
		}
	}
	if s.Stalled {
		r.Stalled = append(r.Stalled, fmt.Sprintf("%s: task %s %s since %s", s.ID, s.TaskID, s.TaskStatus, s.TaskStatusSince.Format(time.RFC3339)))
	}
	for _, p := range s.Problems {
		r.Problems = append(r.Problems, s.ID+": "+p)
	}
	for _, o := range s.Resources {
		switch {
		case o.Result == ResultMigrated:
			lf.Migrated++
		case o.Result == ResultDropped:
			lf.Dropped++
			r.Dropped = append(r.Dropped, Dropped{Lane: s.Lane, BatchID: s.ID, Kind: o.Kind, ID: o.ID, ReasonCode: o.ReasonCode, Message: o.Message})
		case o.RetryBatch != "":
			lf.Retried++
		default:
			lf.Failed++
		}
		if o.Result == ResultFailed {
			r.Failures = append(r.Failures, Failure{Lane: s.Lane, BatchID: s.ID, TaskID: s.TaskID, Kind: o.Kind, ID: o.ID,
				ReasonCode: o.ReasonCode, Message: o.Message, Attempt: o.Attempt, RetryBatch: o.RetryBatch,
				Remediation: Classify(o.ReasonCode).Remediation})
		}
	}
}

// JSON renders the report as indented JSON.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Markdown renders the report for people.
func (r *Report) Markdown() []byte {
	var b strings.Builder
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	}
	cell := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }
	state := "in progress"
	if r.Done {
		state = "done"
	}
	fmt.Fprintf(&b, "# Migration run %s\n\n", r.RunID)
	fmt.Fprintf(&b, "Status: **%s**. From %s to %s. Generated %s.\n\n", state, ts(r.Started), ts(r.Ended), ts(r.GeneratedAt))
	if r.Approval != "" {
		fmt.Fprintf(&b, "**Awaiting approval**: %s.\n\n", strings.TrimPrefix(r.Approval, "awaiting approval: "))
	}
	fmt.Fprintf(&b, "Window utilisation: **%.0f%%** (critical path %.0fs on %s, run %.0fs).\n\n",
		100*r.Window.Utilisation, r.Window.CriticalPathSeconds, cmp.Or(r.Window.BusiestLane, "-"), r.Window.RunSeconds)
	if w := r.Window; w.CriticalPathSeconds > 0 {
		fmt.Fprintf(&b, "Its idle time: %.0fs before the first task, %.0fs in %d handovers between tasks (the longest %.0fs), %.0fs after the last task.\n\n",
			w.LeadSeconds, w.HandoverSeconds, w.Handovers, w.LongestHandoverSeconds, w.TailSeconds)
	}

	b.WriteString("## Lanes\n\n| Lane | Batches | Finished | Migrated | Failed | Retried | Dropped | Tasks | Task time (s) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, l := range r.Lanes {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d | %.0f |\n", l.Lane, l.Batches, l.Finished, l.Migrated, l.Failed, l.Retried, l.Dropped, l.Tasks, l.TotalTaskSeconds)
	}
	b.WriteString("\n## Failures\n\n")
	if len(r.Failures) == 0 {
		b.WriteString("None.\n")
	} else {
		b.WriteString("| Batch | Resource | Reason | Attempt | Retried in | Remediation |\n|---|---|---|---:|---|---|\n")
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "| %s | %s %s | %s | %d | %s | %s |\n", f.BatchID, f.Kind, cell(f.ID), f.ReasonCode, f.Attempt, cmp.Or(f.RetryBatch, "-"), cell(f.Remediation))
		}
	}
	if len(r.Dropped) > 0 {
		b.WriteString("\n## Dropped\n\nLeft out of their batch because their owners deleted them, scheduled their deletion or disabled them after they were planned. Not failures: never retried; the next discover reports the change.\n\n")
		b.WriteString("| Batch | Resource | Reason | Detail |\n|---|---|---|---|\n")
		for _, d := range r.Dropped {
			fmt.Fprintf(&b, "| %s | %s %s | %s | %s |\n", d.BatchID, d.Kind, cell(d.ID), d.ReasonCode, cell(cmp.Or(d.Message, "-")))
		}
	}
	if len(r.Problems)+len(r.Stalled) > 0 {
		b.WriteString("\n## Findings\n\n")
		for _, p := range r.Stalled {
			fmt.Fprintf(&b, "- stalled: %s\n", cell(p))
		}
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "- verification: %s\n", cell(p))
		}
	}
	fmt.Fprintf(&b, "\n## Rotation ledger\n\n%d entries: %d off, %d restored, %d verified, %d superseded by their owners.\n\n",
		r.Ledger.Entries, r.Ledger.Off, r.Ledger.Restored, r.Ledger.Verified, r.Ledger.Superseded)
	if len(r.Ledger.Items) > 0 {
		b.WriteString("| Lane | Resource | Original | Status | Batch | Last error |\n|---|---|---|---|---|---|\n")
		for _, le := range r.Ledger.Items {
			fmt.Fprintf(&b, "| %s | %s %s | %s | %s | %s | %s |\n", le.Lane, le.Kind, cell(le.ID), describe(le.Original), le.Status, le.BatchID, cell(cmp.Or(le.LastError, "-")))
		}
	}
	b.WriteString("\n## After migration\n\n")
	if r.After.DefaultPolicies != "" {
		fmt.Fprintf(&b, "%d resources migrated. %s\n\n", r.After.Migrated, r.After.DefaultPolicies)
	} else {
		b.WriteString("Nothing migrated yet. Once something does, default key and secret policies apply to it.\n\n")
	}
	switch {
	case r.After.ServiceKeys == nil && !r.After.InventoryMissing:
		// BuildReport alone: the inventory was not read.
	case r.After.InventoryMissing:
		b.WriteString("Service keys: the run has no inventory; check the Default Keys view of every account and region in the KMS console.\n")
	case len(r.After.ServiceKeys) == 0:
		b.WriteString("Service keys: none in the inventory.\n")
	default:
		fmt.Fprintf(&b, "Service keys are not migrated and need no action; check that these %d still show in the KMS console under **Default Keys**:\n\n", len(r.After.ServiceKeys))
		b.WriteString("| Lane | Key | Aliases | Created by |\n|---|---|---|---|\n")
		for _, k := range r.After.ServiceKeys {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", k.Lane, k.ID, cell(cmp.Or(strings.Join(k.Aliases, ", "), "-")), cell(cmp.Or(k.Creator, "-")))
		}
	}
	b.WriteString("\n## Timeline\n\n| Time | Batch | Transition | Request | Reason |\n|---|---|---|---|---|\n")
	for _, t := range r.Timeline {
		from := string(t.From)
		if from == "" {
			from = "·"
		}
		fmt.Fprintf(&b, "| %s | %s | %s → %s | %s | %s |\n", ts(t.At), t.BatchID, from, t.To, cmp.Or(t.RequestID, "-"), cell(cmp.Or(t.Reason, "-")))
	}
	return []byte(b.String())
}

// WriteReport builds the run report, lists the inventory's service keys
// in it, and stores it as JSON and Markdown at ReportKeys (overwriting the
// previous one). Errors: BuildReport's and the store's.
func (e *Engine) WriteReport(ctx context.Context, runID string) (Report, error) {
	r, err := e.BuildReport(ctx, runID)
	if err != nil {
		return r, err
	}
	if err := r.addServiceKeys(ctx, e.Store); err != nil {
		return r, err
	}
	j, err := r.JSON()
	if err != nil {
		return r, err
	}
	jk, mk := statekeys.RunReport(runID)
	for key, data := range map[string][]byte{jk: j, mk: r.Markdown()} {
		if _, err := runstate.Mutate(ctx, e.Store, key, func([]byte, bool) ([]byte, error) { return data, nil }); err != nil {
			return r, fmt.Errorf("migration: write %s: %w", key, err)
		}
	}
	return r, nil
}
