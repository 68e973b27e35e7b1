package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/eventjson"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// StepEvent is what migrate and poll accept: a timer event (whose payload,
// if any, is the same JSON), or a chained invocation naming the run and
// optionally one lane or batch, or a group of a fanned-out step naming
// the run and its lanes (StepGroupEvent). Without a run id the current
// run is used.
type StepEvent struct {
	TimerEvent
	RunID   string `json:"runId,omitempty"`
	Lane    string `json:"lane,omitempty"`
	BatchID string `json:"batchId,omitempty"`
	// Lanes, set by a coordinating migrate or poll only, are the lanes
	// this invocation steps (at most MaxLanesPerInvocation, none twice,
	// with runId, never with lane or batchId); it never fans out again.
	Lanes []string `json:"lanes,omitempty"`
}

// isZero reports whether e carries nothing.
func (e StepEvent) isZero() bool {
	return e.TimerEvent == (TimerEvent{}) && e.RunID == "" && e.Lane == "" && e.BatchID == "" && e.Lanes == nil
}

// RotateEvent is what rotate accepts: a timer (the daily sweep), a chained
// invocation naming a batch to restore, an explicit action, or a Function
// Compute destination event delivering another function's failure (which
// rotate turns into an alert, then sweeps).
type RotateEvent struct {
	StepEvent
	// Action is disable, restore, sweep, abort, or end-observation (observe
	// backend: the operator says a published batch will not be started, so
	// its rotation comes back now); default restore when a batch is named,
	// else sweep.
	Action string `json:"action,omitempty"`
	// Reason says why, for action abort (recorded with the batch).
	Reason string `json:"reason,omitempty"`

	// Destination event fields (asyncInvokeConfig onFailure).
	Timestamp       int64           `json:"timestamp,omitempty"`
	RequestContext  *FailureContext `json:"requestContext,omitempty"`
	RequestPayload  string          `json:"requestPayload,omitempty"`
	ResponseContext json.RawMessage `json:"responseContext,omitempty"`
	ResponsePayload string          `json:"responsePayload,omitempty"`
}

var _ eventjson.Lenient = RotateEvent{}

// IgnoreUnknown makes a Function Compute destination event (one whose
// requestContext is an object) lenient: FC may add fields to it, and
// refusing one would lose the alert it carries. Every other rotate event
// is decoded strictly.
func (RotateEvent) IgnoreUnknown(fields map[string]json.RawMessage) bool {
	v := bytes.TrimSpace(fields["requestContext"])
	return len(v) > 0 && v[0] == '{'
}

// FailureContext is the requestContext of a destination event.
type FailureContext struct {
	RequestID              string `json:"requestId"`
	FunctionArn            string `json:"functionArn"`
	Condition              string `json:"condition"`
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

// StepResult is what migrate, poll and rotate return: the run, what each
// step did, and the audit counters.
type StepResult struct {
	RunID  string                 `json:"runId"`
	Steps  []migration.StepResult `json:"steps,omitempty"`
	Sweep  *migration.SweepResult `json:"sweep,omitempty"`
	Alerts int                    `json:"alerts,omitempty"`
	// Done: every batch of the run has finished; of an invocation on a
	// lane or a group of lanes (or a rotate step of a batch), every batch
	// of those lanes.
	Done bool `json:"done"`
	// Trigger says what an OSS event prompted (migrate's trigger on
	// approvals).
	Trigger string `json:"trigger,omitempty"`
	// Approval says, under KMSMIG_APPROVAL=required, that the run awaits
	// approval (or a new one after a re-plan) and the command to run.
	Approval string `json:"approval,omitempty"`
	// Fanout is what a coordinating migrate or poll handed out; GroupLanes
	// is how many lanes a group's invocation stepped.
	Fanout     *StepFanout  `json:"fanout,omitempty"`
	GroupLanes int          `json:"groupLanes,omitempty"`
	Audit      *audit.Stats `json:"audit,omitempty"`
}

// SetAudit records the invocation's audit counters in the result.
func (r *StepResult) SetAudit(s audit.Stats) { r.Audit = &s }

// Executor runs the migrate, poll and rotate steps of the current run.
type Executor struct {
	Config Config
	Engine *migration.Engine
	Alerts Alerts
	Now    func() time.Time
	// Dispatch, when set, hands group g of a fanned-out migrate or poll
	// of runID to an asynchronous invocation of function with payload (a
	// StepGroupEvent's JSON, within MaxAsyncPayload). It returns nil when
	// the invocation is queued or was queued already by this coordinator.
	Dispatch func(ctx context.Context, function, runID string, g int, payload []byte) error
}

// EngineConfig turns the configuration into the engine's, for the window
// open at (or next after) now.
func (cfg Config) EngineConfig(now time.Time) migration.Config {
	ec := migration.Config{MaxAttempts: cfg.MaxAttempts, Automatic: cfg.Automatic, StallAfter: cfg.StallAfter, PollWait: cfg.PollWait,
		Backend: cfg.Backend, ObserveTimeout: cfg.ObserveTimeout}
	if cfg.Window != nil {
		ec.Window.Start, ec.Window.End = cfg.Window.At(now, cfg.Timezone)
	}
	if cfg.FunctionMigrate != "-" {
		ec.Functions.Migrate = cfg.FunctionMigrate
	}
	if cfg.FunctionRotate != "-" {
		ec.Functions.Rotate = cfg.FunctionRotate
	}
	return ec
}

// stepOptions are what a migrate, poll or rotate event (or its timer
// payload) may name.
type stepOptions struct {
	RunID   string   `json:"runId,omitempty"`
	Lane    string   `json:"lane,omitempty"`
	BatchID string   `json:"batchId,omitempty"`
	Lanes   []string `json:"lanes,omitempty"`
}

// options returns the event's options: its timer payload's, or its own.
// A payload beside direct options is refused.
func (e StepEvent) options() (stepOptions, error) {
	o := stepOptions{RunID: e.RunID, Lane: e.Lane, BatchID: e.BatchID, Lanes: e.Lanes}
	if e.Payload == "" {
		return o, nil
	}
	if o.RunID != "" || o.Lane != "" || o.BatchID != "" || o.Lanes != nil {
		return o, fmt.Errorf("event: %w", errMixedPayload)
	}
	var p stepOptions
	if err := decodePayload(e.Payload, &p); err != nil {
		return o, fmt.Errorf("event: payload: %w", err)
	}
	return p, nil
}

// target resolves the event's run and lane (and the batch it names, which
// only rotate accepts). The event's own fields are checked before the
// current run is read.
func (x *Executor) target(ctx context.Context, e StepEvent) (runID string, lane *estate.Lane, batchID string, err error) {
	runID, lane, _, batchID, err = x.targetLanes(ctx, e)
	return runID, lane, batchID, err
}

// targetLanes is target that also resolves the lanes of a group event.
func (x *Executor) targetLanes(ctx context.Context, e StepEvent) (runID string, lane *estate.Lane, lanes []estate.Lane, batchID string, err error) {
	o, err := e.options()
	if err != nil {
		return "", nil, nil, "", badEvent(err)
	}
	if o.Lane != "" {
		l, err := laneLike(o.Lane)
		if err != nil {
			return "", nil, nil, "", badEvent(fmt.Errorf("event: lane: %w", err))
		}
		lane = &l
	}
	if o.Lanes != nil {
		switch {
		case o.Lane != "" || o.BatchID != "":
			return "", nil, nil, "", badEvent(errors.New("event: lanes: a group of lanes cannot be combined with lane or batchId"))
		case o.RunID == "":
			return "", nil, nil, "", badEvent(errors.New("event: lanes: a group of lanes needs its runId (a coordinating migrate or poll sets both)"))
		}
		if lanes, err = parseLanes(o.Lanes); err != nil {
			return "", nil, nil, "", badEvent(err)
		}
	}
	if o.RunID != "" {
		if err := ValidateRunID(o.RunID); err != nil {
			return "", nil, nil, "", badEvent(fmt.Errorf("event: %w", err))
		}
	}
	runID = o.RunID
	if runID == "" {
		cur, err := x.Engine.Current(ctx)
		if errors.Is(err, migration.ErrNoRun) {
			return "", nil, nil, "", errNoRun
		}
		if err != nil {
			return "", nil, nil, "", err
		}
		runID = cur
	}
	if err := ValidateRunID(runID); err != nil {
		return "", nil, nil, "", fmt.Errorf("event: %w", err)
	}
	return runID, lane, lanes, o.BatchID, nil
}

// errNoRun: nothing to do yet (no discover has run).
var errNoRun = errors.New("no current run: discover has not planned one yet")

// Migrate prepares and submits the next batch of every lane (or of the
// event's lane, or of the event's group of lanes) that may start. A
// coordinator (a whole run over KMSMIG_STEP_LANES_PER_INVOCATION lanes)
// hands the lanes to group invocations of migrate and starts none
// itself; it alone records and notifies a refused approval, while the
// engine's gate (migration.Engine.Approvals) holds every batch in every
// invocation, groups included.
func (x *Executor) Migrate(ctx context.Context, e StepEvent) (StepResult, error) {
	res, err := x.step(ctx, e, stepper{function: x.Config.FunctionMigrate, lane: x.Engine.MigrateLane, lanes: x.Engine.MigrateLanes, run: x.Engine.Migrate})
	if err == nil && res.RunID != "" && res.GroupLanes == 0 && x.Config.ApprovalRequired() {
		res.Approval, err = x.checkApproval(ctx, res.RunID)
	}
	return res, err
}

// Poll follows the tasks of every lane (or of the event's lane, or of the
// event's group of lanes), records per-resource outcomes, and chains
// rotate and migrate. On a whole run it also follows what earlier runs of
// the campaign still have in flight, and continues the lanes of the
// current run that can (a group: its own lanes). A coordinator hands the
// run's lanes to group invocations of poll and follows the earlier runs
// itself.
func (x *Executor) Poll(ctx context.Context, e StepEvent) (StepResult, error) {
	// The lanes a poll cannot step in time are the next poll's, a minute
	// later: it stops starting lanes two thirds of the way to its deadline
	// and cuts those still at work at five sixths, rather than fail, and
	// be retried, with lanes unstarted or cut by its deadline.
	ctx = migration.LaneBudget(ctx, time.Now())
	return x.step(ctx, e, stepper{
		function: x.Config.FunctionPoll,
		lane:     x.Engine.PollLane,
		lanes: func(ctx context.Context, runID string, lanes []estate.Lane) ([]migration.StepResult, error) {
			return x.pollLanes(ctx, runID, lanes)
		},
		run: func(ctx context.Context, runID string) ([]migration.StepResult, error) {
			steps, err := x.pollEarlier(ctx, runID)
			if err != nil {
				return steps, err
			}
			more, err := x.pollLanes(ctx, runID, nil)
			return append(steps, more...), err
		},
		beside: x.pollEarlier,
		// Only lanes at work have a task to follow or a batch to continue:
		// before the window, or early in it, a thousand-lane run needs no
		// fan-out at all.
		active: x.Engine.LanesAtWork,
	})
}

// pollLanes polls lanes of runID (nil: every lane) and continues those of
// them that can, when runID is the current run.
func (x *Executor) pollLanes(ctx context.Context, runID string, lanes []estate.Lane) ([]migration.StepResult, error) {
	var steps []migration.StepResult
	var err error
	if lanes == nil {
		steps, err = x.Engine.PollRun(ctx, runID)
	} else {
		steps, err = x.Engine.PollLanes(ctx, runID, lanes)
	}
	if err != nil {
		return steps, err
	}
	if cur, err := x.Engine.Current(ctx); err != nil || cur != runID {
		return steps, err
	}
	more, err := x.continueLanes(ctx, runID, lanes)
	return append(steps, more...), err
}

// pollEarlier polls every active run of the campaign other than runID: a
// task still running from an earlier night is followed to its end.
func (x *Executor) pollEarlier(ctx context.Context, runID string) ([]migration.StepResult, error) {
	runs, err := x.Engine.ActiveRuns(ctx)
	if err != nil {
		return nil, err
	}
	var out []migration.StepResult
	for _, r := range runs {
		if r == runID {
			continue
		}
		steps, err := x.Engine.PollRun(ctx, r)
		out = append(out, steps...)
		if err != nil {
			return out, fmt.Errorf("run %s: %w", r, err)
		}
	}
	return out, nil
}

// step runs a lane step on the event's lane, a group step on the event's
// lanes, or a run step on the whole run, then finish. A whole run of more
// lanes than KMSMIG_STEP_LANES_PER_INVOCATION is handed to group
// invocations instead (coordinate), and only s.beside runs here. Without
// a current run there is nothing to do yet.
func (x *Executor) step(ctx context.Context, e StepEvent, s stepper) (StepResult, error) {
	if o, err := e.options(); err == nil && o.BatchID != "" {
		// Refused rather than ignored: the engine chains migrate with a
		// lane, never a batch, and a step always takes a lane's next batch.
		return StepResult{}, badEvent(errors.New("event: batchId: migrate and poll take the next batch of every lane, or of the event's lane; name a lane instead (only rotate acts on one batch)"))
	}
	runID, l, lanes, _, err := x.targetLanes(ctx, e)
	if errors.Is(err, errNoRun) {
		return StepResult{Done: true}, nil
	}
	if err != nil {
		return StepResult{}, err
	}
	res := StepResult{RunID: runID}
	switch {
	case l != nil:
		st, err := s.lane(ctx, runID, *l)
		res.Steps = append(res.Steps, st)
		return x.finish(ctx, res, []estate.Lane{*l}, err)
	case lanes != nil:
		res.GroupLanes = len(lanes)
		res.Steps, err = s.lanes(ctx, runID, lanes)
		return x.finish(ctx, res, lanes, err)
	}
	var atWork []estate.Lane
	var narrowed bool
	if res.Fanout, atWork, narrowed, err = x.coordinate(ctx, s, runID); res.Fanout != nil || narrowed {
		// Fanned out, or few lanes at work: those are stepped here (a
		// thousand-lane run whose work is done steps none every minute).
		var berr, lerr error
		if s.beside != nil {
			res.Steps, berr = s.beside(ctx, runID)
		}
		if res.Fanout == nil && len(atWork) > 0 {
			var steps []migration.StepResult
			steps, lerr = s.lanes(ctx, runID, atWork)
			res.Steps = append(res.Steps, steps...)
		}
		return x.finish(ctx, res, nil, errors.Join(err, berr, lerr))
	}
	if err != nil {
		return x.finish(ctx, res, nil, err)
	}
	res.Steps, err = s.run(ctx, runID)
	return x.finish(ctx, res, nil, err)
}

// continueLanes starts the next batch of every lane of lanes (nil: of
// the run) that has begun (an earlier batch finished) and whose next
// batch is still planned: the safety net for a chained migrate invocation
// that was lost. Lanes that have not begun wait for migrate (its timer at
// the window start, or discover's kick). The window still applies. The
// run's plan is read once for every lane (a run snapshot). Under a lane
// budget (migration.WithLaneBudget) it continues no further lane once the
// budget's start is past, and a lane cut at its end is left: the next
// poll continues them.
func (x *Executor) continueLanes(ctx context.Context, runID string, lanes []estate.Lane) ([]migration.StepResult, error) {
	ctx, err := x.Engine.WithRunSnapshot(ctx, runID)
	if err != nil {
		return nil, err
	}
	if lanes == nil {
		if lanes, err = x.Engine.Lanes(ctx, runID); err != nil {
			return nil, err
		}
	}
	begun, err := x.Engine.BegunLanes(ctx, runID)
	if err != nil {
		return nil, err
	}
	var out []migration.StepResult
	for _, l := range lanes {
		if !begun[l] {
			continue // no batch state: not begun (laneBegun), without a read per lane
		}
		if migration.LaneBudgetSpent(ctx) {
			break // the next poll continues the lanes left
		}
		n, err := x.Engine.Next(ctx, runID, l)
		if err != nil {
			return out, err
		}
		if n.Done || (n.State != nil && n.State.Phase != migration.PhasePlanned) || !x.laneBegun(ctx, runID, l, n.Batch.Seq) {
			continue
		}
		s, err := migration.WithinLaneBudget(ctx, l, func(ctx context.Context) (migration.StepResult, error) {
			return x.Engine.MigrateLane(ctx, runID, l)
		})
		if err != nil {
			return out, err
		}
		out = append(out, s)
	}
	return out, nil
}

// laneBegun reports whether a batch of lane l before seq has a state.
func (x *Executor) laneBegun(ctx context.Context, runID string, l estate.Lane, seq int) bool {
	keys, err := x.Engine.Store.List(ctx, statekeys.LaneBatchPrefix(runID, l))
	if err != nil {
		return false
	}
	for _, k := range keys {
		var n int
		if _, err := fmt.Sscanf(k[strings.LastIndex(k, "/")+1:], "b%d", &n); err == nil && n < seq {
			return true
		}
	}
	return false
}

// Rotate disables rotation for a batch, restores a batch, or sweeps the
// run; a destination event is first raised as an alert.
func (x *Executor) Rotate(ctx context.Context, e RotateEvent) (StepResult, error) {
	if e.RequestContext != nil {
		x.alertFailure(ctx, e)
	}
	action, err := e.resolve()
	if err != nil {
		return StepResult{}, badEvent(err)
	}
	runID, _, _, err := x.target(ctx, e.StepEvent)
	if errors.Is(err, errNoRun) {
		return StepResult{Done: true}, nil
	}
	if err != nil {
		return StepResult{}, err
	}
	res := StepResult{RunID: runID}
	switch action {
	case "disable", "restore", "end-observation":
		step := x.Engine.Restore
		switch action {
		case "disable":
			step = x.Engine.Disable
		case "end-observation":
			step = x.Engine.EndObservation
		}
		s, err := step(ctx, runID, e.BatchID)
		res.Steps = append(res.Steps, s)
		return x.finish(ctx, res, []estate.Lane{laneOfBatch(e.BatchID)}, err)
	case "abort":
		s, err := x.Engine.AbortBatch(ctx, runID, e.BatchID, "rotate event", e.Reason)
		if err != nil {
			return StepResult{}, fmt.Errorf("rotate event: abort: %w", err)
		}
		res.Steps = append(res.Steps, s)
		return x.finish(ctx, res, []estate.Lane{laneOfBatch(e.BatchID)}, nil)
	case "sweep":
		// The whole campaign: every open run's ended batches, the ledger of
		// every run, and what earlier runs left behind.
		steps, sweep, err := x.Engine.RotateCampaign(ctx)
		res.Steps, res.Sweep = steps, &sweep
		return x.finish(ctx, res, nil, err)
	}
	return StepResult{}, fmt.Errorf("rotate event: action %q: not handled", action) // resolve admits no other
}

// resolve merges a timer payload into e (a payload beside direct options
// is refused) and checks what e asks, before anything is read: the action,
// and the batch the action needs, in the form the plan names batches
// (<account>/<region>/b<n>). It returns the action.
func (e *RotateEvent) resolve() (string, error) {
	if e.Lanes != nil {
		return "", errors.New("rotate event: lanes: only migrate and poll step a group of lanes; rotate acts on a batch or sweeps the campaign")
	}
	if e.Payload != "" {
		// A timer payload is rotate's own event as JSON.
		if e.Action != "" || e.Reason != "" || e.RunID != "" || e.Lane != "" || e.BatchID != "" {
			return "", fmt.Errorf("rotate event: %w", errMixedPayload)
		}
		var p struct {
			Action  string `json:"action"`
			RunID   string `json:"runId,omitempty"`
			Lane    string `json:"lane,omitempty"`
			BatchID string `json:"batchId,omitempty"`
			Reason  string `json:"reason,omitempty"`
		}
		if err := decodePayload(e.Payload, &p); err != nil {
			return "", fmt.Errorf("rotate event: payload: %w", err)
		}
		e.Action, e.RunID, e.Lane, e.BatchID, e.Reason, e.Payload = p.Action, p.RunID, p.Lane, p.BatchID, p.Reason, ""
	}
	action := e.Action
	if action == "" {
		action = "sweep"
		if e.BatchID != "" {
			action = "restore"
		}
	}
	switch action {
	case "disable", "restore", "end-observation", "abort":
		if e.BatchID == "" {
			return "", fmt.Errorf("rotate event: batchId: required for action %s", action)
		}
		if !batchIDLike(e.BatchID) {
			return "", fmt.Errorf("rotate event: batchId %q: want <account UID>/<region id>/b<number>, like 1234567890/cn-hangzhou/b0001", e.BatchID)
		}
	case "sweep":
	default:
		return "", fmt.Errorf("rotate event: action %q: want disable, restore, end-observation, abort or sweep", action)
	}
	return action, nil
}

// batchIDLike reports whether id has the form plan.BatchID gives batch ids.
func batchIDLike(id string) bool {
	parts := strings.Split(id, "/")
	return len(parts) == 3 && digits(parts[0]) && regionLike(parts[1]) && len(parts[2]) > 1 && parts[2][0] == 'b' && digits(parts[2][1:])
}

// finish raises the alerts the steps call for and reads whether the run is
// done. scope is the lanes the invocation stepped (nil: the whole run):
// their batch states are what it reads for the failures to raise and for
// Done. Only a whole-run invocation (poll's timer, every minute) reads the
// whole run and decides whether the night's work ended, so that the
// thousand invocations of a thousand-lane night (a chained step of one
// lane, a group of a hundred) do not each read a thousand states.
func (x *Executor) finish(ctx context.Context, res StepResult, scope []estate.Lane, err error) (StepResult, error) {
	if err != nil {
		return res, err
	}
	var alerts []alert.Alert
	now := time.Now()
	if x.Now != nil {
		now = x.Now()
	}
	// The window to judge overruns by is the last one that opened: the
	// engine's is the next one once it has closed.
	win := x.Engine.Config.Window
	if x.Config.Window != nil {
		loc := x.Config.Timezone
		if loc == nil {
			loc = time.UTC
		}
		win.Start, win.End = x.Config.Window.Last(now, loc)
	}
	for _, s := range res.Steps {
		lane := laneOfBatch(s.BatchID)
		if s.Stalled {
			alerts = append(alerts, alert.TaskStalled(lane.Account, lane.Region, s.TaskID, now.Add(-x.Config.StallAfter), x.Config.StallAfter))
		}
		if s.Handoff != nil {
			alerts = append(alerts, handoffAlert(res.RunID, s))
		}
		if !win.End.IsZero() && now.After(win.End) &&
			(s.Phase == migration.PhaseSubmitted || s.Phase == migration.PhaseScheduled || s.Phase == migration.PhaseRunning ||
				s.Phase == migration.PhaseAwaitingOperator) {
			alerts = append(alerts, alert.WindowOverrun(lane.Account, lane.Region, s.BatchID, win.End, now))
		}
		for _, r := range s.Superseded {
			alerts = append(alerts, alert.RotationSuperseded(lane.Account, lane.Region, r))
		}
		if b := s.Blocked; b != nil {
			alerts = append(alerts, alert.TaskAPIUnavailable(b.Account, b.Region, b.Code, b.Describe()))
		}
		if s.Step == "restore" && s.Outcome == migration.OutcomeDeferred && len(s.Pending) > 0 && !win.End.IsZero() && now.After(win.End) {
			alerts = append(alerts, alert.RotationRestoreFailed(lane.Account, lane.Region, "batch", s.BatchID,
				"rotation not yet restored after the window closed: "+strings.Join(s.Pending, ", ")))
		}
	}
	if res.Sweep != nil {
		for _, r := range res.Sweep.Superseded {
			alerts = append(alerts, alert.RotationSuperseded("", "", r))
		}
		for _, p := range res.Sweep.Pending {
			alerts = append(alerts, alert.RotationRestoreFailed("", "", "ledger", p, "the sweep could not restore rotation yet: "+p))
		}
		if len(res.Sweep.Restored) > 0 {
			alerts = append(alerts, alert.Alert{Key: "sweep-restored/" + res.RunID + "/" + strings.Join(res.Sweep.Restored, ","),
				Severity: alert.Warning, Title: fmt.Sprintf("Rotation sweep of %s restored %d policies left switched off", res.RunID, len(res.Sweep.Restored)),
				Text: strings.Join(res.Sweep.Restored, "\n"), Fields: map[string]string{"run_id": res.RunID}})
		}
	}
	rep, rerr := x.Engine.LanesReport(ctx, res.RunID, scope)
	if rerr == nil {
		for _, f := range rep.Failures {
			// A stopped task backend is one alert per lane (above), not
			// one per resource.
			if f.RetryBatch == "" && f.ReasonCode != migration.ReasonTaskAPIUnavailable && f.ReasonCode != migration.ReasonTaskAPIError {
				alerts = append(alerts, alert.ResourceFailed(f.Lane.Account, f.Lane.Region, string(f.Kind), f.ID, f.ReasonCode, f.Remediation))
			}
		}
		if x.Alerts == nil || scope != nil {
		} else if a, ok := x.nightEnded(ctx, res.RunID, now, win, rep); ok {
			alerts = append(alerts, a)
		}
		res.Done = rep.Done
	}
	if x.Alerts != nil {
		for _, a := range alerts {
			_ = x.Alerts.Alert(ctx, a)
		}
	}
	res.Alerts = len(alerts)
	return res, nil
}

// handoffAlert tells the operator that a batch is published and waits to
// be started in the console (observe backend). Info: nothing is wrong yet.
func handoffAlert(runID string, s migration.StepResult) alert.Alert {
	lane, h := laneOfBatch(s.BatchID), s.Handoff
	return alert.Alert{
		Key:      "batch-handoff/" + runID + "/" + s.BatchID,
		Severity: alert.Info,
		Title: fmt.Sprintf("Batch %s ready to start in the console: %d keys, %d secrets into %s",
			s.BatchID, h.Keys, h.Secrets, h.InstanceID),
		Text: fmt.Sprintf("Create one migration task in the KMS console of account %s, region %s, into instance %s with exactly "+
			"the resources listed in %s (also %s), before %s. Their automatic rotation is off until the batch ends.",
			lane.Account, lane.Region, h.InstanceID, h.MarkdownKey, h.JSONKey, h.Deadline.UTC().Format(time.RFC3339)),
		Fields: map[string]string{"account": lane.Account, "region": lane.Region, "batch_id": s.BatchID,
			"resource_type": "batch", "resource_id": s.BatchID, "run_id": runID},
	}
}

func laneOfBatch(batchID string) estate.Lane {
	parts := strings.SplitN(batchID, "/", 3)
	if len(parts) < 2 {
		return estate.Lane{}
	}
	return estate.Lane{Account: parts[0], Region: parts[1]}
}

// alertFailure raises a function error delivered as a destination event.
func (x *Executor) alertFailure(ctx context.Context, e RotateEvent) {
	if x.Alerts == nil {
		return
	}
	fn := e.RequestContext.FunctionArn
	if i := strings.LastIndex(fn, "/"); i >= 0 {
		fn = fn[i+1:]
	}
	var body struct {
		ErrorMessage string `json:"errorMessage"`
	}
	_ = json.Unmarshal([]byte(e.ResponsePayload), &body)
	msg := body.ErrorMessage
	if msg == "" {
		msg = e.RequestContext.Condition
	}
	_ = x.Alerts.Alert(ctx, alert.FunctionError(fn, e.RequestContext.RequestID,
		fmt.Errorf("%s after %d attempts: %s", e.RequestContext.Condition, e.RequestContext.ApproximateInvokeCount, msg)))
}
