package chaos

import (
	"cmp"
	"context"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"slices"
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

// RunID is the run a schedule of one night discovers and migrates. A
// schedule of many nights discovers as the timer does (run-YYYYMMDD).
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
	// State is the run-state store: StateOSS or StateDir.
	State string
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
	// store is the run-state store the functions use (on OSS: through
	// the twin's faults); view is the same state as the harness reads it
	// (the operator, the checks): on OSS through the clean twin, else
	// store itself.
	store runstate.Store
	view  runstate.Store
	oss   *ossState
	trail *Trail
	cfg   app.Config

	// run is the run the schedule drives: RunID, or the campaign's current
	// run; nights is nil for a schedule of one night.
	run    string
	nights *nightly

	migratable []verdict.Verdict
	throttled  bool
	erroring   bool
	errorSeed  uint64
	stalled    bool
	failing    map[string]int // resource id → step at which to clear (-1: permanent)
}

// RunSchedule runs schedule index of the campaign seeded with seed on a
// fresh twin seeded with inv, then converges and checks the invariants.
// One night (nights <= 1): one run, at most steps scheduled steps. Many
// nights: steps scheduled steps every night (nightly.go), then quiet
// nights until the campaign has converged. An error means the schedule
// could not be set up (no twin, no store, discovery failed without
// faults). state is StateOSS or StateDir: the run-state store.
func RunSchedule(ctx context.Context, seed uint64, index int, inv *kmstwin.Inventory, steps, nights int, state string) (*ScheduleResult, error) {
	began := time.Now()
	s, closeFn, err := newSchedule(ctx, seed, index, inv, nights, state)
	defer func() { s.res.Wall = time.Since(began) }()
	if err != nil {
		return s.res, err
	}
	defer closeFn()
	defer s.countOSS()
	if s.nights != nil {
		if err := s.campaign(ctx, steps); err != nil {
			return s.res, err
		}
		if err := s.settle(ctx); err != nil {
			s.res.violate(InvConverged, err.Error())
		}
		s.check(ctx)
		return s.res, nil
	}
	if err := s.drive(ctx, 0, steps); err != nil {
		return s.res, err
	}
	if err := s.converge(ctx); err != nil {
		s.res.violate(InvConverged, err.Error())
	}
	s.check(ctx)
	return s.res, nil
}

// newSchedule starts schedule index's twin and store and, for one night,
// discovers the run; closeFn stops the twin and removes the store. A
// schedule of many nights draws its night profile from a stream of its
// own (nightly.go), so that the per-step draws are those of one night.
func newSchedule(ctx context.Context, seed uint64, index int, inv *kmstwin.Inventory, nights int, state string) (s *schedule, closeFn func(), err error) {
	res := &ScheduleResult{Index: index, Seed: seed, State: state, Faults: map[string]int{}}
	rng := mrand.New(mrand.NewPCG(seed, uint64(index)))
	s = &schedule{res: res, rng: rng, prof: drawProfile(rng), trail: &Trail{}, failing: map[string]int{}, run: RunID}
	if nights > 1 {
		s.nights = newNightly(seed, index, nights)
	}
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
	start := epoch
	if s.nights != nil {
		start = nightAt(0, 0)
	}
	st, err := startKMS(inv, kmstwin.NewManualClock(start), kmstwin.TaskTiming{Speed: s.prof.speed})
	if err != nil {
		return s, closeFn, fmt.Errorf("chaos: start twin: %w", err)
	}
	closers = append(closers, st.Close)
	s.st = st
	if s.client, err = st.Client(); err != nil {
		return s, closeFn, err
	}
	s.tasks = s.client.Tasks(kms.TaskActions{})
	closeState, err := s.openState(ctx, state, seed, index)
	closers = append(closers, closeState)
	if err != nil {
		return s, closeFn, err
	}
	if s.cfg, err = s.config(); err != nil {
		return s, closeFn, err
	}
	if s.nights == nil {
		if err := s.discover(ctx); err != nil {
			return s, closeFn, err
		}
	}
	res.Logf("profile %+v", s.prof)
	if s.oss != nil {
		res.Logf("oss store oss://%s/%s, profile %+v", stateBucket, statePrefix, s.oss.prof)
	}
	if s.nights != nil {
		res.Logf("nights %d, profile %+v", s.nights.count, s.nights.prof)
	}
	return s, closeFn, nil
}

// drive runs at most steps scheduled steps, numbered from first, stopping
// early once the run (many nights: the campaign) has finished.
func (s *schedule) drive(ctx context.Context, first, steps int) error {
	for i := range steps {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		step := first + i
		p := drawStep(s.rng, s.prof)
		s.world(step, p)
		s.ossWorld(step)
		if s.nights != nil {
			s.operate(ctx, step)
		}
		t0 := time.Now()
		s.invoke(ctx, step, p)
		if d := time.Since(t0); d > 2*time.Second {
			s.res.Logf("step %d took %.1fs", step, d.Seconds())
		}
		s.res.Steps = step + 1
		s.st.Clock.Advance(p.advance)
		if s.nights != nil {
			if ok, _ := s.converged(ctx); ok {
				break
			}
			continue
		}
		if prog, err := s.engine(s.view, 0).Status(ctx, RunID); err == nil && prog.Done() {
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

// config is the functions' configuration of the schedule: defaults for
// one night; for many nights, the night profile's window, backend and
// batch sizes, read by app.LoadConfig as the functions read theirs.
func (s *schedule) config() (app.Config, error) {
	env := map[string]string{}
	if s.nights != nil {
		env = s.nights.env()
	}
	cfg, err := app.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		return app.Config{}, fmt.Errorf("chaos: configuration %v: %w", env, err)
	}
	cfg.Accounts = s.st.Accounts()
	return cfg, nil
}

// discoverer is the discover function over store.
func (s *schedule) discoverer(store runstate.Store) *app.Discoverer {
	region := s.st.KMS.Regions()[0]
	if slices.Contains(s.st.KMS.Regions(), "cn-hangzhou") {
		region = "cn-hangzhou"
	}
	return &app.Discoverer{Config: s.cfg, Source: s.client, Store: store, Region: region, Now: s.st.Clock.Now, Audit: s.trail}
}

// discover runs the discover function's work against the twin, without
// faults, and keeps the verdicts the failures are drawn from.
func (s *schedule) discover(ctx context.Context) error {
	if _, err := s.discoverer(s.store).Handle(ctx, app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: RunID}}); err != nil {
		return fmt.Errorf("chaos: discover: %w", err)
	}
	return s.readMigratable(ctx)
}

// readMigratable keeps the migratable verdicts of the run the schedule
// drives: the resources a fault may make fail.
func (s *schedule) readMigratable(ctx context.Context) error {
	vs, _, err := runstate.GetJSON[verdict.Verdicts](ctx, s.view, statekeys.Verdicts(s.run))
	if err != nil {
		return fmt.Errorf("chaos: read verdicts: %w", err)
	}
	s.migratable = nil
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
			s.errorSeed = p.errorSeed
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

// release lifts every fault but the permanent resource failures.
func (s *schedule) release() {
	s.releaseOSS()
	s.st.KMS.SetFaults(acs.Faults{})
	s.st.KMS.StallTasks(false)
	s.st.KMS.DisableThrottling()
	s.throttled, s.erroring, s.stalled = false, false, false
	for id, at := range s.failing {
		if at >= 0 {
			s.st.KMS.FailResource(id, "")
			delete(s.failing, id)
		}
	}
}

// quietly runs f with the twin's transient errors and throttling lifted,
// then puts them back as they were: what the schedule itself does to the
// estate (its owners, its operator) is not under test.
func (s *schedule) quietly(f func()) {
	if s.erroring {
		s.st.KMS.SetFaults(acs.Faults{})
	}
	if s.throttled {
		s.st.KMS.DisableThrottling()
	}
	f()
	if s.erroring {
		s.st.KMS.SetFaults(acs.Faults{ErrorRate: s.prof.errorRate, Seed: s.errorSeed})
	}
	if s.throttled {
		for g, q := range lowQPS {
			s.st.KMS.Limiter().SetQPS(g, q)
		}
	}
}

// converge releases every fault but the permanent resource failures and
// drives the run to its end with clean engines, the clock moving on.
func (s *schedule) converge(ctx context.Context) error {
	s.release()
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
