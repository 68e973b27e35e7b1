package migration

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// Engine runs the batch state machines of runs kept in Store. Its fields
// are its dependencies; it holds no state between calls, so any number of
// engines (function instances) may work on one run at once.
type Engine struct {
	Store runstate.Store
	KMS   KMS
	Tasks Tasks
	// Invoker chains the functions (poll → rotate → migrate); nil: no
	// chaining, the timers do the work.
	Invoker Invoker
	// Audit receives one record per transition, provider call, submission,
	// per-resource result and rotation change; nil: audit.Discard.
	Audit audit.Logger
	// Clock tells the time, in UTC; nil: the wall clock.
	Clock  Clock
	Config Config
	// Approvals, when set, must admit a run before any of its batches has
	// rotation switched off or is submitted (KMSMIG_APPROVAL=required);
	// nil admits every run.
	Approvals Approvals
}

// Config tunes the engine. The zero value means the defaults.
type Config struct {
	// MaxAttempts bounds how often a resource is tried (default 3).
	MaxAttempts int
	// Window is when tasks may run; zero: always.
	Window Window
	// Automatic submits automatic tasks with MigrationTime at the window
	// start (or now, when the window is open) instead of manual ones.
	Automatic bool
	// InitialPerResource is the per-resource task time assumed before any
	// task of the run has completed (default 10s).
	InitialPerResource time.Duration
	// EWMAWeight is the weight of the newest observation in the
	// per-resource estimate (default 0.3).
	EWMAWeight float64
	// SubmitLease is how long a submission in progress is left to the
	// invocation that started it before another one recovers it (default
	// 2m). Negative: recover at once (sequential drivers only).
	SubmitLease time.Duration
	// RefusedRetry is how long poll leaves a submission that its busy
	// instance refused before submitting it again (default 5m; negative:
	// at once). The end of the task that holds the instance hands it to a
	// waiting batch at once (submitWaiting), so the wait only bounds how
	// long an instance may idle when that hand-over is lost; without it,
	// every lane sharing a busy instance was refused again every minute (a
	// task listing, a task creation and two state writes each).
	RefusedRetry time.Duration
	// AdoptSkew is how much earlier than the recorded intent a task may
	// claim to have been created and still be adopted (clock skew and the
	// provider's one-second timestamps; default 1m).
	AdoptSkew time.Duration
	// StallAfter flags a task whose status has not changed for this long
	// (default 30m).
	StallAfter time.Duration
	// Functions names the functions to chain; empty names are not invoked.
	Functions Functions
	// PollWait is how long a poll step may wait for a running or pending
	// task to complete, re-reading it every PollWait/20 (at least 50ms),
	// so that the next batch starts when the task ends rather than at the
	// next poll timer. Zero: do not wait. Bounded by the context deadline.
	PollWait time.Duration
	// Backend is how batches move: BackendTask (default) creates the
	// provider's migration task; BackendObserve publishes the batch for an
	// operator and detects the moves by observation (observe.go).
	Backend string
	// ObserveTimeout is how long the observe backend watches a published
	// batch before reporting what has not moved (default 24h).
	ObserveTimeout time.Duration
	// TaskRetryDelay is the wait before the one retry of a task call that
	// failed with a code the engine does not know (default
	// DefaultTaskRetryDelay; negative: no wait).
	TaskRetryDelay time.Duration
	// ParallelLanes is how many lanes one step works on at once (default
	// DefaultParallelLanes); the next lane starts as one finishes, so an
	// invocation's goroutines and memory follow the work in flight, not
	// the number of lanes.
	ParallelLanes int
}

// DefaultParallelLanes is Config.ParallelLanes' default: discovery's
// (shared/discover.DefaultParallelLanes), at the gateway's quotas per
// account and region a lane's calls are spread over.
const DefaultParallelLanes = 64

// Functions are the function names the engine chains to.
type Functions struct {
	Migrate string `json:"migrate,omitempty"`
	Rotate  string `json:"rotate,omitempty"`
}

// DefaultMaxAttempts is how often a resource is tried by default.
const DefaultMaxAttempts = 3

func (c Config) withDefaults() Config {
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.InitialPerResource <= 0 {
		c.InitialPerResource = 10 * time.Second
	}
	if c.EWMAWeight <= 0 || c.EWMAWeight > 1 {
		c.EWMAWeight = 0.3
	}
	if c.ParallelLanes <= 0 {
		c.ParallelLanes = DefaultParallelLanes
	}
	if c.SubmitLease == 0 {
		c.SubmitLease = 2 * time.Minute
	}
	if c.RefusedRetry == 0 {
		c.RefusedRetry = 5 * time.Minute
	}
	if c.AdoptSkew <= 0 {
		c.AdoptSkew = time.Minute
	}
	if c.StallAfter <= 0 {
		c.StallAfter = 30 * time.Minute
	}
	if c.Backend == "" {
		c.Backend = BackendTask
	}
	if c.ObserveTimeout <= 0 {
		c.ObserveTimeout = DefaultObserveTimeout
	}
	if c.TaskRetryDelay == 0 {
		c.TaskRetryDelay = DefaultTaskRetryDelay
	}
	return c
}

// Outcomes of a step, for handler results.
const (
	// OutcomeUnchanged: nothing to do; the batch is past this step.
	OutcomeUnchanged = "unchanged"
	// OutcomeUpdated: the step was done and recorded.
	OutcomeUpdated = "updated"
	// OutcomeWaiting: the batch is not ready for this step (an earlier
	// batch of the lane holds it, or the task has not finished).
	OutcomeWaiting = "waiting"
	// OutcomeDeferred: the world refused for now (instance busy, rotation
	// change refused during a running task); try again later.
	OutcomeDeferred = "deferred"
	// OutcomeOutsideWindow: the window is closed or too short for the
	// batch's estimated duration.
	OutcomeOutsideWindow = "outside-window"
	// OutcomeBusy: another invocation is submitting the batch.
	OutcomeBusy = "busy"
)

// StepResult says what one step did to one batch.
type StepResult struct {
	BatchID string `json:"batchId"`
	Step    string `json:"step"`
	Outcome string `json:"outcome"`
	Phase   Phase  `json:"phase"`
	TaskID  string `json:"taskId,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// Stalled is set when the batch's task has not progressed for
	// Config.StallAfter: the caller alerts.
	Stalled bool `json:"stalled,omitempty"`
	// Pending lists resources whose rotation could not be restored yet.
	Pending []string `json:"pending,omitempty"`
	// Superseded lists resources whose owner set a rotation policy of
	// their own while kmsmig held it off: left as they set it; the caller
	// alerts.
	Superseded []string `json:"superseded,omitempty"`
	// Handoff is set when this step published the batch for an operator
	// (observe backend): the caller raises the INFO alert.
	Handoff *HandoffNotice `json:"handoff,omitempty"`
	// Blocked is set when this step recorded or met a task API block (the
	// task backend cannot run in the lane or account): the caller alerts,
	// naming the remedy.
	Blocked *TaskAPIBlock `json:"blocked,omitempty"`
}

// Errors of the engine; test with errors.Is.
var (
	// ErrUnknownBatch: the plan of the run has no such batch.
	ErrUnknownBatch = errors.New("migration: unknown batch")
	// ErrNoState: the batch has not started (no state recorded).
	ErrNoState = errors.New("migration: batch not started")
	// ErrDuplicateTask: two tasks were created for one batch. It cannot
	// happen with a positive SubmitLease; it is reported, never hidden.
	ErrDuplicateTask = errors.New("migration: second task for one batch")
)

func (e *Engine) cfg() Config { return e.Config.withDefaults() }

func (e *Engine) now() time.Time {
	if e.Clock == nil {
		return time.Now().UTC()
	}
	return e.Clock.Now().UTC()
}

func (e *Engine) audit() audit.Logger {
	if e.Audit == nil {
		return audit.Discard
	}
	return e.Audit
}

// log writes one audit record about batch b (and resource r, if any).
func (e *Engine) log(ctx context.Context, b *BatchState, r resourceRef, action, outcome, reason, msg string) {
	rec := audit.Record{
		Time: e.now(), RunID: b.RunID, Account: b.Lane.Account, Region: b.Lane.Region,
		BatchID: b.ID, TaskID: b.TaskID, Action: action, Outcome: outcome, ReasonCode: reason, Message: msg,
		ResourceType: "batch", ResourceID: b.ID, RequestID: audit.ScopeFrom(ctx).RequestID,
	}
	if r.ID != "" {
		rec.ResourceType, rec.ResourceID = string(r.Kind), r.ID
	}
	switch outcome {
	case "failed", "refused":
		rec.Level = audit.LevelWarn
	case "alert":
		rec.Level = audit.LevelAlert
	default:
		rec.Level = audit.LevelInfo
	}
	e.audit().Log(ctx, rec)
}

// logCall summarises one provider call.
func (e *Engine) logCall(ctx context.Context, b *BatchState, action string, start time.Time, err error) {
	outcome, code := "ok", ""
	if err != nil {
		outcome, code = "failed", cloud.Code(err)
		if code == "" {
			code = errorClass(err)
		}
	}
	rec := audit.Record{
		Time: e.now(), Level: audit.LevelInfo, RunID: b.RunID, Account: b.Lane.Account, Region: b.Lane.Region,
		BatchID: b.ID, TaskID: b.TaskID, ResourceType: "task", ResourceID: b.TaskID, Action: action, Outcome: outcome,
		ReasonCode: code, DurationMS: time.Since(start).Milliseconds(), RequestID: audit.ScopeFrom(ctx).RequestID,
	}
	if err != nil {
		rec.Level, rec.Message = audit.LevelWarn, err.Error()
	}
	e.audit().Log(ctx, rec)
}

func errorClass(err error) string {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "Cancelled"
	case errors.Is(err, cloud.ErrThrottled):
		return "Throttling"
	case errors.Is(err, cloud.ErrTransient):
		return "Transient"
	case errors.Is(err, cloud.ErrNotFound):
		return "NotFound"
	case errors.Is(err, cloud.ErrConflict):
		return "Conflict"
	}
	return "Error"
}

func requestID(ctx context.Context) string { return audit.ScopeFrom(ctx).RequestID }

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// readBatch returns the stored state of a batch. Not started: ErrNoState.
func (e *Engine) readBatch(ctx context.Context, runID, batchID string) (BatchState, error) {
	s, _, err := runstate.GetJSON[BatchState](ctx, e.Store, statekeys.Batch(runID, batchID))
	if errors.Is(err, runstate.ErrNotFound) {
		return BatchState{}, fmt.Errorf("%w: %s", ErrNoState, batchID)
	}
	return s, err
}

// mutateBatch applies f to the stored state of a batch with CAS and
// returns the state as stored. f may run several times; it returns
// changed=false to leave the record as it is. A missing state:
// ErrNoState.
func (e *Engine) mutateBatch(ctx context.Context, runID, batchID string, f func(s *BatchState) (bool, error)) (BatchState, bool, error) {
	var out BatchState
	var changed bool
	_, err := runstate.MutateJSON(ctx, e.Store, statekeys.Batch(runID, batchID), func(s *BatchState, exists bool) error {
		if !exists {
			return ErrNoState
		}
		c, err := f(s)
		if err != nil {
			return err
		}
		changed = c
		out = *s
		return nil
	})
	if err != nil {
		return BatchState{}, false, err
	}
	return out, changed, nil
}

// transition moves a batch from one of the phases from to phase to (CAS),
// applying f to the record as well. Every from → to must be in the
// transition table: otherwise it returns an error matching
// ErrIllegalTransition and writes nothing. It returns the batch as stored
// and won=true when this call made the transition; won=false (nothing
// written) when the batch was in none of from, e.g. because another
// invocation moved it first.
func (e *Engine) transition(ctx context.Context, runID, batchID string, from []Phase, to Phase, reason string, f func(s *BatchState)) (BatchState, bool, error) {
	for _, p := range from {
		if err := checkTransition(p, to); err != nil {
			return BatchState{}, false, fmt.Errorf("migration: batch %s: %w", batchID, err)
		}
	}
	now := e.now()
	var (
		prev Phase
		base BatchState // the batch as the last write attempt found it
		sent bool       // that attempt wrote the transition
	)
	s, won, err := e.mutateBatch(ctx, runID, batchID, func(s *BatchState) (bool, error) {
		prev, base, sent = s.Phase, *s, false
		if !slices.Contains(from, s.Phase) {
			return false, nil
		}
		if f != nil {
			f(s)
		}
		sent = true
		return true, s.to(to, now, requestID(ctx), reason)
	})
	if err != nil {
		if sent {
			e.owedTransition(ctx, base, to, now, reason, func(*BatchState) string { return fmt.Sprintf("%s → %s", prev, to) })
		}
		return s, false, err
	}
	if won {
		e.log(ctx, &s, resourceRef{}, "Transition", string(to), reason, fmt.Sprintf("%s → %s", prev, to))
	}
	return s, won, nil
}

// readPlan reads the plan of a run.
func (e *Engine) readPlan(ctx context.Context, runID string) (plan.Plan, error) {
	if p, ok := plan.FromContext(ctx, runID); ok {
		return p, nil
	}
	p, _, err := runstate.GetJSON[plan.Plan](ctx, e.Store, statekeys.Plan(runID))
	if err != nil {
		return plan.Plan{}, fmt.Errorf("migration: read plan of %s: %w", runID, err)
	}
	return p, nil
}

// inventoryKey keys, in a context, the inventory snapshot of a run.
type inventoryKey struct{ runID string }

// inventorySnapshot is the run's inventory, read when a lane of the step
// first needs it and shared read-only by the others.
type inventorySnapshot struct {
	once sync.Once
	inv  estate.Inventory
	err  error
}

// WithRunSnapshot returns ctx carrying one reading of the run's plan
// (plan.NewContext) and, read when first needed, of its inventory, which
// every step under it (and the approval gate) uses instead of reading
// them again: a step over every lane reads each once, not once per lane.
// At 1,000 lanes and 15,000 resources the lanes of one invocation
// stepping at once each held copies: 800 MB in a poll, gigabytes in a
// migrate (the inventory, and the plan the approval gate read). The
// documents are read-only to the engine; a re-plan written meanwhile is
// seen by the next invocation, as if this one had begun a moment earlier.
// Unknown run: the store's not-found error (wrapped); context errors
// unchanged.
func (e *Engine) WithRunSnapshot(ctx context.Context, runID string) (context.Context, error) {
	if _, ok := ctx.Value(inventoryKey{runID}).(*inventorySnapshot); ok {
		return ctx, nil
	}
	if _, ok := plan.FromContext(ctx, runID); !ok {
		p, err := e.readPlan(ctx, runID)
		if err != nil {
			return ctx, err
		}
		p.RunID = runID // the key readers look it up by
		ctx = plan.NewContext(ctx, p)
	}
	return context.WithValue(ctx, inventoryKey{runID}, &inventorySnapshot{}), nil
}

// readInventory returns the run's stored inventory: the snapshot's when
// ctx carries one. Not found: runstate.ErrNotFound (wrapped).
func (e *Engine) readInventory(ctx context.Context, runID string) (estate.Inventory, error) {
	snap, ok := ctx.Value(inventoryKey{runID}).(*inventorySnapshot)
	if !ok {
		inv, _, err := runstate.GetJSON[estate.Inventory](ctx, e.Store, statekeys.Inventory(runID))
		return inv, err
	}
	snap.once.Do(func() { snap.inv, snap.err = decodedInventory(ctx, e.Store, statekeys.Inventory(runID)) })
	return snap.inv, snap.err
}

// lastInventory is the inventory this process decoded last, by key and
// store version: a function instance serves invocation after invocation
// of the same run, and at a thousand lanes each one (a step of one lane)
// decoded megabytes of JSON to verify its few resources. A version names
// one content for good (a content hash, or a sequence number and a unique
// writer id), so an equal version is an equal inventory; it is only read.
var lastInventory struct {
	sync.Mutex
	key     string
	version runstate.Version
	inv     estate.Inventory
}

// decodedInventory reads the inventory at key, decoding it only when its
// version is not the one decoded last. Not found: runstate.ErrNotFound.
func decodedInventory(ctx context.Context, s runstate.Store, key string) (estate.Inventory, error) {
	obj, err := s.Get(ctx, key)
	if err != nil {
		return estate.Inventory{}, err
	}
	lastInventory.Lock()
	defer lastInventory.Unlock()
	if obj.Version != "" && lastInventory.key == key && lastInventory.version == obj.Version {
		return lastInventory.inv, nil
	}
	var inv estate.Inventory
	if err := json.Unmarshal(obj.Data, &inv); err != nil {
		return estate.Inventory{}, fmt.Errorf("runstate: decode %s: %w", key, err)
	}
	lastInventory.key, lastInventory.version, lastInventory.inv = key, obj.Version, inv
	return inv, nil
}

// observed is what KMS says about one resource now.
type observed struct {
	Rotation   estate.Rotation
	InstanceID string
	Key        estate.Key
	Secret     estate.Secret
}

// observe reads one resource's metadata in one call (DescribeKey or
// DescribeSecret): its rotation, instance id and, for a key, its state;
// what every step but verification decides on. Not found:
// cloud.ErrNotFound (wrapped).
func (e *Engine) observe(ctx context.Context, l estate.Lane, r resourceRef) (observed, error) {
	return readResource(ctx, l, r, e.KMS.KeyMetadata, e.KMS.SecretMetadata)
}

// observeWhole reads one resource whole (with tags and versions: three
// calls for a key, two for a secret), as verification compares it with
// the inventory. Not found: cloud.ErrNotFound (wrapped).
func (e *Engine) observeWhole(ctx context.Context, l estate.Lane, r resourceRef) (observed, error) {
	return readResource(ctx, l, r, e.KMS.Key, e.KMS.Secret)
}

// readResource reads r with key or secret.
func readResource(ctx context.Context, l estate.Lane, r resourceRef,
	key func(context.Context, estate.Lane, string) (estate.Key, error),
	secret func(context.Context, estate.Lane, estate.Secret) (estate.Secret, error)) (observed, error) {
	if r.Kind == KindKey {
		k, err := key(ctx, l, r.ID)
		if err != nil {
			return observed{}, err
		}
		return observed{Rotation: k.Rotation, InstanceID: k.InstanceID, Key: k}, nil
	}
	s, err := secret(ctx, l, estate.Secret{Name: r.ID})
	if err != nil {
		return observed{}, err
	}
	return observed{Rotation: s.Rotation, InstanceID: s.InstanceID, Secret: s}, nil
}

// observeConcurrency is how many resources of one kind are read at a time
// (the KMS adapter's limiter keeps the account's query quotas).
const observeConcurrency = 8

// observeAll observes every resource of rs in lane l (eachResource); the
// results and errors are in rs's order. Cancellation: each read not made
// returns ctx.Err().
func (e *Engine) observeAll(ctx context.Context, l estate.Lane, rs []resourceRef) ([]observed, []error) {
	obs, errs := make([]observed, len(rs)), make([]error, len(rs))
	read := make([]bool, len(rs))
	err := eachResource(ctx, rs, func(i int) error {
		obs[i], errs[i] = e.observe(ctx, l, rs[i])
		read[i] = true
		return nil
	})
	for i := range rs {
		if !read[i] {
			errs[i] = cmp.Or(err, context.Canceled)
		}
	}
	return obs, errs
}

// eachResource runs f(i) for every resource rs[i] and returns the error of
// the lowest i that failed (a context error unchanged). Keys and secrets
// go side by side, each kind observeConcurrency at a time and in order:
// KMS meters key queries (50 QPS) and secret queries (40 QPS) under
// separate quotas, and reading a batch's 50 keys before its 50 secrets
// left one quota idle while the instance waited for the batch's
// submission. Once ctx ends or an f has failed, no further f starts (but
// for those already under way).
func eachResource(ctx context.Context, rs []resourceRef, f func(i int) error) error {
	errs := make([]error, len(rs))
	var failed atomic.Bool
	var kinds sync.WaitGroup
	for _, kind := range []ResourceKind{KindKey, KindSecret} {
		kinds.Go(func() {
			sem := make(chan struct{}, observeConcurrency)
			var wg sync.WaitGroup
			for i, r := range rs {
				if r.Kind != kind {
					continue
				}
				sem <- struct{}{}
				if err := ctx.Err(); err != nil || failed.Load() {
					errs[i] = err
					<-sem
					break
				}
				wg.Go(func() {
					defer func() { <-sem }()
					if errs[i] = f(i); errs[i] != nil {
						failed.Store(true)
					}
				})
			}
			wg.Wait()
		})
	}
	kinds.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// setRotation sets the policy of one resource.
func (e *Engine) setRotation(ctx context.Context, l estate.Lane, r resourceRef, rot estate.Rotation) error {
	if r.Kind == KindKey {
		return e.KMS.SetKeyRotation(ctx, l, r.ID, rot)
	}
	return e.KMS.SetSecretRotation(ctx, l, r.ID, rot)
}

// isContext reports a cancelled or expired context.
func isContext(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
