package migration

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// Pipelining, for the window: the provider runs one task per instance at a
// time, and without pipelining the instance idles while the engine
// observes the ended task's resources, restores their rotation, verifies
// them, and switches the next batch's rotation off. With it (task backend,
// manual tasks), a lane's next batch is prepared (ledger, rotation off)
// while the current batch's task runs, and submitted the moment that task
// has ended; restore and verification of the ended batch follow.
//
// Rotation is never off more than one batch ahead: a batch may go ahead
// only of the lane's immediately preceding batch, only when every batch
// before that has finished or has its rotation back (only its
// verification is left: behind), and only when it shares no resource with
// any of them. A lane thus never holds rotation off for more than the
// batch whose task runs and the one prepared for the next; verifying the
// batches behind must not hold the next task up (on a lane alone on its
// instance, verifying a batch of 100 took longer than the task of 50
// keys that followed it).
//
// Where the provider refuses the preparation while a task runs (the
// weakest reading of "control plane frozen during migration"), the batch
// records AheadRefused and is prepared once the previous batch has
// finished, as without pipelining. A batch prepared ahead without any
// rotation change (nothing of it rotated) proves nothing about the
// provider: it is submitted only once the previous batch's rotation is
// restored, so that the restore never meets a running task.

// Values of BatchState.Ahead.
const (
	// AheadProven: prepared while the previous batch's task ran, and KMS
	// accepted a rotation change meanwhile, or accepted one while a task
	// of the same instance ran for an earlier batch of the lane (proven
	// then): whether rotation changes are refused during a task is the
	// instance's behaviour, not a batch's.
	AheadProven = "proven"
	// AheadUnproven: prepared while the previous batch's task ran, with
	// no rotation change to make (or the task had ended before one was
	// seen accepted), and no earlier batch of the lane proven.
	AheadUnproven = "unproven"
)

// laneStage is what a batch wants to do with its lane.
type laneStage int

const (
	// stagePrepare: switch the batch's rotation off (Disable).
	stagePrepare laneStage = iota
	// stageSubmit: create the batch's task (Submit).
	stageSubmit
)

// laneFree reports whether batch s may take the next step (stage) in its
// lane: every lower-seq batch of the lane (in the plan) has finished, or
// every one but the immediately preceding one, which s may go ahead of
// (mayGoAhead; prev is then that batch), has finished or has its
// rotation back (behind). why names the batch it waits for. Across the
// campaign, no batch of another active run may hold the lane.
func (e *Engine) laneFree(ctx context.Context, s *BatchState, stage laneStage) (prev *BatchState, ok bool, why string, err error) {
	p, err := e.readPlan(ctx, s.RunID)
	if err != nil {
		return nil, false, "", err
	}
	var earlier []plan.Batch
	for _, lp := range p.Lanes {
		if lp.Lane != s.Lane {
			continue
		}
		for _, b := range lp.Batches {
			if b.Seq < s.Seq {
				earlier = append(earlier, b)
			}
		}
	}
	slices.SortFunc(earlier, func(a, b plan.Batch) int { return cmp.Compare(a.Seq, b.Seq) })
	// Read at once: a lane's tenth batch waited for nine reads one after
	// another while its instance idled.
	keys := make([]string, len(earlier))
	for i, b := range earlier {
		keys[i] = statekeys.Batch(s.RunID, b.ID)
	}
	states, errs := runstate.GetAllJSON[BatchState](ctx, e.Store, keys)
	var unfinished []BatchState
	for i, b := range earlier {
		st, err := states[i], errs[i]
		if errors.Is(err, runstate.ErrNotFound) {
			return nil, false, "waits for " + b.ID + " (not started)", nil
		}
		if err != nil {
			return nil, false, "", err
		}
		if !st.Finished() {
			unfinished = append(unfinished, st)
		}
	}
	if len(unfinished) > 0 {
		u := unfinished[len(unfinished)-1]
		if u.ID != earlier[len(earlier)-1].ID || !e.mayGoAhead(s, &u, stage) {
			w := unfinished[0]
			return nil, false, fmt.Sprintf("waits for %s (%s)", w.ID, w.Phase), nil
		}
		for _, b := range unfinished[:len(unfinished)-1] {
			if !behind(s, &b) {
				return nil, false, fmt.Sprintf("waits for %s (%s)", b.ID, b.Phase), nil
			}
		}
		prev = &u
	}
	free, why, err := e.laneFreeElsewhere(ctx, s)
	if err != nil || !free {
		return nil, false, why, err
	}
	return prev, true, "", nil
}

// mayGoAhead reports whether batch s may take stage while prev, the
// lane's immediately preceding batch, has not finished. Prepare: prev's
// manual task has been seen Running and not yet seen to end, and the
// provider has not refused to prepare s meanwhile. Submit: prev's task has
// completed (not failed, not aborted; recorded by markTaskEnded before its
// outcomes are observed, or prev is completed) and s was prepared ahead of
// it; AheadUnproven waits for prev's rotation to be restored.
func (e *Engine) mayGoAhead(s, prev *BatchState, stage laneStage) bool {
	if e.cfg().Backend != BackendTask || s.AheadRefused || prev.Intent == nil || prev.Intent.Automatic ||
		prev.TaskID == "" || overlaps(s, prev) {
		return false
	}
	switch stage {
	case stagePrepare:
		// Running: the provider has started the task and the lane's task
		// API answers (a lane whose DescribeTask is refused is blocked
		// before anything is prepared ahead).
		return prev.Phase == PhaseRunning
	case stageSubmit:
		switch prev.Phase {
		case PhaseCompleted:
			return s.Ahead == AheadProven
		case PhaseRotationRestored:
			return s.Ahead != ""
		case PhaseSubmitted, PhaseRunning:
			// Its task has completed (markTaskEnded); its outcomes are
			// being observed.
			return s.Ahead == AheadProven && prev.TaskStatus == TaskCompleted && !prev.TaskEnded.IsZero()
		}
	}
	return false
}

// behind reports whether batch b, earlier in the lane than the batch s
// goes ahead of, is out of s's way: b's rotation is back as recorded
// (rotation-restored, or failed with its rotation restored), only its
// verification is left, and b shares no resource with s (a retry batch
// waits for the batch it retries). The lane then holds rotation off for
// no more batches than when b has finished: prev's and s's.
func behind(s, b *BatchState) bool {
	restored := b.Phase == PhaseRotationRestored || (b.Phase == PhaseFailed && b.RotationRestored)
	return restored && !overlaps(s, b)
}

// overlaps reports whether batches a and b share a resource (b's dropped
// resources included: their ledger entries may be b's).
func overlaps(a, b *BatchState) bool {
	in := map[resourceRef]bool{}
	for _, r := range b.resources() {
		in[r] = true
	}
	for _, o := range b.Resources {
		in[resourceRef{o.Kind, o.ID}] = true
	}
	for _, r := range a.resources() {
		if in[r] {
			return true
		}
	}
	return false
}

// successor returns the lane's plan batch right after seq, if any.
func (e *Engine) successor(ctx context.Context, runID string, l estate.Lane, seq int) (plan.Batch, bool, error) {
	p, err := e.readPlan(ctx, runID)
	if err != nil {
		return plan.Batch{}, false, err
	}
	var out plan.Batch
	found := false
	for _, lp := range p.Lanes {
		if lp.Lane != l {
			continue
		}
		for _, b := range lp.Batches {
			if b.Seq > seq && (!found || b.Seq < out.Seq) {
				out, found = b, true
			}
		}
	}
	return out, found, nil
}

// successorState returns the state of the batch after prev in its lane;
// nil when there is none or it has not started.
func (e *Engine) successorState(ctx context.Context, prev *BatchState) (*BatchState, error) {
	b, ok, err := e.successor(ctx, prev.RunID, prev.Lane, prev.Seq)
	if err != nil || !ok {
		return nil, err
	}
	st, err := e.readBatch(ctx, prev.RunID, b.ID)
	if errors.Is(err, ErrNoState) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// pipelining reports whether the engine prepares batches ahead.
func (e *Engine) pipelining() bool { return e.cfg().Backend == BackendTask }

// prepareAhead prepares the batch after prev while prev's task runs (poll
// has just seen it Running); when the lane has none that may go ahead, the
// next batch of another lane of prev's instance (prepareForInstance). What
// it does is audited; an error other than the context's is left to the
// next migrate (the batch is where Disable left it).
func (e *Engine) prepareAhead(ctx context.Context, prev BatchState) error {
	if !e.pipelining() || !prev.Phase.InFlight() {
		return nil
	}
	b, ok, err := e.successor(ctx, prev.RunID, prev.Lane, prev.Seq)
	if err != nil {
		return err
	}
	if ok {
		res, err := e.Disable(ctx, prev.RunID, b.ID)
		if isContext(err) {
			return err
		}
		if res.Phase != PhasePlanned || isTurnWait(res.Reason) {
			return nil
		}
	}
	// The lane has no batch to prepare ahead: another lane's next batch
	// takes the instance's turn.
	return e.prepareForInstance(ctx, prev)
}

// submitAhead submits the batch prepared after prev, whose task has just
// ended (poll) or whose rotation was just restored (restore), before prev
// is restored or verified; past prev, batches with a task or finished are
// passed over (the batch prepared may wait for prev, behind it, to be
// restored). An error other than the context's is left to the next
// migrate or poll.
func (e *Engine) submitAhead(ctx context.Context, prev BatchState) error {
	if !e.pipelining() {
		return nil
	}
	next, err := e.successorState(ctx, &prev)
	for err == nil && next != nil && passed(next) {
		next, err = e.successorState(ctx, next)
	}
	if err != nil || next == nil || next.Phase != PhaseRotationOff {
		return err
	}
	if _, err := e.Submit(ctx, next.RunID, next.ID); isContext(err) {
		return err
	}
	return nil
}

// proveAhead tells whether KMS accepted switched rotation changes of a
// batch prepared ahead of prev while prev's task was still Pending or
// Running: prev's task is manual and was created before the changes, so
// reading it Pending or Running after them proves the provider accepts
// rotation changes during a task (AheadProven). Anything else, an error
// included, is AheadUnproven.
func (e *Engine) proveAhead(ctx context.Context, prev *BatchState, switched int) string {
	if switched == 0 {
		return AheadUnproven
	}
	start := time.Now()
	t, err := e.Tasks.DescribeTask(ctx, prev.Lane, prev.TaskID)
	e.logCall(ctx, prev, "DescribeTask", start, err)
	if err == nil && (t.Status == TaskPending || t.Status == TaskRunning) {
		return AheadProven
	}
	return AheadUnproven
}

// provenBefore returns an earlier batch of s's lane, into s's instance,
// that was prepared ahead and proven (AheadProven); "" when there is none,
// when KMS refused to prepare any batch of the lane ahead (AheadRefused:
// the instance refuses rotation changes during a task after all), or the
// lane's states cannot be read.
func (e *Engine) provenBefore(ctx context.Context, s *BatchState) string {
	states, err := e.laneStates(ctx, s.RunID, s.Lane)
	if err != nil {
		return ""
	}
	by := ""
	for _, st := range states {
		switch {
		case st.AheadRefused:
			return ""
		case by == "" && st.Seq < s.Seq && st.InstanceID == s.InstanceID && st.Ahead == AheadProven:
			by = st.ID
		}
	}
	return by
}

// markAheadRefused records on planned batch s that KMS refused to prepare
// it while the previous batch's task ran.
func (e *Engine) markAheadRefused(ctx context.Context, s *BatchState, cause error) error {
	st, changed, err := e.mutateBatch(ctx, s.RunID, s.ID, func(st *BatchState) (bool, error) {
		if st.Phase != PhasePlanned || st.AheadRefused {
			return false, nil
		}
		st.AheadRefused, st.Deferred = true, "prepared once the previous batch has finished: "+cause.Error()
		return true, nil
	})
	if err == nil && changed {
		e.log(ctx, &st, resourceRef{}, "PrepareAhead", "refused", "ControlPlaneFrozen",
			"KMS refused a rotation change while the previous batch's task runs; the batch is prepared once that batch has finished")
	}
	return err
}

// mergeStep folds what a step on the lane's batch ahead did into the
// result of the step on the lane's current batch: the result of the batch
// that moved, and every resource the caller must alert on.
func mergeStep(cur, ahead StepResult) StepResult {
	if ahead.Outcome == "" {
		return cur
	}
	if (cur.Outcome == "" || cur.Outcome == OutcomeUnchanged || cur.Outcome == OutcomeWaiting) && !cur.Stalled && cur.Handoff == nil {
		ahead.Superseded = append(ahead.Superseded, cur.Superseded...)
		ahead.Pending = append(ahead.Pending, cur.Pending...)
		if ahead.Blocked == nil {
			ahead.Blocked = cur.Blocked
		}
		return ahead
	}
	cur.Superseded = append(cur.Superseded, ahead.Superseded...)
	cur.Pending = append(cur.Pending, ahead.Pending...)
	if cur.Blocked == nil {
		cur.Blocked = ahead.Blocked
	}
	return cur
}
