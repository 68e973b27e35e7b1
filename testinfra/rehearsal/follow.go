package rehearsal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	fctwin "github.com/kmsmig/kmsmig/twin/fc"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// Jumps. The clock skips what nobody waits for: when no invocation is in
// flight or waiting to retry (fctwin.Server.Quiesce); no task in the KMS
// twin runs or is about to start (a stalled one does not count: it moves
// only when released); no batch of an open run is under way (past planned
// and not finished: the functions have more to do for it, perhaps only
// once a lease expires), but for the stalled task's; and a heartbeat (the
// every-minute poll) has begun since anything else last happened (another
// invocation, a task's end, an injected event), so that what the functions
// would start on their own has started; then it jumps to jumpLead before
// the next thing that is due: a timer that is not a heartbeat (discover,
// migrate at the window's start, the sweep), a task's scheduled start, or
// an injected event. Jumps shorter than minJump are not worth it.
const (
	// heartbeat: a timer firing at least this often keeps things moving
	// but is not something to wait for.
	heartbeat = 10 * time.Minute
	jumpLead  = 30 * time.Second
	minJump   = 2 * time.Minute
)

// jump moves the clock if nothing is due before minJump; it reports
// whether it did. All is decided while Quiesce holds the functions off, so
// nothing changes between the look and the jump.
func (r *rehearsal) jump(ctx context.Context) bool {
	jumped := false
	r.st.FC.Quiesce(func(q fctwin.Quiet) {
		if !r.jumpable(q) || time.Now().Before(r.busyUntil) {
			return
		}
		if r.underWay(ctx) {
			r.busyUntil = time.Now().Add(200 * time.Millisecond) // the store is read at most 5 times a second
			return
		}
		now := r.clock.Now()
		next, why, _ := r.nextDue(q)
		to := next.Add(-jumpLead)
		d, err := r.clock.Jump(to)
		if err != nil {
			r.jumpErr = err
			return
		}
		r.jumps++
		r.jumped += d
		jumped = true
		r.logf(now, "nothing due: the clock jumps %s to %s (next: %s at %s)", d.Round(time.Second), r.clockText(to), why, r.clockText(next))
	})
	return jumped
}

// jumpable reports whether, as far as the twins tell, the clock may jump:
// nothing due before minJump, and everything settled.
func (r *rehearsal) jumpable(q fctwin.Quiet) bool {
	next, _, ok := r.nextDue(q)
	if !ok || next.Add(-jumpLead).Sub(r.clock.Now()) < minJump {
		return false
	}
	last := r.inj.last
	if r.appr.last.After(last) {
		last = r.appr.last
	}
	for _, tk := range r.st.KMS.Tasks() {
		if tk.Finished.After(last) {
			last = tk.Finished
		}
	}
	return settled(q, last)
}

// underWay reports whether a batch of an open run is under way (past
// planned, not finished), other than the stalled task's: the functions
// still have work for it.
func (r *rehearsal) underWay(ctx context.Context) bool {
	c, _, err := runstate.GetJSON[migration.Campaign](ctx, r.store, statekeys.Campaign)
	if err != nil {
		return !errors.Is(err, runstate.ErrNotFound)
	}
	for _, run := range c.Runs {
		if run.Closed {
			continue
		}
		open, err := r.openBatches(ctx, run.RunID)
		if err != nil {
			return true
		}
		for _, b := range open {
			if b.Phase != migration.PhasePlanned && (b.TaskID == "" || b.TaskID != r.inj.stalled) {
				return true
			}
		}
	}
	return false
}

// openBatches returns the states of a run's batches that have not
// finished, reading only those: a finished batch never changes, and the
// harness looks several times a second (at 1,000 lanes, reading every
// state each time took the CPU the functions needed, and underWay does it
// while the functions are held off).
func (r *rehearsal) openBatches(ctx context.Context, runID string) (map[string]migration.BatchState, error) {
	keys, err := r.store.List(ctx, statekeys.BatchPrefix(runID))
	if err != nil {
		return nil, err
	}
	if r.finishedKeys == nil {
		r.finishedKeys, r.finishedIDs = map[string]bool{}, map[string]map[string]bool{}
	}
	if r.finishedIDs[runID] == nil {
		r.finishedIDs[runID] = map[string]bool{}
	}
	keys = slices.DeleteFunc(keys, func(k string) bool { return r.finishedKeys[k] })
	states, errs := runstate.GetAllJSON[migration.BatchState](ctx, r.store, keys)
	open := map[string]migration.BatchState{}
	for i, b := range states {
		switch err := errs[i]; {
		case errors.Is(err, runstate.ErrNotFound):
			continue
		case err != nil:
			return nil, err
		case b.Finished():
			r.finishedKeys[keys[i]], r.finishedIDs[runID][b.ID] = true, true
			continue
		}
		open[b.ID] = b
	}
	return open, nil
}

// runStatus is migration.Engine.Status from the plan and openBatches.
func (r *rehearsal) runStatus(ctx context.Context, runID string) (migration.Progress, error) {
	// The plan is read each time: poll appends retry batches to it.
	p, _, err := runstate.GetJSON[plan.Plan](ctx, r.store, statekeys.Plan(runID))
	if err != nil {
		return migration.Progress{}, err
	}
	open, err := r.openBatches(ctx, runID)
	if err != nil {
		return migration.Progress{}, err
	}
	var out migration.Progress
	for _, lp := range p.Lanes {
		for _, b := range lp.Batches {
			out.Batches++
			switch s, ok := open[b.ID]; {
			case r.finishedIDs[runID][b.ID]:
				out.Finished++
			case ok:
				out.Active = append(out.Active, b.ID+" "+string(s.Phase))
			default:
				out.Active = append(out.Active, b.ID+" "+string(migration.PhasePlanned))
			}
		}
	}
	return out, nil
}

// nextDue returns the next thing due, or false when a task is running.
func (r *rehearsal) nextDue(q fctwin.Quiet) (time.Time, string, bool) {
	var next time.Time
	var why string
	consider := func(at time.Time, what string) {
		if next.IsZero() || at.Before(next) {
			next, why = at, what
		}
	}
	tasks := r.st.KMS.Tasks()
	held := map[string]bool{} // instances a stalled task occupies
	for _, tk := range tasks {
		if tk.Status == kmstwin.TaskRunning {
			if !tk.Stalled {
				return time.Time{}, "", false
			}
			held[tk.InstanceID] = true
		}
	}
	for _, tk := range tasks {
		if (tk.Status == kmstwin.TaskPending || tk.Status == kmstwin.TaskScheduled) && !held[tk.InstanceID] {
			consider(tk.Ready, "task "+tk.ID+" starts")
		}
	}
	for _, f := range q.Timers {
		if f.Period >= heartbeat {
			consider(f.At, f.Function+" "+f.Trigger)
		}
	}
	if at := r.inj.due(); !at.IsZero() {
		consider(at, "an injected event")
	}
	if at := r.appr.due(); !at.IsZero() {
		consider(at, "the approval of the night's plan")
	}
	consider(r.sched.end, "the end of the rehearsal")
	return next, why, true
}

// settled reports whether a heartbeat invocation began after everything
// else had ended (other invocations, and the latest injected event at
// last): what the functions would do on their own, they have begun.
func settled(q fctwin.Quiet, last time.Time) bool {
	beats := map[string]bool{}
	for _, f := range q.Timers {
		if f.Period < heartbeat {
			beats[f.Function] = true
		}
	}
	if len(beats) == 0 {
		return true
	}
	isBeat := func(inv fctwin.Invocation) bool { return inv.Source == fctwin.SourceTimer && beats[inv.Function] }
	for _, inv := range q.History {
		if !isBeat(inv) && inv.Finished.After(last) {
			last = inv.Finished
		}
	}
	for _, inv := range q.History {
		if isBeat(inv) && inv.Enqueued.After(last) {
			return true
		}
	}
	return false
}

// follow drives the rehearsal until the last night's sweep: it shows the
// current run's progress, injects the events and jumps the clock.
func (r *rehearsal) follow(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var lastStatus time.Time
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("rehearsal: not finished within the time limit (night %d, %s, last status %q): %w",
				r.sched.night(r.clock.Now()), r.clockText(r.clock.Now()), r.lastLine, ctx.Err())
		case <-tick.C:
		}
		if r.jumpErr != nil {
			return fmt.Errorf("rehearsal: jump: %w", r.jumpErr)
		}
		now := r.clock.Now()
		// Each look reads every unfinished batch: with hundreds of them
		// under way, look less often, so that the twins' CPU goes to the
		// functions.
		every := 250 * time.Millisecond
		if len(r.status.Active) > 50 {
			every = 5 * time.Second
		}
		if time.Since(lastStatus) >= every {
			lastStatus = time.Now()
			r.progress(ctx, now)
		}
		r.inj.step(ctx, now)
		r.appr.step(ctx, now)
		if r.finished(now) {
			r.progress(ctx, now)
			r.logf(now, "the last night's sweep is done; %d nights rehearsed, %d jumps skipped %s", r.o.Nights, r.jumps, r.jumped.Round(time.Minute))
			return nil
		}
		r.jump(ctx)
	}
}

// finished reports whether the last night's sweep has run and nothing is
// left to happen.
func (r *rehearsal) finished(now time.Time) bool {
	if now.Before(r.sched.end) || r.inj.pending() {
		return false
	}
	for _, tk := range r.st.KMS.Tasks() {
		if tk.Status != kmstwin.TaskCompleted {
			return false
		}
	}
	done := false
	r.st.FC.Quiesce(func(q fctwin.Quiet) {
		swept := false
		for _, inv := range q.History {
			if inv.Function == fnRotate && inv.Source == fctwin.SourceTimer && !inv.Enqueued.Before(r.sched.end.Add(-time.Second)) {
				swept = true
			}
		}
		done = swept && settled(q, r.inj.last)
	})
	return done
}

// progress prints the current run's progress when it changed.
func (r *rehearsal) progress(ctx context.Context, now time.Time) {
	cur, _, err := runstate.GetJSON[migration.CurrentRun](ctx, r.store, statekeys.Current)
	if err != nil {
		return
	}
	if cur.RunID != r.lastRun {
		r.lastRun = cur.RunID
		r.logf(now, "discover planned run %s", cur.RunID)
	}
	p, err := r.runStatus(ctx, cur.RunID)
	if err != nil {
		return
	}
	r.status = p
	line := fmt.Sprintf("%s: %d/%d batches finished", cur.RunID, p.Finished, p.Batches)
	planned := 0
	var active []string
	for _, a := range p.Active {
		if strings.HasSuffix(a, " "+string(migration.PhasePlanned)) {
			planned++
			continue
		}
		active = append(active, a)
	}
	if planned > 0 {
		line += fmt.Sprintf(", %d planned", planned)
	}
	if len(active) > 0 {
		line += "; " + clip(active, 24)
	}
	if line != r.lastLine {
		r.logf(now, "%s", line)
		r.lastLine = line
	}
}

// clockText shows a simulated time in the schedule's zone.
func (r *rehearsal) clockText(t time.Time) string { return t.In(r.sched.loc).Format("15:04:05") }

// logf prints a progress line stamped with the night and simulated time.
func (r *rehearsal) logf(now time.Time, format string, args ...any) {
	fmt.Fprintf(r.o.Progress, "night %d %s %s\n", r.sched.night(now), r.clockText(now), fmt.Sprintf(format, args...))
}
