package chaos

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// engine returns a fresh engine (a new function instance) over store,
// its clock skewed by skew. A schedule of one night runs the engine
// without a window, on the task backend; a schedule of many nights
// configures it as the functions do (app.Config.EngineConfig at the
// engine's own time), without waiting polls.
func (s *schedule) engine(store runstate.Store, skew time.Duration) *migration.Engine {
	var clock migration.Clock = s.st.Clock
	if skew != 0 {
		clock = SkewedClock{Ref: s.st.Clock, Offset: skew}
	}
	e := &migration.Engine{Store: store, KMS: s.client, Tasks: s.tasks, Audit: s.trail, Clock: clock}
	if s.nights != nil {
		e.Config = s.cfg.EngineConfig(clock.Now())
		e.Config.PollWait = 0
	}
	return e
}

// executor returns the functions' use cases over engine e.
func (s *schedule) executor(e *migration.Engine) *app.Executor {
	return &app.Executor{Config: s.cfg, Engine: e, Now: s.st.Clock.Now}
}

// invoke runs the step's invocation in its copies, each on its own engine
// with its own faults.
func (s *schedule) invoke(ctx context.Context, step int, p stepPlan) {
	r := s.res
	name := actions[p.action].name
	run, target, err := s.target(ctx, name, p.pick)
	if err != nil {
		r.Logf("step %d: %s: no target: %v", step, name, err)
		return
	}
	if p.copies > 1 {
		if p.parallel {
			r.Faults[FaultConcurrent]++
		} else {
			r.Faults[FaultDuplicate]++
		}
	}
	type outcome struct {
		crash     *CrashStore
		conflicts *ConflictStore
		err       error
		summary   string
	}
	outs := make([]outcome, p.copies)
	one := func(i int) {
		f := p.faults[i]
		var store runstate.Store = s.store
		if f.conflict {
			outs[i].conflicts = NewConflictStore(store, f.conflictP, f.storeSeed)
			store = outs[i].conflicts
		}
		if f.crash {
			outs[i].crash = &CrashStore{Store: store, N: f.crashN, After: f.crashAfter}
			store = outs[i].crash
		}
		x := s.executor(s.engine(store, f.skew))
		ictx := audit.WithScope(ctx, audit.Scope{RunID: s.run, RequestID: fmt.Sprintf("s%03d-%s-%d", step, name, i)})
		ictx, cancel := context.WithTimeout(ictx, 30*time.Second)
		defer cancel()
		res, err := s.call(ictx, x, name, run, target)
		outs[i].err = err
		for _, st := range res.Steps {
			outs[i].summary += fmt.Sprintf(" [%s %s %s→%s]", st.BatchID, st.Step, st.Outcome, st.Phase)
		}
	}
	if p.parallel {
		var wg sync.WaitGroup
		for i := range p.copies {
			wg.Go(func() { one(i) })
		}
		wg.Wait()
	} else {
		for i := range p.copies {
			one(i)
		}
	}
	for i, o := range outs {
		f := p.faults[i]
		desc := fmt.Sprintf("step %d.%d: %s %s", step, i, name, target)
		if run != s.run {
			desc += " of " + run
		}
		if f.skew != 0 {
			r.Faults[FaultSkew]++
			desc += fmt.Sprintf(" skew %v", f.skew)
		}
		if o.conflicts != nil {
			if n := o.conflicts.Conflicts(); n > 0 {
				r.Faults[FaultConflict] += n
				desc += fmt.Sprintf(" conflicts %d", n)
			}
		}
		if o.crash != nil && o.crash.Crashed() {
			r.Faults[FaultCrash]++
			desc += fmt.Sprintf(" crashed at write %d (after=%v)", f.crashN, f.crashAfter)
		}
		if o.err != nil {
			r.StepErrors++
			desc += " error: " + o.err.Error()
			if errors.Is(o.err, migration.ErrDuplicateTask) {
				r.violate("no batch submitted twice", "the engine reported: "+o.err.Error())
			}
		}
		r.Logf("%s%s", desc, o.summary)
	}
}

// target names what an action works on and in which run: a lane of the
// run the schedule drives, or a batch of any open run of the campaign
// (one night: the only run).
func (s *schedule) target(ctx context.Context, name string, pick int) (run, target string, err error) {
	switch name {
	case "migrate-lane", "poll-lane":
		lanes, err := s.engine(s.view, 0).Lanes(ctx, s.run)
		if err != nil || len(lanes) == 0 {
			return "", "", cmp.Or(err, errors.New("no lanes"))
		}
		return s.run, lanes[pick%len(lanes)].String(), nil
	case "restore-batch", "disable-batch":
		runs := []string{s.run}
		if s.nights != nil {
			if runs, err = s.engine(s.view, 0).ActiveRuns(ctx); err != nil {
				return "", "", err
			}
		}
		type ref struct{ run, batch string }
		var refs []ref
		for _, r := range runs {
			p, _, err := runstate.GetJSON[struct {
				Lanes []struct {
					Batches []struct {
						ID string `json:"id"`
					} `json:"batches"`
				} `json:"lanes"`
			}](ctx, s.view, statekeys.Plan(r))
			if err != nil {
				return "", "", err
			}
			for _, l := range p.Lanes {
				for _, b := range l.Batches {
					refs = append(refs, ref{r, b.ID})
				}
			}
		}
		if len(refs) == 0 {
			return "", "", errors.New("no batches")
		}
		t := refs[pick%len(refs)]
		return t.run, t.batch, nil
	}
	return s.run, "", nil
}

// call invokes one function's handler as Function Compute would. A
// schedule of one night names its run in every event; a schedule of many
// nights sends the timers' events (no run: the current one) and names the
// run only with a batch.
func (s *schedule) call(ctx context.Context, x *app.Executor, name, run, target string) (app.StepResult, error) {
	ev := app.StepEvent{RunID: run}
	if s.nights != nil && (target == "" || name == "migrate-lane" || name == "poll-lane") {
		ev.RunID = "" // the timers' events: the current run
	}
	switch name {
	case "migrate":
		return x.Migrate(ctx, ev)
	case "poll":
		return x.Poll(ctx, ev)
	case "rotate":
		return x.Rotate(ctx, app.RotateEvent{StepEvent: ev, Action: "sweep"})
	case "migrate-lane":
		ev.Lane = target
		return x.Migrate(ctx, ev)
	case "poll-lane":
		ev.Lane = target
		return x.Poll(ctx, ev)
	case "restore-batch":
		ev.BatchID = target
		return x.Rotate(ctx, app.RotateEvent{StepEvent: ev, Action: "restore"})
	case "disable-batch":
		ev.BatchID = target
		return x.Rotate(ctx, app.RotateEvent{StepEvent: ev, Action: "disable"})
	case "step":
		p, err := x.Engine.Step(ctx, run)
		return app.StepResult{RunID: run, Done: p.Done()}, err
	}
	return app.StepResult{}, fmt.Errorf("chaos: unknown action %q", name)
}
