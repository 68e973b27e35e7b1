package chaos

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// A schedule of many nights (Options.Nights > 1) is the campaign of
// docs/design.md in miniature, on the virtual clock. Every night discover
// runs at 01:00 through app.Discoverer, exactly as its timer would (a new
// run id per night: run-YYYYMMDD; OpenRun, Held and the retirement of
// what earlier runs never submitted apply), and the window opens at 01:05
// for a length drawn per schedule; the night's scheduled steps (the same
// per-step faults as one night) run from 01:00 and the window may close
// in the middle of a task. Between two nights the day's timers run (poll
// and the daily sweep at 12:00) and the estate's owners change it at
// 18:00 (owners.go). On top of the per-step faults the night stream adds
// (operator.go): pauses and resumptions of the current run, aborts of
// batches (Engine.AbortBatch or rotate's abort), stalls that last across a
// night boundary, crashes of discover, and for the observe backend an
// operator who starts a published batch promptly, a night or two late, or
// never, with observation timeouts longer than a day.
//
// After the last night the faults are released and quiet nights follow
// (settle): the operator resumes what is paused and starts what he put
// off (never stays never), discover runs every night, clean rounds drive
// the window, until the campaign has converged: the current run finished,
// every other run closed, no ledger entry off. Then the invariants are
// checked across every run of the schedule (check.go).

// nightBase is 01:00 of the first night. The window is in UTC.
var nightBase = time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)

// nightAt is d after 01:00 of night n (counted from 0).
func nightAt(n int, d time.Duration) time.Time { return nightBase.AddDate(0, 0, n).Add(d) }

const (
	// windowOpens is when the window opens, after 01:00.
	windowOpens = 5 * time.Minute
	// maxQuietNights bounds the quiet nights after the faulty ones.
	maxQuietNights = 6
	// quietRound is how far the clock moves between two quiet rounds.
	quietRound = 30 * time.Second
	// nightStream tells the night stream's PCG from the step stream's.
	nightStream = 0x6e6967687473
)

// Fault kinds of a schedule of many nights, besides the per-step ones.
const (
	FaultDiscoverCrash = "discover-crash"
	FaultStallAcross   = "stall-across-nights"
	FaultPause         = "pause"
	FaultAbort         = "abort"
	FaultOperatorLate  = "operator-late"
	FaultOperatorNever = "operator-never"
	FaultOwnerRotation = "owner-rotation-change"
	// FaultOwnerHeld counts the owner's rotation changes made while
	// kmsmig's ledger entry of the resource was off (also counted in
	// FaultOwnerRotation).
	FaultOwnerHeld    = "owner-rotation-change-while-held-off"
	FaultResourceGone = "resource-deleted"
	FaultResourceNew  = "resource-created"
	FaultKeyState     = "key-state-change"
)

// nightProfile is how a schedule of many nights is configured and how
// hard its nights press, drawn from the night stream.
type nightProfile struct {
	WindowMinutes           int
	Observe                 bool
	ObserveTimeout          time.Duration
	Automatic               bool
	BatchKeys, BatchSecrets int
	PDiscoverCrash          float64
	PPause, PAbort          float64
	PStallAcross            float64
	MaxChanges              int
	PNightOwner             float64
	PLate, PNever           float64
}

func drawNightProfile(r *mrand.Rand) nightProfile {
	p := nightProfile{
		WindowMinutes:  []int{8, 15, 25}[r.IntN(3)],
		Observe:        r.Float64() < 0.3,
		ObserveTimeout: []time.Duration{26 * time.Hour, 30 * time.Hour, 40 * time.Hour, 49 * time.Hour}[r.IntN(4)],
		Automatic:      r.Float64() < 0.2,
		BatchKeys:      []int{2, 3, 50}[r.IntN(3)],
		BatchSecrets:   []int{2, 3, 50}[r.IntN(3)],
		PDiscoverCrash: 0.4 * r.Float64(),
		PPause:         0.05 * r.Float64(),
		PAbort:         0.05 * r.Float64(),
		PStallAcross:   0.6 * r.Float64(),
		MaxChanges:     r.IntN(6),
		PNightOwner:    0.04 * r.Float64(),
		PLate:          0.2 + 0.3*r.Float64(),
		PNever:         0.3 * r.Float64(),
	}
	if p.Observe {
		p.Automatic = false // the operator starts observed batches
	}
	return p
}

// window is the window's length.
func (p nightProfile) window() time.Duration { return time.Duration(p.WindowMinutes) * time.Minute }

// nightly is the state of a schedule of many nights.
type nightly struct {
	rng   *mrand.Rand
	prof  nightProfile
	count int
	// night is the night being driven (quiet nights go on counting);
	// quiet is set once the faults are released.
	night int
	quiet bool
	// runs are the runs discover started, oldest first.
	runs   []string
	paused map[string]bool
	// owners are the rotation changes the owners made and KMS accepted,
	// in order; created and deleted the resources they added (with their
	// rotation then) and removed.
	owners  []ownerChange
	created map[resKey]createdResource
	deleted map[resKey]bool
	seq     int
	// handoffs are the operator's decisions on published batches (run
	// and batch id); opTasks the tasks he created, for which batch.
	handoffs map[string]*handoff
	opTasks  map[string]string
}

func newNightly(seed uint64, index, nights int) *nightly {
	r := mrand.New(mrand.NewPCG(seed^nightStream, uint64(index)))
	return &nightly{rng: r, prof: drawNightProfile(r), count: nights, paused: map[string]bool{},
		created: map[resKey]createdResource{}, deleted: map[resKey]bool{},
		handoffs: map[string]*handoff{}, opTasks: map[string]string{}}
}

// env is the functions' environment for the night profile.
func (n *nightly) env() map[string]string {
	p := n.prof
	env := map[string]string{
		"KMSMIG_WINDOW":        fmt.Sprintf("01:%02d-01:%02d", int(windowOpens/time.Minute), int(windowOpens/time.Minute)+p.WindowMinutes),
		"KMSMIG_BATCH_KEYS":    strconv.Itoa(p.BatchKeys),
		"KMSMIG_BATCH_SECRETS": strconv.Itoa(p.BatchSecrets),
	}
	if p.Observe {
		env["KMSMIG_BACKEND"], env["KMSMIG_OBSERVE_TIMEOUT"] = "observe", p.ObserveTimeout.String()
	}
	if p.Automatic {
		env["KMSMIG_METHOD"] = "automatic"
	}
	return env
}

// campaign runs the faulty nights: discover at 01:00, the night's steps,
// then the day between two nights.
func (s *schedule) campaign(ctx context.Context, steps int) error {
	n := s.nights
	for night := range n.count {
		n.night = night
		if night > 0 {
			s.between(ctx, night)
		}
		s.setClock(nightAt(night, 0))
		if err := s.discoverNight(ctx); err != nil {
			return err
		}
		if err := s.drive(ctx, night*steps, steps); err != nil {
			return err
		}
		s.endNight(night)
	}
	if ok, _ := s.converged(ctx); ok {
		s.res.DoneInBudget = true
	}
	return ctx.Err()
}

// setClock moves the virtual clock forward to t (never back).
func (s *schedule) setClock(t time.Time) {
	if t.After(s.st.Clock.Now()) {
		s.st.Clock.Set(t)
	}
}

// discoverNight runs discover as its nightly timer does: the trigger time
// names the run. The first attempt may crash at a store write (the
// schedule draws it); Function Compute retries an asynchronous invocation
// that fails, and so does the schedule, up to three times. A night whose
// discover never succeeds keeps the previous run current; the first night
// must succeed.
func (s *schedule) discoverNight(ctx context.Context) error {
	n := s.nights
	at := s.st.Clock.Now()
	ev := app.DiscoverEvent{TimerEvent: app.TimerEvent{TriggerTime: at.Format(time.RFC3339), TriggerName: "discover"}}
	crashAt, crashAfter := 1+n.rng.IntN(8), n.rng.IntN(2) == 1
	crash := !n.quiet && n.rng.Float64() < n.prof.PDiscoverCrash
	var err error
	for attempt := range 4 {
		var store runstate.Store = s.store
		var cs *CrashStore
		if attempt == 0 && crash {
			cs = &CrashStore{Store: s.store, N: crashAt, After: crashAfter}
			store = cs
		}
		ictx := audit.WithScope(ctx, audit.Scope{RequestID: fmt.Sprintf("n%d-discover-%d", n.night, attempt)})
		var res app.DiscoverResult
		res, err = s.discoverer(store).Handle(ictx, ev)
		desc := fmt.Sprintf("night %d: discover %s at %s: %d batches, %d new, incomplete %v", n.night, res.RunID,
			at.Format("01-02 15:04"), res.Batches, res.NewBatches, res.Incomplete)
		if cs != nil && cs.Crashed() {
			s.res.Faults[FaultDiscoverCrash]++
			desc += fmt.Sprintf(" crashed at write %d (after=%v)", crashAt, crashAfter)
		}
		if err != nil {
			desc += " error: " + err.Error()
		}
		s.res.Logf("%s", desc)
		if err == nil {
			break
		}
	}
	if err != nil && len(n.runs) == 0 {
		return fmt.Errorf("chaos: discover the first night: %w", err)
	}
	cur, cerr := s.engine(s.view, 0).Current(ctx)
	if cerr != nil {
		return fmt.Errorf("chaos: current run: %w", cerr)
	}
	s.run = cur
	if !slices.Contains(n.runs, cur) {
		n.runs = append(n.runs, cur)
	}
	return s.readMigratable(ctx)
}

// between is the day after night-1: the timers at 12:00 (the operators
// who come in late first), the owners' changes at 18:00.
func (s *schedule) between(ctx context.Context, night int) {
	s.setClock(nightAt(night-1, 11*time.Hour))
	s.operateDay(ctx, night)
	s.timers(ctx, fmt.Sprintf("d%d", night))
	s.setClock(nightAt(night-1, 17*time.Hour))
	s.ownersChange(ctx, night)
}

// timers runs what the functions' timers do all day long outside the
// window: poll (every open run) and the daily sweep, on a fresh engine.
func (s *schedule) timers(ctx context.Context, tag string) {
	x := s.executor(s.engine(s.store, 0))
	pctx := audit.WithScope(ctx, audit.Scope{RequestID: tag + "-poll"})
	if _, err := x.Poll(pctx, app.StepEvent{}); err != nil {
		s.res.Logf("%s: poll: %v", tag, err)
	}
	rctx := audit.WithScope(ctx, audit.Scope{RequestID: tag + "-sweep"})
	if _, err := x.Rotate(rctx, app.RotateEvent{Action: "sweep"}); err != nil {
		s.res.Logf("%s: sweep: %v", tag, err)
	}
}

// endNight may leave the tasks stalled into the day and the next night.
func (s *schedule) endNight(night int) {
	n := s.nights
	if n.rng.Float64() < n.prof.PStallAcross && !s.stalled {
		s.stalled = true
		s.st.KMS.StallTasks(true)
		s.res.Faults[FaultStallAcross]++
		s.res.Logf("night %d ends: tasks stall into the next day", night)
	}
}

// settle releases the faults and runs quiet nights until the campaign has
// converged (or maxQuietNights have passed: an error saying why not).
func (s *schedule) settle(ctx context.Context) error {
	n := s.nights
	n.quiet = true
	s.release()
	eng := s.engine(s.store, 0)
	for _, run := range n.runs {
		if n.paused[run] {
			if _, err := eng.Pause(audit.WithScope(ctx, audit.Scope{RunID: run, RequestID: "settle-resume"}), run, false, "chaos-operator", "the faults are over"); err != nil {
				s.res.Logf("settle: resume %s: %v", run, err)
				continue
			}
			n.paused[run] = false
			s.res.Logf("settle: resumed %s", run)
		}
	}
	step := s.res.Steps
	for q := range maxQuietNights {
		night := n.count + q
		n.night = night
		s.setClock(nightAt(night-1, 11*time.Hour))
		s.operateDay(ctx, night)
		s.timers(ctx, fmt.Sprintf("q%d", q))
		s.setClock(nightAt(night, 0))
		if err := s.discoverNight(ctx); err != nil {
			return err
		}
		held, err := s.engine(s.view, 0).Held(ctx, s.run)
		if err != nil {
			return fmt.Errorf("chaos: held: %w", err)
		}
		s.setClock(nightAt(night, windowOpens))
		end := nightAt(night, windowOpens+n.prof.window()+15*time.Minute)
		for round := 0; s.st.Clock.Now().Before(end); round++ {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.res.ConvergeRounds++
			step++
			if n.prof.Observe {
				s.consoleOperator(ctx, step)
			}
			s.quietRound(ctx, fmt.Sprintf("q%d-r%03d", q, round))
			if ok, _ := s.converged(ctx); ok {
				s.res.Logf("night %d: converged at %s; %d held at discover (%v)", night, s.st.Clock.Now().Format("01-02 15:04"), len(held), heldNames(held))
				return nil
			}
			if s.idle(ctx) {
				break
			}
			s.st.Clock.Advance(quietRound)
		}
		for _, t := range s.st.KMS.TaskLog() {
			if t.Status != "Completed" {
				s.res.Logf("DEBUG task %s %s %s created %s started %s keys %v secrets %v", t.ID, t.Method, t.Status, t.Created.Format("01-02 15:04:05"), t.Started.Format("01-02 15:04:05"), t.Keys, t.Secrets)
			}
		}
		_, why := s.converged(ctx)
		s.res.Logf("night %d ends at %s: not converged: %s; %d held at discover (%v)", night, s.st.Clock.Now().Format("01-02 15:04"), why, len(held), heldNames(held))
	}
	_, why := s.converged(ctx)
	return fmt.Errorf("campaign not converged after %d quiet nights: %s", maxQuietNights, why)
}

// quietRound is one round of the functions without faults: migrate, poll
// and the sweep, as their timers send them.
func (s *schedule) quietRound(ctx context.Context, tag string) {
	x := s.executor(s.engine(s.store, 0))
	var errs []error
	for _, f := range []struct {
		name string
		call func(context.Context) error
	}{
		{"migrate", func(c context.Context) error { _, err := x.Migrate(c, app.StepEvent{}); return err }},
		{"poll", func(c context.Context) error { _, err := x.Poll(c, app.StepEvent{}); return err }},
		{"sweep", func(c context.Context) error { _, err := x.Rotate(c, app.RotateEvent{Action: "sweep"}); return err }},
	} {
		if err := f.call(audit.WithScope(ctx, audit.Scope{RunID: s.run, RequestID: tag + "-" + f.name})); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		s.res.Logf("%s: %v", tag, err)
	}
}

// converged reports whether the campaign has nothing left to do: the
// current run has finished, every other run is closed and no ledger entry
// is off; why says what is left.
func (s *schedule) converged(ctx context.Context) (bool, string) {
	e := s.engine(s.view, 0)
	p, err := e.Status(ctx, s.run)
	if err != nil {
		return false, err.Error()
	}
	if !p.Done() {
		return false, fmt.Sprintf("run %s: %v", s.run, p.Active)
	}
	runs, err := e.ActiveRuns(ctx)
	if err != nil {
		return false, err.Error()
	}
	if len(runs) > 1 {
		var open []string
		for _, r := range runs {
			if r == s.run {
				continue
			}
			states, _ := s.runStates(ctx, r)
			for _, st := range states {
				if !st.Finished() {
					open = append(open, fmt.Sprintf("%s %s %s", r, st.ID, st.Phase))
				}
			}
		}
		return false, fmt.Sprintf("runs still open: %v; unfinished: %v", runs, open)
	}
	keys, err := s.view.List(ctx, statekeys.LedgerPrefix)
	if err != nil {
		return false, err.Error()
	}
	for _, k := range keys {
		le, _, err := runstate.GetJSON[migration.LedgerEntry](ctx, s.view, k)
		if err != nil || le.Off() {
			return false, fmt.Sprintf("ledger entry %s off (%v)", k, err)
		}
	}
	return true, ""
}

// idle reports whether a quiet night has nothing more to do before the
// next day: the current run has finished and every unfinished batch of
// another run awaits an operator who will not start it tonight.
func (s *schedule) idle(ctx context.Context) bool {
	p, err := s.engine(s.view, 0).Status(ctx, s.run)
	if err != nil || !p.Done() {
		return false
	}
	for _, r := range s.nights.runs {
		states, err := s.runStates(ctx, r)
		if err != nil {
			return false
		}
		for _, st := range states {
			if st.Finished() {
				continue
			}
			h := s.nights.handoffs[r+" "+st.ID]
			if st.Phase != migration.PhaseAwaitingOperator || h == nil || !h.never {
				return false
			}
		}
	}
	return true
}

// runStates reads every batch state of a run, in key order.
func (s *schedule) runStates(ctx context.Context, run string) ([]migration.BatchState, error) {
	keys, err := s.view.List(ctx, statekeys.BatchPrefix(run))
	if err != nil {
		return nil, err
	}
	slices.Sort(keys)
	var out []migration.BatchState
	for _, k := range keys {
		st, _, err := runstate.GetJSON[migration.BatchState](ctx, s.view, k)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// runRef names a batch of a run, as the operator's bookkeeping keys it.
func runRef(run, batch string) string { return run + " " + batch }

func splitRef(ref string) (run, batch string) {
	run, batch, _ = strings.Cut(ref, " ")
	return run, batch
}

func heldNames(held []plan.Held) []string {
	var out []string
	for _, h := range held {
		out = append(out, fmt.Sprintf("%s %s of %s %s", h.Resource, h.ID, h.RunID, h.BatchID))
	}
	return out
}
