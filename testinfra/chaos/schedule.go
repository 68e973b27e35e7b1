package chaos

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/verdict"
	"github.com/kmsmig/kmsmig/twin/acs"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// RunID is the run every schedule discovers and migrates.
const RunID = "chaos"

// epoch is where every schedule's virtual clock starts (02:00 in
// Asia/Shanghai, inside the usual window).
var epoch = time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC)

// Fault kinds, as counted in ScheduleResult.Faults.
const (
	FaultCrash      = "crash"
	FaultConflict   = "store-conflict"
	FaultDuplicate  = "duplicate-invocation"
	FaultConcurrent = "concurrent-invocation"
	FaultSkew       = "clock-skew"
	FaultThrottle   = "throttling"
	FaultTransient  = "transient-5xx"
	FaultStall      = "stalled-tasks"
	FaultFail       = "resource-failure"
	FaultFailPerm   = "resource-failure-permanent"
)

// skews are the clock offsets a skewed engine may have.
var skews = []time.Duration{-3 * time.Minute, -70 * time.Second, -20 * time.Second, 20 * time.Second, 70 * time.Second, 3 * time.Minute}

// profile is how hard one schedule presses: every schedule draws its own,
// so that the campaign covers calm and violent nights.
type profile struct {
	speed                        float64
	pCrash, pConflict, pSkew     float64
	pDup, pConc                  float64
	pThrottle, pErrors, pStall   float64
	pFail                        float64
	errorRate                    float64
	minAdvance, maxAdvanceExtent time.Duration
}

func drawProfile(r *mrand.Rand) profile {
	return profile{
		speed:  []float64{1, 2, 5}[r.IntN(3)],
		pCrash: 0.05 + 0.35*r.Float64(), pConflict: 0.3 * r.Float64(), pSkew: 0.3 * r.Float64(),
		pDup: 0.15 * r.Float64(), pConc: 0.25 * r.Float64(),
		pThrottle: 0.15 * r.Float64(), pErrors: 0.15 * r.Float64(), pStall: 0.1 * r.Float64(),
		pFail:      0.12 * r.Float64(),
		errorRate:  0.05 + 0.25*r.Float64(),
		minAdvance: 5 * time.Second, maxAdvanceExtent: time.Duration(10+r.IntN(50)) * time.Second,
	}
}

// copyFaults are the faults of one invocation.
type copyFaults struct {
	crash      bool
	crashN     int
	crashAfter bool
	conflict   bool
	conflictP  float64
	storeSeed  uint64
	skew       time.Duration
}

// stepPlan is everything the scheduler decided for one step. Every field
// is drawn every step, so that the RNG's sequence does not depend on what
// the engine did.
type stepPlan struct {
	action   int // index into actions
	pick     int // lane or batch index (mod their count at the time)
	copies   int
	parallel bool
	faults   [3]copyFaults

	toggleThrottle, toggleErrors, toggleStall bool
	errorSeed                                 uint64
	fail                                      bool
	failPick                                  int
	failKind                                  int // 0,1: retryable injected; 2: permanent reason
	failFor                                   int // steps until cleared; 0: permanent
	advance                                   time.Duration
}

func drawStep(r *mrand.Rand, p profile) stepPlan {
	var s stepPlan
	s.action = pickWeighted(r.IntN(totalWeight))
	s.pick = r.IntN(1 << 16)
	mode := r.Float64()
	s.copies = 1
	switch {
	case mode < p.pConc:
		s.copies, s.parallel = 2+r.IntN(2), true
	case mode < p.pConc+p.pDup:
		s.copies = 2
		r.IntN(2) // keep the draw count fixed
	default:
		r.IntN(2)
	}
	for i := range s.faults {
		f := &s.faults[i]
		f.crash = r.Float64() < p.pCrash
		f.crashN = 1 + r.IntN(4) + r.IntN(2)*r.IntN(8) // mostly early writes: most invocations make few
		f.crashAfter = r.IntN(2) == 1
		f.conflict = r.Float64() < p.pConflict
		f.conflictP = 0.15 + 0.35*r.Float64()
		f.storeSeed = r.Uint64()
		skewed := r.Float64() < p.pSkew
		sk := skews[r.IntN(len(skews))]
		if skewed {
			f.skew = sk
		}
	}
	s.toggleThrottle = r.Float64() < p.pThrottle
	s.toggleErrors = r.Float64() < p.pErrors
	s.toggleStall = r.Float64() < p.pStall
	s.errorSeed = r.Uint64()
	s.fail = r.Float64() < p.pFail
	s.failPick = r.IntN(1 << 16)
	s.failKind = r.IntN(3)
	s.failFor = r.IntN(6) // 0: permanent
	s.advance = p.minAdvance + time.Duration(r.Int64N(int64(p.maxAdvanceExtent)))
	return s
}

// actions are the invocations the scheduler chooses from, with weights.
var actions = []struct {
	name   string
	weight int
}{
	{"migrate", 24}, {"poll", 28}, {"rotate", 14}, {"migrate-lane", 8}, {"poll-lane", 8},
	{"restore-batch", 8}, {"step", 6}, {"disable-batch", 4},
}

var totalWeight = func() int {
	n := 0
	for _, a := range actions {
		n += a.weight
	}
	return n
}()

func pickWeighted(x int) int {
	for i, a := range actions {
		if x < a.weight {
			return i
		}
		x -= a.weight
	}
	return len(actions) - 1
}

// ScheduleResult is what one schedule did and found.
type ScheduleResult struct {
	Index int
	// Seed is the campaign seed the schedule was drawn from.
	Seed uint64
	// Faults counts the faults injected, by kind.
	Faults map[string]int
	// Steps is how many scheduled steps ran; DoneInBudget says whether the
	// run finished within them (before the faults were released).
	Steps        int
	DoneInBudget bool
	// ConvergeRounds is how many clean rounds the run needed afterwards.
	ConvergeRounds int
	// StepErrors counts invocations that returned an error (expected under
	// faults).
	StepErrors int
	Violations []Violation
	// Wall is how long the schedule took.
	Wall time.Duration
	// Log is the schedule's fault plan and what came of each step, for
	// reproducing a violation.
	Log []string
}

// FaultCount is the total of Faults.
func (r *ScheduleResult) FaultCount() int {
	n := 0
	for _, v := range r.Faults {
		n += v
	}
	return n
}

// Violation is one broken invariant.
type Violation struct {
	Seed      uint64 `json:"seed"`
	Schedule  int    `json:"schedule"`
	Invariant string `json:"invariant"`
	Detail    string `json:"detail"`
}

func (v Violation) String() string {
	return fmt.Sprintf("seed %d schedule %d: %s: %s", v.Seed, v.Schedule, v.Invariant, v.Detail)
}

// schedule is one schedule's world.
type schedule struct {
	res    *ScheduleResult
	rng    *mrand.Rand
	prof   profile
	st     *kmsStack
	client *kms.Client
	tasks  *kms.Tasks
	store  runstate.Store
	trail  *Trail
	cfg    app.Config

	migratable []verdict.Verdict
	throttled  bool
	erroring   bool
	stalled    bool
	failing    map[string]int // resource id → step at which to clear (-1: permanent)
}

// RunSchedule runs schedule index of the campaign seeded with seed on a
// fresh twin seeded with inv, for at most steps scheduled steps, then
// converges and checks the invariants. An error means the schedule could
// not be set up (no twin, no store, discovery failed without faults).
func RunSchedule(ctx context.Context, seed uint64, index int, inv *kmstwin.Inventory, steps int) (*ScheduleResult, error) {
	began := time.Now()
	s, closeFn, err := newSchedule(ctx, seed, index, inv)
	defer func() { s.res.Wall = time.Since(began) }()
	if err != nil {
		return s.res, err
	}
	defer closeFn()
	if err := s.drive(ctx, steps); err != nil {
		return s.res, err
	}
	if err := s.converge(ctx); err != nil {
		s.res.violate(InvConverged, err.Error())
	}
	s.check(ctx)
	return s.res, nil
}

// newSchedule starts schedule index's twin and store and discovers the
// run; closeFn stops the twin and removes the store.
func newSchedule(ctx context.Context, seed uint64, index int, inv *kmstwin.Inventory) (s *schedule, closeFn func(), err error) {
	res := &ScheduleResult{Index: index, Seed: seed, Faults: map[string]int{}}
	rng := mrand.New(mrand.NewPCG(seed, uint64(index)))
	s = &schedule{res: res, rng: rng, prof: drawProfile(rng), trail: &Trail{}, failing: map[string]int{}}
	var closers []func()
	closeFn = func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
	}
	defer func() {
		if err != nil {
			closeFn()
		}
	}()
	st, err := startKMS(inv, kmstwin.NewManualClock(epoch), kmstwin.TaskTiming{Speed: s.prof.speed})
	if err != nil {
		return s, closeFn, fmt.Errorf("chaos: start twin: %w", err)
	}
	closers = append(closers, st.Close)
	s.st = st
	if s.client, err = st.Client(); err != nil {
		return s, closeFn, err
	}
	s.tasks = s.client.Tasks(kms.TaskActions{})
	dir, err := os.MkdirTemp(stateRoot(), "kmsmig-chaos-")
	if err != nil {
		return s, closeFn, err
	}
	closers = append(closers, func() { _ = os.RemoveAll(dir) })
	if s.store, err = runstate.OpenDir(dir); err != nil {
		return s, closeFn, err
	}
	if err := s.discover(ctx); err != nil {
		return s, closeFn, err
	}
	res.Logf("profile %+v", s.prof)
	return s, closeFn, nil
}

// drive runs at most steps scheduled steps, stopping early once the run
// has finished.
func (s *schedule) drive(ctx context.Context, steps int) error {
	for step := range steps {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p := drawStep(s.rng, s.prof)
		s.world(step, p)
		t0 := time.Now()
		s.invoke(ctx, step, p)
		if d := time.Since(t0); d > 2*time.Second {
			s.res.Logf("step %d took %.1fs", step, d.Seconds())
		}
		s.res.Steps = step + 1
		s.st.Clock.Advance(p.advance)
		if prog, err := s.engine(s.store, 0).Status(ctx, RunID); err == nil && prog.Done() {
			s.res.DoneInBudget = true
			break
		}
	}
	return nil
}

// Logf appends one line to the schedule's log.
func (r *ScheduleResult) Logf(format string, args ...any) {
	r.Log = append(r.Log, fmt.Sprintf(format, args...))
}

func (r *ScheduleResult) violate(invariant, detail string) {
	r.Violations = append(r.Violations, Violation{Seed: r.Seed, Schedule: r.Index, Invariant: invariant, Detail: detail})
}

// stateRoot is where the schedules' directory stores live: a memory file
// system when there is one (the directory store fsyncs every write, and a
// campaign writes a great deal), else the temporary directory.
func stateRoot() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if f, err := os.CreateTemp("/dev/shm", "kmsmig-chaos-probe-"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/dev/shm"
		}
	}
	return os.TempDir()
}

// discover runs the discover function's work against the twin, without
// faults, and keeps the verdicts the invariants are checked against.
func (s *schedule) discover(ctx context.Context) error {
	cfg, err := app.LoadConfig(func(string) string { return "" })
	if err != nil {
		return err
	}
	cfg.Accounts = s.st.Accounts()
	s.cfg = cfg
	region := s.st.KMS.Regions()[0]
	if slices.Contains(s.st.KMS.Regions(), "cn-hangzhou") {
		region = "cn-hangzhou"
	}
	d := &app.Discoverer{Config: cfg, Source: s.client, Store: s.store, Region: region, Now: s.st.Clock.Now, Audit: s.trail}
	if _, err := d.Handle(ctx, app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: RunID}}); err != nil {
		return fmt.Errorf("chaos: discover: %w", err)
	}
	vs, _, err := runstate.GetJSON[verdict.Verdicts](ctx, s.store, statekeys.Verdicts(RunID))
	if err != nil {
		return fmt.Errorf("chaos: read verdicts: %w", err)
	}
	for _, v := range vs.Resources {
		if v.Verdict.WillMigrate() {
			s.migratable = append(s.migratable, v)
		}
	}
	slices.SortFunc(s.migratable, func(a, b verdict.Verdict) int {
		return cmp.Or(cmp.Compare(a.Lane.String(), b.Lane.String()), cmp.Compare(a.Resource, b.Resource), cmp.Compare(a.ID, b.ID))
	})
	return nil
}

// lowQPS are the twin's quotas while throttling: well below what the
// engine asks for in a burst.
var lowQPS = map[string]float64{
	kmstwin.GroupKeyMetadata: 15, kmstwin.GroupSecretMetadata: 15, kmstwin.GroupKeyModify: 5,
	kmstwin.GroupSecretModify: 5, kmstwin.GroupInstance: 4, kmstwin.GroupMigration: 3, kmstwin.GroupResourceTags: 20,
}

// world applies the step's faults on the twin.
func (s *schedule) world(step int, p stepPlan) {
	r := s.res
	if p.toggleThrottle {
		s.throttled = !s.throttled
		if s.throttled {
			for g, q := range lowQPS {
				s.st.KMS.Limiter().SetQPS(g, q)
			}
			r.Faults[FaultThrottle]++
		} else {
			s.st.KMS.DisableThrottling()
		}
		r.Logf("step %d: throttling %v", step, s.throttled)
	}
	if p.toggleErrors {
		s.erroring = !s.erroring
		if s.erroring {
			s.st.KMS.SetFaults(acs.Faults{ErrorRate: s.prof.errorRate, Seed: p.errorSeed})
			r.Faults[FaultTransient]++
		} else {
			s.st.KMS.SetFaults(acs.Faults{})
		}
		r.Logf("step %d: transient 5xx %v (rate %.2f)", step, s.erroring, s.prof.errorRate)
	}
	if p.toggleStall {
		s.stalled = !s.stalled
		s.st.KMS.StallTasks(s.stalled)
		if s.stalled {
			r.Faults[FaultStall]++
		}
		r.Logf("step %d: stalled tasks %v", step, s.stalled)
	}
	for id, at := range s.failing {
		if at >= 0 && at <= step {
			s.st.KMS.FailResource(id, "")
			delete(s.failing, id)
			r.Logf("step %d: resource %s fails no more", step, id)
		}
	}
	if p.fail && len(s.migratable) > 0 {
		v := s.migratable[p.failPick%len(s.migratable)]
		if _, ok := s.failing[v.ID]; !ok {
			code := kmstwin.ReasonInjected
			if p.failKind == 1 {
				code = "InternalError"
			}
			until := step + p.failFor
			if p.failFor == 0 {
				until = -1
				if p.failKind == 2 {
					code = kmstwin.ReasonKeyDisabled
					if v.Resource == verdict.ResourceSecret {
						code = kmstwin.ReasonSecretNameExists
					}
				}
				r.Faults[FaultFailPerm]++
			} else {
				r.Faults[FaultFail]++
			}
			s.st.KMS.FailResource(v.ID, code)
			s.failing[v.ID] = until
			r.Logf("step %d: resource %s %s fails with %s until step %d", step, v.Resource, v.ID, code, until)
		}
	}
}

// engine returns a fresh engine (a new function instance) over store,
// its clock skewed by skew.
func (s *schedule) engine(store runstate.Store, skew time.Duration) *migration.Engine {
	var clock migration.Clock = s.st.Clock
	if skew != 0 {
		clock = SkewedClock{Ref: s.st.Clock, Offset: skew}
	}
	return &migration.Engine{Store: store, KMS: s.client, Tasks: s.tasks, Audit: s.trail, Clock: clock}
}

// invoke runs the step's invocation in its copies, each on its own engine
// with its own faults.
func (s *schedule) invoke(ctx context.Context, step int, p stepPlan) {
	r := s.res
	name := actions[p.action].name
	target, err := s.target(ctx, name, p.pick)
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
	run := func(i int) {
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
		x := &app.Executor{Config: s.cfg, Engine: s.engine(store, f.skew), Now: s.st.Clock.Now}
		ictx := audit.WithScope(ctx, audit.Scope{RunID: RunID, RequestID: fmt.Sprintf("s%03d-%s-%d", step, name, i)})
		ictx, cancel := context.WithTimeout(ictx, 30*time.Second)
		defer cancel()
		res, err := s.call(ictx, x, name, target)
		outs[i].err = err
		for _, st := range res.Steps {
			outs[i].summary += fmt.Sprintf(" [%s %s %s→%s]", st.BatchID, st.Step, st.Outcome, st.Phase)
		}
	}
	if p.parallel {
		var wg sync.WaitGroup
		for i := range p.copies {
			wg.Go(func() { run(i) })
		}
		wg.Wait()
	} else {
		for i := range p.copies {
			run(i)
		}
	}
	for i, o := range outs {
		f := p.faults[i]
		desc := fmt.Sprintf("step %d.%d: %s %s", step, i, name, target)
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

// target names what an action works on: a lane or a batch, picked among
// those the run has now.
func (s *schedule) target(ctx context.Context, name string, pick int) (string, error) {
	switch name {
	case "migrate-lane", "poll-lane":
		lanes, err := s.engine(s.store, 0).Lanes(ctx, RunID)
		if err != nil || len(lanes) == 0 {
			return "", cmp.Or(err, errors.New("no lanes"))
		}
		return lanes[pick%len(lanes)].String(), nil
	case "restore-batch", "disable-batch":
		p, _, err := runstate.GetJSON[struct {
			Lanes []struct {
				Batches []struct {
					ID string `json:"id"`
				} `json:"batches"`
			} `json:"lanes"`
		}](ctx, s.store, statekeys.Plan(RunID))
		if err != nil {
			return "", err
		}
		var ids []string
		for _, l := range p.Lanes {
			for _, b := range l.Batches {
				ids = append(ids, b.ID)
			}
		}
		if len(ids) == 0 {
			return "", errors.New("no batches")
		}
		return ids[pick%len(ids)], nil
	}
	return "", nil
}

// call invokes one function's handler as Function Compute would.
func (s *schedule) call(ctx context.Context, x *app.Executor, name, target string) (app.StepResult, error) {
	ev := app.StepEvent{RunID: RunID}
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
		p, err := x.Engine.Step(ctx, RunID)
		return app.StepResult{RunID: RunID, Done: p.Done()}, err
	}
	return app.StepResult{}, fmt.Errorf("chaos: unknown action %q", name)
}

// converge releases every fault but the permanent resource failures and
// drives the run to its end with clean engines, the clock moving on.
func (s *schedule) converge(ctx context.Context) error {
	s.st.KMS.SetFaults(acs.Faults{})
	s.st.KMS.StallTasks(false)
	s.st.KMS.DisableThrottling()
	for id, at := range s.failing {
		if at >= 0 {
			s.st.KMS.FailResource(id, "")
			delete(s.failing, id)
		}
	}
	eng := s.engine(s.store, 0)
	var last error
	var prog migration.Progress
	for round := range 400 {
		cctx := audit.WithScope(ctx, audit.Scope{RunID: RunID, RequestID: fmt.Sprintf("converge-%03d", round)})
		p, err := eng.Step(cctx, RunID)
		prog, last = p, err
		if err == nil && p.Done() {
			s.res.ConvergeRounds = round + 1
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.st.Clock.Advance(30 * time.Second)
	}
	return fmt.Errorf("run not finished after 400 clean rounds: %v (last error: %v)", prog.Active, last)
}
