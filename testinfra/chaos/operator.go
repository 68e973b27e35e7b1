package chaos

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// The operator of a schedule of many nights: he pauses and resumes the
// current run and aborts batches (kmsmig pause/resume/abort, or rotate's
// abort action), and with the observe backend he starts published batches
// in the console (here: CreateMigrationTask with the handoff document's
// exact list), promptly, a night or two late, or never, in which case he
// sometimes tells kmsmig so (rotate's end-observation action). Once the
// faults are over he also tells kmsmig when the console's task of a batch
// has ended and the batch still awaits him: what did not move will not
// move (otherwise a resource that always fails would wait out the
// observation timeout, longer than a day, every night).

// handoff is the operator's decision on one published batch.
type handoff struct {
	ref string // run and batch (runRef)
	// at is the step from which he starts it (-1: not on a step); night
	// the night before whose day he starts it (late; -1: not late); never:
	// he does not start it, and tells kmsmig at step endAt (-1: never).
	at, night int
	never     bool
	endAt     int
	started   bool
	ended     bool
	taskID    string
	lane      estate.Lane
	tries     int
}

// operatorTries bounds how often the operator tries to start a batch the
// console refuses (a task of the instance running, a resource gone).
const operatorTries = 8

// operatorStep is what the operator does on one step, drawn before the
// step so that the number of draws does not depend on the world.
type operatorStep struct {
	pause, abort bool
	pick         int
	viaEvent     bool
	// owner: an owner switches rotation on (every ownerIV) in the middle
	// of the night, preferably where kmsmig holds it off.
	owner   bool
	ownerIV time.Duration
}

func drawOperatorStep(r *mrand.Rand, p nightProfile) operatorStep {
	return operatorStep{pause: r.Float64() < p.PPause, abort: r.Float64() < p.PAbort, pick: r.IntN(1 << 16), viaEvent: r.IntN(2) == 1,
		owner: r.Float64() < p.PNightOwner, ownerIV: ownerIntervals[r.IntN(len(ownerIntervals))]}
}

// operate is the operator's part of a step.
func (s *schedule) operate(ctx context.Context, step int) {
	n := s.nights
	o := drawOperatorStep(n.rng, n.prof)
	if o.pause {
		s.togglePause(ctx, step)
	}
	if o.abort {
		s.abort(ctx, step, o.pick, o.viaEvent)
	}
	if o.owner {
		s.quietly(func() { s.ownerChange(ctx, fmt.Sprintf("step %d", step), 0, o.pick, o.ownerIV, false) })
	}
	if n.prof.Observe {
		s.consoleOperator(ctx, step)
	}
}

// togglePause pauses the current run, or resumes it (kmsmig pause and
// resume call Engine.Pause).
func (s *schedule) togglePause(ctx context.Context, step int) {
	n := s.nights
	paused := !n.paused[s.run]
	ictx := audit.WithScope(ctx, audit.Scope{RunID: s.run, RequestID: fmt.Sprintf("s%03d-pause", step)})
	changed, err := s.engine(s.store, 0).Pause(ictx, s.run, paused, "chaos-operator", fmt.Sprintf("step %d", step))
	if err != nil {
		s.res.Logf("step %d: operator: pause=%v %s: %v", step, paused, s.run, err)
		return
	}
	n.paused[s.run] = paused
	if paused {
		s.res.Faults[FaultPause]++
	}
	s.res.Logf("step %d: operator: pause=%v %s (changed %v)", step, paused, s.run, changed)
}

// abort aborts a batch of an open run that has started and whose task has
// not ended, as kmsmig abort does, or through rotate's abort action.
func (s *schedule) abort(ctx context.Context, step, pick int, viaEvent bool) {
	eng := s.engine(s.store, 0)
	runs, err := eng.ActiveRuns(ctx)
	if err != nil {
		return
	}
	var refs []string
	for _, r := range runs {
		states, err := s.runStates(ctx, r)
		if err != nil {
			return
		}
		for _, st := range states {
			if !st.Phase.Ended() {
				refs = append(refs, runRef(r, st.ID))
			}
		}
	}
	if len(refs) == 0 {
		return
	}
	run, batch := splitRef(refs[pick%len(refs)])
	ictx := audit.WithScope(ctx, audit.Scope{RunID: run, RequestID: fmt.Sprintf("s%03d-abort", step)})
	s.res.Faults[FaultAbort]++
	var res migration.StepResult
	how := "kmsmig abort"
	if viaEvent {
		how = "rotate abort"
		var out app.StepResult
		out, err = s.executor(eng).Rotate(ictx, app.RotateEvent{StepEvent: app.StepEvent{RunID: run, BatchID: batch}, Action: "abort", Reason: "chaos operator"})
		if len(out.Steps) > 0 {
			res = out.Steps[0]
		}
	} else {
		res, err = eng.AbortBatch(ictx, run, batch, "chaos-operator", fmt.Sprintf("step %d", step))
	}
	s.res.Logf("step %d: operator: %s %s of %s: %s → %s (%v)", step, how, batch, run, res.Outcome, res.Phase, err)
}

// consoleOperator looks at every published batch (observe backend): a new
// one gets his decision; one that is due is started; one he will never
// start may be ended.
func (s *schedule) consoleOperator(ctx context.Context, step int) {
	n := s.nights
	runs, err := s.engine(s.view, 0).ActiveRuns(ctx)
	if err != nil {
		return
	}
	for _, r := range runs {
		states, err := s.runStates(ctx, r)
		if err != nil {
			return
		}
		for _, st := range states {
			if st.Phase != migration.PhaseAwaitingOperator || st.Handoff == nil || !st.Handoff.Published {
				continue
			}
			ref := runRef(r, st.ID)
			if n.handoffs[ref] == nil {
				n.handoffs[ref] = s.decide(ref, step)
			}
		}
	}
	for _, ref := range sortedKeys(n.handoffs) {
		h := n.handoffs[ref]
		switch {
		case h.started && n.quiet && !h.ended:
			s.endIfTaskEnded(ctx, step, h)
		case h.started || h.ended && h.never:
		case h.never && h.endAt >= 0 && step >= h.endAt:
			s.endObservation(ctx, step, h)
		case !h.never && h.at >= 0 && step >= h.at:
			s.startTask(ctx, step, h)
		}
	}
}

// decide draws the operator's decision on a batch published now.
func (s *schedule) decide(ref string, step int) *handoff {
	n := s.nights
	x := n.rng.Float64()
	after, nights, endAfter := n.rng.IntN(4), 1+n.rng.IntN(2), 1+n.rng.IntN(6)
	tell := n.rng.IntN(2) == 0
	h := &handoff{ref: ref, at: -1, night: -1, endAt: -1}
	switch {
	case n.quiet || x >= n.prof.PLate+n.prof.PNever:
		h.at = step + after
		if n.quiet {
			h.at = step
		}
	case x < n.prof.PNever:
		h.never = true
		if tell {
			h.endAt = step + endAfter
		}
		s.res.Faults[FaultOperatorNever]++
	default:
		h.night = n.night + nights
		s.res.Faults[FaultOperatorLate]++
	}
	s.res.Logf("step %d: operator: %s published: start at step %d, before night %d, never %v (tells kmsmig at step %d)",
		step, ref, h.at, h.night, h.never, h.endAt)
	return h
}

// operateDay is the operator's day: he starts the batches he put off to
// this day (once the faults are over, every batch he means to start).
func (s *schedule) operateDay(ctx context.Context, night int) {
	n := s.nights
	if !n.prof.Observe {
		return
	}
	for _, ref := range sortedKeys(n.handoffs) {
		h := n.handoffs[ref]
		if h.started || h.never {
			continue
		}
		if n.quiet || h.night >= 0 && h.night <= night {
			s.startTask(ctx, s.res.Steps, h)
		}
	}
}

// startTask starts a published batch as the operator does in the
// console: one manual task with exactly the handoff document's list. He
// does not look at the batch's phase first (he may be late); a refusal is
// tried again later, up to operatorTries.
func (s *schedule) startTask(ctx context.Context, step int, h *handoff) {
	run, batch := splitRef(h.ref)
	jsonKey, _ := statekeys.Handoff(run, batch)
	doc, _, err := runstate.GetJSON[migration.HandoffDocument](ctx, s.view, jsonKey)
	if err != nil {
		s.res.Logf("step %d: operator: read handoff of %s: %v", step, h.ref, err)
		return
	}
	lane := estate.Lane{Account: doc.Account, Region: doc.Region}
	var id string
	s.quietly(func() {
		id, err = s.tasks.CreateTask(ctx, lane, migration.TaskRequest{InstanceID: doc.InstanceID, KeyIDs: doc.KeyIDs, SecretNames: doc.SecretNames})
	})
	if err != nil {
		h.tries++
		if h.tries >= operatorTries {
			h.never = true
		}
		s.res.Logf("step %d: operator: start %s (try %d): %v", step, h.ref, h.tries, err)
		return
	}
	h.started, h.taskID, h.lane = true, id, lane
	s.nights.opTasks[id] = h.ref
	s.res.Logf("step %d: operator: started %s as task %s (%d keys, %d secrets)", step, h.ref, id, len(doc.KeyIDs), len(doc.SecretNames))
}

// endIfTaskEnded ends the observation of a batch whose console task has
// completed while the batch still awaits the operator.
func (s *schedule) endIfTaskEnded(ctx context.Context, step int, h *handoff) {
	t, err := s.tasks.DescribeTask(ctx, h.lane, h.taskID)
	if err != nil || t.Status != migration.TaskCompleted {
		return
	}
	run, batch := splitRef(h.ref)
	st, _, err := runstate.GetJSON[migration.BatchState](ctx, s.view, statekeys.Batch(run, batch))
	if err == nil && st.Phase == migration.PhaseAwaitingOperator {
		s.endObservation(ctx, step, h)
	}
}

// endObservation is the operator telling kmsmig that he will not start a
// batch: rotate's end-observation action.
func (s *schedule) endObservation(ctx context.Context, step int, h *handoff) {
	run, batch := splitRef(h.ref)
	ictx := audit.WithScope(ctx, audit.Scope{RunID: run, RequestID: fmt.Sprintf("s%03d-end-observation", step)})
	out, err := s.executor(s.engine(s.store, 0)).Rotate(ictx, app.RotateEvent{StepEvent: app.StepEvent{RunID: run, BatchID: batch}, Action: "end-observation"})
	h.ended = true
	var phase migration.Phase
	if len(out.Steps) > 0 {
		phase = out.Steps[0].Phase
	}
	s.res.Logf("step %d: operator: end observation of %s: %s (%v)", step, h.ref, phase, err)
}
