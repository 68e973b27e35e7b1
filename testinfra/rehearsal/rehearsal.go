package rehearsal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kmsmig/kmsmig/deploy"
	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/aliyun/ram"
	"github.com/kmsmig/kmsmig/shared/aliyun/sls"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/wiring"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	fctwin "github.com/kmsmig/kmsmig/twin/fc"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// Options configure a rehearsal.
type Options struct {
	// Inventory seeds the KMS twin. Required.
	Inventory *kmstwin.Inventory
	// SYAML is the deployment's s.yaml. Required.
	SYAML string
	// Dist holds the function binaries as `make build` lays them out:
	// <dist>/<name>/main. Required.
	Dist string
	// Speed is how many simulated seconds pass per second (default 60: a
	// simulated minute per second), between jumps.
	Speed float64
	// Timezone of the schedule (default Asia/Shanghai, as in s.yaml).
	Timezone string
	// Nights is how many nights to rehearse (default 1). From the second
	// night on, events are injected (events.go).
	Nights int
	// Window is the migration window, HH:MM-HH:MM in Timezone
	// (KMSMIG_WINDOW); migrate's timer fires at its start. Empty: s.yaml's
	// KMSMIG_WINDOW and migrate's timer as deployed.
	Window string
	// Settings override s.yaml's KMSMIG_* settings of every function, e.g.
	// smaller batches in a test.
	Settings map[string]string
	// Timeout bounds the rehearsal in wall-clock time (default 150s per
	// night).
	Timeout time.Duration
	// Progress receives live progress lines; nil discards them.
	Progress io.Writer
	// TaskAPIAbsent rehearses a cloud without the migration task API: the
	// KMS twin answers every task action as an unknown one. The
	// rehearsal then also checks that no rotation policy was changed and
	// that every lane's discovery report says the API is unavailable.
	TaskAPIAbsent bool
}

// The functions, as s.yaml names them.
const (
	fnDiscover = "kmsmig-discover"
	fnMigrate  = "kmsmig-migrate"
	fnPoll     = "kmsmig-poll"
	fnRotate   = "kmsmig-rotate"
	auditStore = "kmsmig-audit"
)

var functionNames = []string{fnDiscover, fnMigrate, fnPoll, fnRotate}

// Result is what a rehearsal did and found.
type Result struct {
	// RunID is the last night's run.
	RunID string
	Wall  time.Duration
	// Discover is the first night's discover result.
	Discover app.DiscoverResult
	// Report is the last run's report.
	Report migration.Report
	// DiscoveryMD is the first night's discovery report (report.md);
	// RunMD the last run's run report.
	DiscoveryMD []byte
	RunMD       []byte
	// Runs are the campaign's runs, one per night, oldest first.
	Runs []NightRun
	// Nights were rehearsed; NightsUsed is the night of the last task.
	Nights     int
	NightsUsed int
	LowerBound LowerBound
	// Window is the window rehearsed ("" when always open).
	Window string
	// Moved and Reported count the resources that any night planned:
	// in their instance now, or reported with a reason. Restored and
	// Superseded count the campaign ledger's entries: given back as
	// recorded, or left as their owner set them.
	Moved, Reported, Restored, Superseded int
	Events                                []Event
	// Approvals are the nights' approvals (KMSMIG_APPROVAL=required).
	Approvals []Approval
	// Jumps counts the clock's jumps; Jumped is the simulated time they
	// skipped.
	Jumps       int
	Jumped      time.Duration
	Checks      []Check
	Invocations map[string]int // per function
	// Functions are each function's invocations, instances and peak
	// memory (per invocation and per instance), from the FC twin.
	Functions   map[string]FunctionUse
	Failed      []string // invocations that failed for good
	ColdStarts  map[string]fctwin.ColdStart
	Binaries    map[string]int64 // bytes
	AuditRecord int
	// Alerts counts the alerts raised (not de-duplicated), by kind
	// (alert.KindTaskStalled, ...), from the audit trail.
	Alerts map[string]int
	// Tasks is the KMS twin's task log at the end (provider times), and
	// InvocationLog every invocation the FC twin ran (simulated times):
	// a timeline of where the window went.
	Tasks         []kmstwin.TaskInfo
	InvocationLog []fctwin.Invocation
}

// NightRun is one night's run of the campaign.
type NightRun struct {
	RunID       string           `json:"runId"`
	Night       int              `json:"night"`
	Report      migration.Report `json:"report"`
	DiscoveryMD []byte           `json:"-"`
	RunMD       []byte           `json:"-"`
}

// Check is one verified expectation.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// OK reports whether every check passed.
func (r *Result) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return len(r.Checks) > 0
}

// Summary is the rehearsal's one-line outcome:
//
//	rehearse: N nights (lower bound L), M moved, K reported, P policies restored, Q superseded
//
// N is the nights used (the night of the last migration task), L the
// LowerBound.
func (r *Result) Summary() string {
	return fmt.Sprintf("rehearse: %d nights (lower bound %d), %d moved, %d reported, %d policies restored, %d superseded",
		r.NightsUsed, r.LowerBound.Nights, r.Moved, r.Reported, r.Restored, r.Superseded)
}

// rehearsal is one rehearsal under way.
type rehearsal struct {
	o     Options
	st    *stack.Stack
	clock *fctwin.Clock
	sched *schedule
	store runstate.Store
	eng   *migration.Engine
	inj   *injector
	appr  *approver

	jumps   int
	jumped  time.Duration
	jumpErr error
	// busyUntil: a batch was under way when last looked at (wall clock).
	busyUntil time.Time
	lastRun   string
	lastLine  string
	// status is the current run's latest progress.
	status migration.Progress
	plan1  *plan.Plan
	// fns are the functions as deployed.
	fns map[string]fctwin.Function
	// finishedKeys and finishedIDs (per run) are the batches seen
	// finished.
	finishedKeys map[string]bool
	finishedIDs  map[string]map[string]bool
}

// Run performs a rehearsal. It returns an error when the rehearsal could
// not run (bad options, missing binaries, timeout); a migration that ran
// but did not end as expected is reported by Result.Checks.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	wallStart := time.Now()
	loc, err := time.LoadLocation(o.Timezone)
	if err != nil {
		return nil, fmt.Errorf("rehearsal: timezone %q: %w", o.Timezone, err)
	}
	today := time.Now().In(loc)
	// The clock starts at midnight; once the timers are known it moves to
	// just before the first discover.
	w, err := bringUp(ctx, &o, time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, loc))
	if err != nil {
		return nil, err
	}
	defer w.close()
	st, clock, home, logs := w.st, w.clock, w.home, w.logs
	ready := st.Ready()
	caFile, clockFile := w.caFile, w.clockFile

	res := &Result{Invocations: map[string]int{}, ColdStarts: map[string]fctwin.ColdStart{}, Binaries: map[string]int64{}, Nights: o.Nights}
	r := &rehearsal{o: o, st: st, clock: clock}
	r.inj = &injector{r: r, owner: map[string]estate.Rotation{}, tried: map[int]bool{}, letGo: map[string]bool{}}
	r.appr = &approver{r: r, done: map[int]bool{}}
	fns, err := o.load(st, caFile, clockFile, res)
	if err != nil {
		return nil, err
	}
	r.fns = fns
	window := o.Window
	if window == "" {
		window = fns[fnMigrate].Env["KMSMIG_WINDOW"]
	}
	if r.sched, err = newSchedule(today, loc, o.Nights, timerOf(fns[fnDiscover]), timerOf(fns[fnRotate]), window); err != nil {
		return nil, err
	}
	res.Window = window
	if _, err := clock.Jump(r.sched.start); err != nil {
		return nil, err
	}
	for _, name := range functionNames {
		fn := fns[name]
		fn.Env["KMSMIG_WINDOW"] = window
		if err := st.FC.Deploy(fn); err != nil {
			return nil, fmt.Errorf("rehearsal: deploy %s: %w", fn.Name, err)
		}
	}
	shown := window
	if shown == "" {
		shown = "always open"
	}
	r.logf(clock.Now(), "twins up (%d KMS regions, %d accounts); functions deployed from %s; %d night(s), window %s, at %gx between jumps",
		len(ready.KMS), len(ready.Accounts), o.SYAML, o.Nights, shown, o.Speed)

	if r.store, err = openStore(ctx, ready, home); err != nil {
		return nil, err
	}
	r.eng = &migration.Engine{Store: r.store, Clock: utcClock{clock}}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := r.follow(ctx); err != nil {
		return nil, fmt.Errorf("%w\nlast function output:\n%s", err, logs.String())
	}
	res.Wall = time.Since(wallStart)
	res.Jumps, res.Jumped, res.Events, res.Approvals = r.jumps, r.jumped, r.inj.events, r.appr.approvals
	if err := r.collect(ctx, home, res); err != nil {
		return nil, err
	}
	return res, nil
}

func (o *Options) defaults() error {
	switch {
	case o.Inventory == nil:
		return errors.New("rehearsal: no inventory")
	case o.SYAML == "":
		return errors.New("rehearsal: no s.yaml")
	case o.Dist == "":
		return errors.New("rehearsal: no dist directory")
	case o.Nights < 0:
		return fmt.Errorf("rehearsal: %d nights", o.Nights)
	}
	if o.Window != "" {
		if _, err := app.ParseDailyWindow(o.Window); err != nil {
			return fmt.Errorf("rehearsal: window: %w", err)
		}
	}
	// The FC twin starts each function in a directory of its own.
	abs, err := filepath.Abs(o.Dist)
	if err != nil {
		return fmt.Errorf("rehearsal: dist %s: %w", o.Dist, err)
	}
	o.Dist = abs
	if o.Speed <= 0 {
		o.Speed = 60
	}
	if o.Timezone == "" {
		o.Timezone = "Asia/Shanghai"
	}
	if o.Nights == 0 {
		o.Nights = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Duration(o.Nights) * 150 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return nil
}

// world is the twins of a rehearsal, up, with the files the functions
// read (the twins' CA, the published clock).
type world struct {
	st                *stack.Stack
	clock             *fctwin.Clock
	home              stack.Account
	logs              *logTail
	tmp               string
	caFile, clockFile string
}

// bringUp starts the twins on a clock at start running o.Speed times
// faster than real time (every quota scaled alike), publishes the clock,
// and creates the audit logstore.
func bringUp(ctx context.Context, o *Options, start time.Time) (*world, error) {
	clock := fctwin.NewClock(start, o.Speed)
	logs := &logTail{}
	// Every rate scales with the clock: the gateway's quotas too, or the
	// functions' API work would look Speed times slower than it is.
	qps := map[string]float64{}
	for g, q := range kmstwin.DefaultQuotas() {
		qps[g] = q * o.Speed
	}
	st, err := stack.Start(stack.Options{
		Inventory:     o.Inventory,
		QPS:           qps,
		Clock:         utcClock{clock},
		FC:            fctwin.Config{Clock: clock, Log: logs.add},
		TaskAPIAbsent: o.TaskAPIAbsent,
	})
	if err != nil {
		return nil, err
	}
	w := &world{st: st, clock: clock, logs: logs}
	ready := st.Ready()
	w.home = account(ready, ready.Home)
	if w.tmp, err = os.MkdirTemp("", "kmsmig-rehearsal-"); err != nil {
		st.Close()
		return nil, err
	}
	w.caFile = filepath.Join(w.tmp, "twin-ca.pem")
	w.clockFile = filepath.Join(w.tmp, "clock.json")
	if err := os.WriteFile(w.caFile, []byte(ready.CAPEM), 0o600); err != nil {
		w.close()
		return nil, err
	}
	if err := clock.Publish(w.clockFile); err != nil {
		w.close()
		return nil, err
	}
	if _, err := sls.EnsureLogstore(ctx, sls.SetupConfig{Endpoint: ready.SLS, DialAddr: ready.SLS, Project: ready.LogProject,
		Logstore: auditStore, Credentials: sls.Credentials{AccessKeyID: w.home.AccessKeyID, AccessKeySecret: w.home.AccessKeySecret}}); err != nil {
		w.close()
		return nil, fmt.Errorf("rehearsal: audit logstore: %w", err)
	}
	return w, nil
}

func (w *world) close() {
	w.st.Close()
	if w.tmp != "" {
		os.RemoveAll(w.tmp)
	}
}

// utcClock reads the FC twin's clock in UTC, for the KMS twin and the
// engine.
type utcClock struct{ c *fctwin.Clock }

func (u utcClock) Now() time.Time { return u.c.Now().UTC() }

func account(r stack.Ready, id string) stack.Account {
	for _, a := range r.Accounts {
		if a.ID == id {
			return a
		}
	}
	return stack.Account{}
}

// timerOf returns the cron expression of a function's first timer.
func timerOf(fn fctwin.Function) string {
	for _, t := range fn.Triggers {
		if t.Enable {
			return t.CronExpression
		}
	}
	return ""
}

// load reads the four functions from s.yaml with the FC twin's loader and
// points them at the twins and at the simulated clock.
func (o *Options) load(st *stack.Stack, caFile, clockFile string, res *Result) (map[string]fctwin.Function, error) {
	ready := st.Ready()
	var accounts, roles, endpoints []string
	for _, a := range ready.Accounts {
		accounts = append(accounts, a.ID)
		if a.ID != ready.Home {
			roles = append(roles, a.ID+"=acs:ram::"+a.ID+":role/kmsmig-member")
		}
	}
	for r, addr := range ready.KMS {
		endpoints = append(endpoints, r+"="+addr)
	}
	sort.Strings(endpoints)
	vars := map[string]string{"timezone": o.Timezone, "region": ready.OSSRegion}
	if o.Window != "" {
		w, _ := app.ParseDailyWindow(o.Window) // checked by defaults
		vars["migrateAt"] = cronAt(w.Start)
	}
	var missing []string
	list, err := fctwin.LoadSYAML(o.SYAML, fctwin.LoadOptions{
		Env: map[string]string{"ALIBABA_CLOUD_ACCOUNT_ID": ready.Home, "KMSMIG_STATE_BUCKET": ready.StateBucket,
			"KMSMIG_SLS_PROJECT": ready.LogProject},
		Vars:      vars,
		AccountID: ready.Home,
		Binary: func(fn fctwin.Function, _ string) string {
			bin := filepath.Join(o.Dist, strings.TrimPrefix(fn.Name, "kmsmig-"), "main")
			if fi, err := os.Stat(bin); err != nil {
				missing = append(missing, bin)
			} else {
				res.Binaries[fn.Name] = fi.Size()
			}
			return bin
		},
	})
	if err != nil {
		return nil, fmt.Errorf("rehearsal: %w", err)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("rehearsal: function binaries missing (run make build): %s", strings.Join(missing, ", "))
	}
	fns := map[string]fctwin.Function{}
	for _, fn := range list {
		env := fn.Env
		if env == nil {
			env = map[string]string{}
		}
		pollWait, err := deployedPollWait(env)
		if err != nil {
			return nil, fmt.Errorf("rehearsal: %s: %s: %w", o.SYAML, fn.Name, err)
		}
		for k, v := range map[string]string{
			"KMSMIG_ACCOUNTS": strings.Join(accounts, ","), "KMSMIG_ROLE_ARNS": strings.Join(roles, ","),
			"KMSMIG_KMS_ENDPOINTS": strings.Join(endpoints, ","), "KMSMIG_INSECURE": "true",
			"KMSMIG_STS_ENDPOINT": ready.STS, "KMSMIG_OSS_ENDPOINT": ready.OSS, "KMSMIG_OSS_REGION": ready.OSSRegion,
			"KMSMIG_FC_ENDPOINT": ready.FC, "KMSMIG_SLS_ENDPOINT": ready.SLS, "KMSMIG_SLS_PROJECT": ready.LogProject,
			"KMSMIG_SLS_LOGSTORE": auditStore, "KMSMIG_AUDIT": "sls", "SSL_CERT_FILE": caFile,
			// Every decision on the simulated clock: the window, stalls,
			// alert periods, submission leases.
			"KMSMIG_CLOCK":    "file:" + clockFile,
			"KMSMIG_TIMEZONE": o.Timezone,
			// Rates and waits are in wall-clock time: scaled. A poll
			// waits as long as s.yaml deploys (a little over the minute). It
			// used to wait 30 s, so that with the invocation's overhead
			// magnified Speed times it would end before the next tick:
			// but a poll waits only for a task that runs, while the clock
			// never jumps, and polls that overlap are safe (compare-and-
			// swap; s.yaml says so), as they are in Function Compute. The
			// shorter wait left half of every minute unwatched, so a task
			// ending then idled the instance until the next tick, which
			// the deployed wait does not.
			"KMSMIG_QPS":       scaledQuotas(o.Speed),
			"KMSMIG_POLL_WAIT": (time.Duration(float64(pollWait) / o.Speed)).String(),
		} {
			env[k] = v
		}
		for k, v := range o.Settings {
			env[k] = v
		}
		fn.Env = env
		fns[fn.Name] = fn
	}
	var limits []deploy.FunctionConcurrency
	for _, name := range functionNames {
		fn, ok := fns[name]
		if !ok {
			return nil, fmt.Errorf("rehearsal: %s does not deploy %s", o.SYAML, name)
		}
		limits = append(limits, deploy.FunctionConcurrency{Name: fn.Name, Env: fn.Env, ReservedConcurrency: fn.MaxInstances})
	}
	// Settings may fan a function out beyond what s.yaml lets it run.
	if err := deploy.CheckFanoutConcurrency(limits); err != nil {
		return nil, fmt.Errorf("rehearsal: %s with the settings given: %w", o.SYAML, err)
	}
	return fns, nil
}

func openStore(ctx context.Context, ready stack.Ready, home stack.Account) (runstate.Store, error) {
	cfg, err := app.LoadConfig(func(k string) string {
		return map[string]string{"KMSMIG_STATE": "oss://" + ready.StateBucket + "/kmsmig", "KMSMIG_OSS_ENDPOINT": ready.OSS,
			"KMSMIG_OSS_REGION": ready.OSSRegion, "KMSMIG_INSECURE": "true",
			// The harness chains no function: no FC endpoint (KMSMIG_INSECURE
			// would otherwise need a loopback one).
			"KMSMIG_FUNCTION_MIGRATE": "-", "KMSMIG_FUNCTION_ROTATE": "-"}[k]
	})
	if err != nil {
		return nil, err
	}
	cred, err := ram.Static(home.AccessKeyID, home.AccessKeySecret, "")
	if err != nil {
		return nil, err
	}
	return wiring.OpenStore(ctx, cfg, cred, ready.OSSRegion)
}

// logTail keeps the last lines the functions printed, for error reports.
type logTail struct {
	mu    sync.Mutex
	lines []string
}

func (l *logTail) add(line fctwin.LogLine) {
	if line.Stream == "stdout" && strings.HasPrefix(line.Text, "{") {
		return // audit JSON lines, if any
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line.Function+" "+line.Stream+": "+line.Text)
	if len(l.lines) > 40 {
		l.lines = slices.Delete(l.lines, 0, len(l.lines)-40)
	}
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// deployedPollWait is the function's KMSMIG_POLL_WAIT as s.yaml sets it
// (simulated time; unset or empty: 0, the code's default).
func deployedPollWait(env map[string]string) (time.Duration, error) {
	v := env["KMSMIG_POLL_WAIT"]
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("KMSMIG_POLL_WAIT %q is not a duration", v)
	}
	return d, nil
}

// scaledQuotas is KMSMIG_QPS with every client-side quota times speed.
func scaledQuotas(speed float64) string {
	var parts []string
	for g, q := range kms.DefaultQuotas() {
		parts = append(parts, fmt.Sprintf("%s=%g", g, q*speed))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
