package migration

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// laneStates reads every batch state of a lane, by seq.
func (e *Engine) laneStates(ctx context.Context, runID string, l estate.Lane) ([]BatchState, error) {
	keys, err := e.Store.List(ctx, statekeys.LaneBatchPrefix(runID, l))
	if err != nil {
		return nil, fmt.Errorf("migration: list batches of %s: %w", l, err)
	}
	states, errs := runstate.GetAllJSON[BatchState](ctx, e.Store, keys)
	out := make([]BatchState, 0, len(keys))
	for i, s := range states {
		switch err := errs[i]; {
		case errors.Is(err, runstate.ErrNotFound):
			continue
		case err != nil:
			return nil, fmt.Errorf("migration: read %s: %w", keys[i], err)
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b BatchState) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// laneFreeElsewhere is laneFree's check across the campaign: no batch of
// another active run holds the lane.
func (e *Engine) laneFreeElsewhere(ctx context.Context, s *BatchState) (bool, string, error) {
	held, why, err := e.laneHeldElsewhere(ctx, s.RunID, s)
	return !held, why, err
}

// Lanes returns the lanes of a run's plan that have batches, in plan order.
// No plan: an error matching runstate.ErrNotFound.
func (e *Engine) Lanes(ctx context.Context, runID string) ([]estate.Lane, error) {
	p, err := e.readPlan(ctx, runID)
	if err != nil {
		return nil, err
	}
	var out []estate.Lane
	for _, lp := range p.Lanes {
		if len(lp.Batches) > 0 {
			out = append(out, lp.Lane)
		}
	}
	return out, nil
}

// NextBatch is the batch that holds a lane: the lowest-seq batch that has
// not finished.
type NextBatch struct {
	Batch plan.Batch
	// State is nil when the batch has not started.
	State *BatchState
	// Done is set when every batch of the lane has finished; Batch and
	// State are then zero.
	Done bool
}

// Next returns the batch that holds lane l of a run: one active task per
// lane, and a batch starts only when every lower-seq batch of its lane has
// finished (verified, or failed with rotation restored). Lanes are
// independent. A lane the plan does not know is Done.
func (e *Engine) Next(ctx context.Context, runID string, l estate.Lane) (NextBatch, error) {
	p, err := e.readPlan(ctx, runID)
	if err != nil {
		return NextBatch{}, err
	}
	for _, lp := range p.Lanes {
		if lp.Lane != l {
			continue
		}
		bs := slices.Clone(lp.Batches)
		slices.SortFunc(bs, func(a, b plan.Batch) int { return cmp.Compare(a.Seq, b.Seq) })
		for _, b := range bs {
			s, err := e.readBatch(ctx, runID, b.ID)
			if errors.Is(err, ErrNoState) {
				return NextBatch{Batch: b}, nil
			}
			if err != nil {
				return NextBatch{}, err
			}
			if !s.Finished() {
				return NextBatch{Batch: b, State: &s}, nil
			}
		}
	}
	return NextBatch{Done: true}, nil
}

// MigrateLane does the migrate function's work on one lane: it prepares
// the lane's next batch (Disable) and submits it (Submit). With pipelining
// (pipeline.go), while a batch's task runs it prepares the batch after it
// (poll does too, once it sees the task Running), and submits that batch
// once the task has ended, before the ended batch is restored and
// verified. It does nothing else
// while the lane's batch is in flight or ending, and starts no batch of a
// run that is not the current one (OutcomeUnchanged): a migrate chained
// for an earlier run, when one of its batches is restored, would otherwise
// start that run's next batch beside the current run's plan of the same
// resources, and keep the earlier run from closing.
func (e *Engine) MigrateLane(ctx context.Context, runID string, l estate.Lane) (StepResult, error) {
	if err := e.settleElsewhere(ctx, runID, l); err != nil {
		return StepResult{Step: "migrate"}, err
	}
	n, err := e.Next(ctx, runID, l)
	if err != nil || n.Done {
		return StepResult{Step: "migrate", Outcome: OutcomeUnchanged}, err
	}
	if n.State != nil && e.pipelining() && hasTask(n.State.Phase) {
		// The batches after it may be under way too (pipeline.go): the
		// batch to prepare or submit follows the last one with a task.
		cur := *n.State
		for {
			b, ok, err := e.successor(ctx, runID, l, cur.Seq)
			if err != nil || !ok {
				return StepResult{BatchID: cur.ID, Step: "migrate", Outcome: OutcomeWaiting, Phase: cur.Phase}, err
			}
			st, err := e.readBatch(ctx, runID, b.ID)
			switch {
			case errors.Is(err, ErrNoState):
				return e.migrateBatch(ctx, runID, b, nil)
			case err != nil:
				return StepResult{Step: "migrate"}, err
			}
			if !passed(&st) {
				return e.migrateBatch(ctx, runID, b, &st)
			}
			cur = st
		}
	}
	return e.migrateBatch(ctx, runID, n.Batch, n.State)
}

// passed reports whether a lane's step goes past batch s to the batch
// after it: s has a task (hasTask) or has finished.
func passed(s *BatchState) bool { return hasTask(s.Phase) || s.Finished() }

// hasTask reports a phase in which the batch's task exists and has not
// been given up: the batch after it may be prepared or submitted ahead.
func hasTask(p Phase) bool {
	switch p {
	case PhaseSubmitted, PhaseScheduled, PhaseRunning, PhaseCompleted, PhaseRotationRestored:
		return true
	}
	return false
}

// migrateBatch prepares and submits batch b of a lane (state st, nil when
// not started). The batch after it is prepared by poll, once the task has
// been seen Running.
func (e *Engine) migrateBatch(ctx context.Context, runID string, b plan.Batch, st *BatchState) (StepResult, error) {
	if st == nil || st.Phase == PhasePlanned {
		cur, err := e.Current(ctx)
		if err != nil && !errors.Is(err, ErrNoRun) {
			return StepResult{Step: "migrate"}, err
		}
		if err == nil && cur != runID {
			return StepResult{BatchID: b.ID, Step: "migrate", Outcome: OutcomeUnchanged, Phase: PhasePlanned,
				Reason: "run " + cur + " is current: only it starts batches"}, nil
		}
		res, err := e.Disable(ctx, runID, b.ID)
		if err != nil || res.Phase != PhaseRotationOff {
			return res, err
		}
	} else if st.Phase != PhaseRotationOff && st.Phase != PhaseSubmitting {
		return StepResult{BatchID: b.ID, Step: "migrate", Outcome: OutcomeWaiting, Phase: st.Phase}, nil
	}
	return e.Submit(ctx, runID, b.ID)
}

// Migrate runs MigrateLane on every lane of the run. A failing lane does
// not stop the others; their errors are joined.
func (e *Engine) Migrate(ctx context.Context, runID string) ([]StepResult, error) {
	return e.eachLane(ctx, runID, nil, e.MigrateLane)
}

// MigrateLanes runs MigrateLane on lanes of the run (a group of a fanned-out
// step), as Migrate does on every lane. Steps of one lane may overlap
// (a group and the next timer's): each batch's transitions are
// compare-and-swaps, so the batch still gets one task.
func (e *Engine) MigrateLanes(ctx context.Context, runID string, lanes []estate.Lane) ([]StepResult, error) {
	return e.eachLane(ctx, runID, lanes, e.MigrateLane)
}

// PollLane polls the task of the lane's batch in flight, recovers a
// batch left in submitting, and retries a planned batch that waits for
// its instance's turn (TurnWait: MigrateLane). With pipelining it also steps the batches
// after it: while the lane's lowest unfinished batch is restored and
// verified, the batch after it may be in flight (it waits for that task
// then, as for the first one), and the batch after the one with a task
// is submitted when it was prepared ahead and that task has ended; the
// lane's tasks share one wait (Config.PollWait).
func (e *Engine) PollLane(ctx context.Context, runID string, l estate.Lane) (StepResult, error) {
	n, err := e.Next(ctx, runID, l)
	if err != nil || n.Done || n.State == nil {
		return StepResult{Step: "poll", Outcome: OutcomeUnchanged}, err
	}
	cur := *n.State
	e.restoreAgain(ctx, &cur)
	// One wait for the lane, however many of its tasks it follows: the
	// batch submitted when the first task ended is awaited in what is
	// left of it (a short last batch otherwise waited for the next poll).
	ctx = withAwaitBy(ctx, time.Now().Add(e.cfg().PollWait))
	res, err := e.pollBatch(ctx, cur, true)
	for err == nil && e.pipelining() && passed(&cur) {
		next, nerr := e.successorState(ctx, &cur)
		if nerr != nil || next == nil {
			return res, nerr
		}
		var ahead StepResult
		if next.Phase == PhaseRotationOff {
			ahead, err = e.Submit(ctx, runID, next.ID)
		} else {
			ahead, err = e.pollBatch(ctx, *next, true)
		}
		res = mergeStep(res, ahead)
		cur = *next
	}
	return res, err
}

// restoreAgainAfter is how long a batch whose task has ended may wait
// for its chained rotate before poll chains rotate for it again.
const restoreAgainAfter = 3 * time.Minute

// restoreAgain chains rotate again for batch s, the lane's lowest
// unfinished one, when its task ended (completed, or failed with its
// rotation not restored, or restored and not verified) and nothing has
// moved it for restoreAgainAfter: the rotate invocation its task's end
// chained is lost, failed for good, or was never sent (the ending step
// cut short), or its restore was deferred (a rotation change refused
// while a task held the resource). Otherwise only the daily sweep would
// give the batch's rotation back, hours later, and the lane would wait
// for it. The task id changes every restoreAgainAfter, so that Function
// Compute takes a new invocation then and each poll in between adds none.
func (e *Engine) restoreAgain(ctx context.Context, s *BatchState) {
	if !s.Phase.Ended() || s.Finished() {
		return
	}
	now := e.now()
	if now.Sub(s.UpdatedAt) < restoreAgainAfter {
		return
	}
	slot := now.Unix() / int64(restoreAgainAfter/time.Second)
	e.chain(ctx, e.cfg().Functions.Rotate, s.RunID, s.ID, "", fmt.Sprintf("restore_again_%d", slot))
}

// pollBatch does PollLane's work on one batch; wait lets Poll wait for a
// running task (Config.PollWait).
func (e *Engine) pollBatch(ctx context.Context, s BatchState, wait bool) (StepResult, error) {
	switch s.Phase {
	case PhasePlanned:
		if s.TurnWait {
			// Waiting for its instance's turn: nothing else retries it.
			return e.MigrateLane(ctx, s.RunID, s.Lane)
		}
	case PhaseSubmitting:
		if until, ok := e.refusedUntil(s); ok {
			return StepResult{BatchID: s.ID, Step: "poll", Outcome: OutcomeWaiting, Phase: s.Phase,
				Reason: fmt.Sprintf("instance %s was busy at %s (%s): the end of its task hands it over; poll submits again from %s",
					s.InstanceID, s.Intent.At.Format(time.RFC3339), s.Intent.Code, until.Format(time.RFC3339))}, nil
		}
		return e.Submit(ctx, s.RunID, s.ID)
	case PhaseSubmitted, PhaseScheduled, PhaseRunning, PhaseAwaitingOperator:
		return e.poll(ctx, s.RunID, s.ID, wait)
	}
	return StepResult{BatchID: s.ID, Step: "poll", Outcome: OutcomeUnchanged, Phase: s.Phase}, nil
}

// refusedUntil reports whether batch s, in submitting, was refused by its
// busy instance less than Config.RefusedRetry ago, and until when poll
// leaves it. The end of the task that holds the instance hands it to a
// waiting batch at once (submitWaiting) and a chained migrate submits at
// once; poll's every-minute retry is the safety net, and a hundred lanes
// sharing one instance were otherwise refused again every minute.
func (e *Engine) refusedUntil(s BatchState) (time.Time, bool) {
	wait := e.cfg().RefusedRetry
	if s.Intent == nil || !s.Intent.Refused || s.Intent.Code == "" || s.Intent.At.IsZero() || wait <= 0 {
		return time.Time{}, false
	}
	until := s.Intent.At.Add(wait)
	return until, e.now().Before(until)
}

// PollRun runs PollLane on every lane of the run that has begun (holds a
// batch state): a lane that has not has nothing to poll, and one listing
// of the run's states spares a read per such lane (most of a thousand
// lanes before the window, every minute).
func (e *Engine) PollRun(ctx context.Context, runID string) ([]StepResult, error) {
	return e.PollLanes(ctx, runID, nil)
}

// PollLanes runs PollLane on lanes of the run (nil: every lane; a group
// of a fanned-out step), skipping, as PollRun does, the lanes that hold
// no batch state.
func (e *Engine) PollLanes(ctx context.Context, runID string, lanes []estate.Lane) ([]StepResult, error) {
	begun, err := e.BegunLanes(ctx, runID)
	if err != nil {
		return nil, err
	}
	return e.eachLane(ctx, runID, lanes, func(ctx context.Context, runID string, l estate.Lane) (StepResult, error) {
		if !begun[l] {
			return StepResult{Step: "poll", Outcome: OutcomeUnchanged}, nil
		}
		return e.PollLane(ctx, runID, l)
	})
}

// BegunLanes returns the lanes of the run that hold a batch state, from
// one listing. Cancellation: ctx.Err().
func (e *Engine) BegunLanes(ctx context.Context, runID string) (map[estate.Lane]bool, error) {
	prefix := statekeys.BatchPrefix(runID)
	keys, err := e.Store.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("migration: list batches of %s: %w", runID, err)
	}
	out := map[estate.Lane]bool{}
	for _, k := range keys {
		parts := strings.SplitN(strings.TrimPrefix(k, prefix), "/", 3)
		if len(parts) == 3 {
			out[estate.Lane{Account: parts[0], Region: parts[1]}] = true
		}
	}
	return out, nil
}

// LanesAtWork returns the lanes of the run, in plan order, that a poll
// has something to do for: a batch past planned that has not finished (a
// task to follow, a rotation to restore, a submission to retry), a
// planned batch waiting for its instance's turn (TurnWait), or a
// finished batch followed by one that has not left the plan (a lane to
// continue). A lane whose every state is planned has not begun (discover's
// kick records the first batch planned even before the window opens); a
// lane whose every batch has finished is done. From one listing and the
// states it shows (runStates).
func (e *Engine) LanesAtWork(ctx context.Context, runID string) ([]estate.Lane, error) {
	p, err := e.readPlan(ctx, runID)
	if err != nil {
		return nil, err
	}
	states, err := e.runStates(ctx, runID)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*BatchState, len(states))
	for i := range states {
		byID[states[i].ID] = &states[i]
	}
	var out []estate.Lane
	for _, lp := range p.Lanes {
		if laneAtWork(lp.Batches, byID) {
			out = append(out, lp.Lane)
		}
	}
	return out, nil
}

// laneAtWork is LanesAtWork's test of one lane's batches (in any order).
func laneAtWork(batches []plan.Batch, states map[string]*BatchState) bool {
	bs := slices.Clone(batches)
	slices.SortFunc(bs, func(a, b plan.Batch) int { return cmp.Compare(a.Seq, b.Seq) })
	finishedBefore := false
	for _, b := range bs {
		s := states[b.ID]
		switch {
		case s != nil && s.Finished():
			finishedBefore = true
		case s != nil && (s.Phase != PhasePlanned || s.TurnWait):
			return true // a turn waited for: retried until taken
		case finishedBefore:
			return true // the batch after a finished one has not started
		}
	}
	return false
}

// RotateRun does the rotate function's work on one run: Restore on every
// batch whose task has ended and that has not finished, then Sweep (of the
// whole campaign's ledger).
func (e *Engine) RotateRun(ctx context.Context, runID string) ([]StepResult, SweepResult, error) {
	out, err := e.restoreRun(ctx, runID)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	sw, err := e.Sweep(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	return out, sw, errors.Join(errs...)
}

// RotateCampaign does the rotate function's daily work across the
// campaign: it retires what earlier runs never submitted, restores every
// ended batch of every active run, sweeps the ledger, and closes the runs
// that hold nothing any more.
func (e *Engine) RotateCampaign(ctx context.Context) ([]StepResult, SweepResult, error) {
	var errs []error
	out, err := e.RetireEarlier(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	runs, err := e.ActiveRuns(ctx)
	if err != nil {
		return out, SweepResult{}, errors.Join(append(errs, err)...)
	}
	for _, r := range runs {
		steps, err := e.restoreRun(ctx, r)
		out = append(out, steps...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	sw, err := e.Sweep(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	if _, err := e.CloseRuns(ctx); err != nil {
		errs = append(errs, err)
	}
	return out, sw, errors.Join(errs...)
}

// restoreRun runs Restore on every batch of the run whose task has ended
// and that has not finished.
func (e *Engine) restoreRun(ctx context.Context, runID string) ([]StepResult, error) {
	ctx, err := e.WithRunSnapshot(ctx, runID)
	if err != nil {
		return nil, err
	}
	states, err := e.runStates(ctx, runID)
	if err != nil {
		return nil, err
	}
	var out []StepResult
	var errs []error
	for _, s := range states {
		if !s.Phase.Ended() || s.Finished() {
			continue
		}
		res, err := e.Restore(ctx, runID, s.ID)
		out = append(out, res)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// eachLane runs f on lanes of the run (nil: every lane of its plan),
// Config.ParallelLanes at a time, under one run snapshot (the plan and
// inventory read once for every lane). A failing lane does not stop the
// others; their errors are joined, each naming its lane. Cancellation
// stops starting lanes and returns the context's error. Under a lane
// budget (WithLaneBudget) each lane runs WithinLaneBudget: the lanes left
// or cut are reported waiting, for the next step.
func (e *Engine) eachLane(ctx context.Context, runID string, lanes []estate.Lane, f func(context.Context, string, estate.Lane) (StepResult, error)) ([]StepResult, error) {
	ctx, err := e.WithRunSnapshot(ctx, runID)
	if err != nil {
		return nil, err
	}
	if lanes == nil {
		if lanes, err = e.Lanes(ctx, runID); err != nil {
			return nil, err
		}
	}
	// Lanes are independent: step them concurrently, so that one lane
	// waiting on its task (PollWait) never delays another, but no more at
	// once than the pool holds: a run of a thousand lanes must not start a
	// thousand goroutines each holding KMS calls and a wait.
	results := make([]StepResult, len(lanes))
	laneErrs := make([]error, len(lanes))
	ran := make([]bool, len(lanes))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(e.Config.withDefaults().ParallelLanes, len(lanes)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(lanes) {
					return
				}
				results[i], laneErrs[i] = WithinLaneBudget(ctx, lanes[i], func(ctx context.Context) (StepResult, error) {
					return f(ctx, runID, lanes[i])
				})
				ran[i] = true
			}
		}()
	}
	wg.Wait()
	var out []StepResult
	var errs []error
	for i, l := range lanes {
		if !ran[i] {
			return out, ctx.Err()
		}
		if results[i].Outcome != "" {
			out = append(out, results[i])
		}
		if err := laneErrs[i]; err != nil {
			if isContext(err) {
				return out, err
			}
			errs = append(errs, fmt.Errorf("lane %s: %w", l, err))
		}
	}
	return out, errors.Join(errs...)
}

// Progress summarises a run for a driver loop.
type Progress struct {
	Batches  int `json:"batches"`
	Finished int `json:"finished"`
	// Active names the batch holding each unfinished lane, with its phase.
	Active []string `json:"active,omitempty"`
}

// Done reports whether every batch of the plan has finished.
func (p Progress) Done() bool { return p.Finished == p.Batches }

// Status reads how far a run is, its batch states
// runstate.ReadConcurrency at a time.
func (e *Engine) Status(ctx context.Context, runID string) (Progress, error) {
	p, err := e.readPlan(ctx, runID)
	if err != nil {
		return Progress{}, err
	}
	var ids, keys []string
	for _, lp := range p.Lanes {
		for _, b := range lp.Batches {
			ids, keys = append(ids, b.ID), append(keys, statekeys.Batch(runID, b.ID))
		}
	}
	states, errs := runstate.GetAllJSON[BatchState](ctx, e.Store, keys)
	out := Progress{Batches: len(ids)}
	for i, id := range ids {
		s, err := states[i], errs[i]
		switch {
		case errors.Is(err, runstate.ErrNotFound):
		case err != nil:
			return out, err
		case s.Finished():
			out.Finished++
			continue
		}
		phase := PhasePlanned
		if err == nil {
			phase = s.Phase
		}
		out.Active = append(out.Active, id+" "+string(phase))
	}
	return out, nil
}

// Step runs one round of every function's work on the run (migrate, poll,
// rotate) and returns the progress after it: a driver for the command line
// and tests; the functions run the parts on their own timers.
func (e *Engine) Step(ctx context.Context, runID string) (Progress, error) {
	var errs []error
	if _, err := e.Migrate(ctx, runID); err != nil {
		errs = append(errs, err)
	}
	if _, err := e.PollRun(ctx, runID); err != nil {
		errs = append(errs, err)
	}
	if _, _, err := e.RotateRun(ctx, runID); err != nil {
		errs = append(errs, err)
	}
	p, err := e.Status(ctx, runID)
	if err != nil {
		errs = append(errs, err)
	}
	return p, errors.Join(errs...)
}
