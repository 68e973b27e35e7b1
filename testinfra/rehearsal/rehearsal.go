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

	"github.com/aliyun/credentials-go/credentials"

	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/aliyun/ram"
	"github.com/kmsmig/kmsmig/shared/aliyun/sls"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/verdict"
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
	// simulated minute per second).
	Speed float64
	// Timezone of the schedule (default Asia/Shanghai, as in s.yaml).
	Timezone string
	// Timeout bounds the rehearsal in wall-clock time (default 150s).
	Timeout time.Duration
	// Progress receives live progress lines; nil discards them.
	Progress io.Writer
}

// The rehearsal's schedule in simulated local time: the clock starts just
// before discover's timer; migrate follows five minutes later; the sweep
// comes last.
const (
	clockStart = 59*time.Minute + 50*time.Second // 00:59:50
	migrateAt  = "0 5 1 * * *"                   // 01:05
	sweepAt    = "0 30 1 * * *"                  // 01:30
	auditStore = "kmsmig-audit"
)

// Result is what a rehearsal did and found.
type Result struct {
	RunID       string
	Wall        time.Duration
	Discover    app.DiscoverResult
	Report      migration.Report
	DiscoveryMD []byte // the discovery report (report.md)
	RunMD       []byte // the run report (report/run.md)
	Checks      []Check
	Invocations map[string]int // per function
	Failed      []string       // invocations that failed for good
	ColdStarts  map[string]fctwin.ColdStart
	Binaries    map[string]int64 // bytes
	AuditRecord int
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
	now := time.Now().In(loc)
	start := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc).Add(clockStart)
	clock := fctwin.NewClock(start, o.Speed)
	logs := &logTail{}
	// Every rate scales with the clock: the gateway's quotas too, or the
	// functions' API work would look Speed times slower than it is.
	qps := map[string]float64{}
	for g, q := range kmstwin.DefaultQuotas() {
		qps[g] = q * o.Speed
	}
	st, err := stack.Start(stack.Options{
		Inventory: o.Inventory,
		QPS:       qps,
		Timing:    kmstwin.TaskTiming{Speed: o.Speed},
		FC:        fctwin.Config{Clock: clock, Log: logs.add},
	})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ready := st.Ready()
	home := account(ready, ready.Home)
	tmp, err := os.MkdirTemp("", "kmsmig-rehearsal-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	caFile := filepath.Join(tmp, "twin-ca.pem")
	if err := os.WriteFile(caFile, []byte(ready.CAPEM), 0o600); err != nil {
		return nil, err
	}
	if _, err := sls.EnsureLogstore(ctx, sls.SetupConfig{Endpoint: ready.SLS, DialAddr: ready.SLS, Project: ready.LogProject,
		Logstore: auditStore, Credentials: sls.Credentials{AccessKeyID: home.AccessKeyID, AccessKeySecret: home.AccessKeySecret}}); err != nil {
		return nil, fmt.Errorf("rehearsal: audit logstore: %w", err)
	}

	res := &Result{Invocations: map[string]int{}, ColdStarts: map[string]fctwin.ColdStart{}, Binaries: map[string]int64{}}
	if err := o.deploy(st, caFile, res); err != nil {
		return nil, err
	}
	o.logf("rehearsal: twins up (%d KMS regions, %d accounts); functions deployed from %s; clock %s at %gx",
		len(ready.KMS), len(ready.Accounts), o.SYAML, start.Format("15:04:05 MST"), o.Speed)

	store, err := openStore(ctx, ready, home)
	if err != nil {
		return nil, err
	}
	eng := &migration.Engine{Store: store}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	runID, err := o.follow(ctx, st, eng, clock, loc)
	if err != nil {
		return nil, fmt.Errorf("%w\nlast function output:\n%s", err, logs.String())
	}
	res.RunID = runID
	res.Wall = time.Since(wallStart)
	if err := o.collect(ctx, st, eng, store, home, res); err != nil {
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
	if o.Timeout <= 0 {
		o.Timeout = 150 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return nil
}

func (o *Options) logf(format string, args ...any) {
	fmt.Fprintf(o.Progress, format+"\n", args...)
}

func account(r stack.Ready, id string) stack.Account {
	for _, a := range r.Accounts {
		if a.ID == id {
			return a
		}
	}
	return stack.Account{}
}

// deploy loads s.yaml with the FC twin's loader and deploys the four
// functions with their endpoints pointed at the twins.
func (o *Options) deploy(st *stack.Stack, caFile string, res *Result) error {
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
	var missing []string
	fns, err := fctwin.LoadSYAML(o.SYAML, fctwin.LoadOptions{
		Env: map[string]string{"ALIBABA_CLOUD_ACCOUNT_ID": ready.Home, "KMSMIG_STATE_BUCKET": ready.StateBucket,
			"KMSMIG_SLS_PROJECT": ready.LogProject},
		Vars:      map[string]string{"migrateAt": migrateAt, "sweepAt": sweepAt, "timezone": o.Timezone, "region": ready.OSSRegion},
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
		return fmt.Errorf("rehearsal: %w", err)
	}
	if len(missing) > 0 {
		return fmt.Errorf("rehearsal: function binaries missing (run make build): %s", strings.Join(missing, ", "))
	}
	for _, fn := range fns {
		env := fn.Env
		if env == nil {
			env = map[string]string{}
		}
		for k, v := range map[string]string{
			"KMSMIG_ACCOUNTS": strings.Join(accounts, ","), "KMSMIG_ROLE_ARNS": strings.Join(roles, ","),
			"KMSMIG_KMS_ENDPOINTS": strings.Join(endpoints, ","), "KMSMIG_INSECURE": "true",
			"KMSMIG_STS_ENDPOINT": ready.STS, "KMSMIG_OSS_ENDPOINT": ready.OSS, "KMSMIG_OSS_REGION": ready.OSSRegion,
			"KMSMIG_FC_ENDPOINT": ready.FC, "KMSMIG_SLS_ENDPOINT": ready.SLS, "KMSMIG_SLS_PROJECT": ready.LogProject,
			"KMSMIG_SLS_LOGSTORE": auditStore, "KMSMIG_AUDIT": "sls", "SSL_CERT_FILE": caFile,
			// The functions run on the wall clock, not the twin's
			// accelerated one: no window, and scaled waits.
			"KMSMIG_WINDOW":    "",
			"KMSMIG_QPS":       scaledQuotas(o.Speed),
			"KMSMIG_POLL_WAIT": (time.Duration(float64(50*time.Second) / o.Speed)).String(),
		} {
			env[k] = v
		}
		fn.Env = env
		if err := st.FC.Deploy(fn); err != nil {
			return fmt.Errorf("rehearsal: deploy %s: %w", fn.Name, err)
		}
	}
	return nil
}

func openStore(ctx context.Context, ready stack.Ready, home stack.Account) (runstate.Store, error) {
	cfg, err := app.LoadConfig(func(k string) string {
		return map[string]string{"KMSMIG_STATE": "oss://" + ready.StateBucket + "/kmsmig", "KMSMIG_OSS_ENDPOINT": ready.OSS,
			"KMSMIG_OSS_REGION": ready.OSSRegion, "KMSMIG_INSECURE": "true"}[k]
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

// follow waits for discover's timer to plan a run, shows each lane's
// progress as the functions migrate it, and returns once every batch has
// finished, the sweep has run and no invocation is pending.
func (o *Options) follow(ctx context.Context, st *stack.Stack, eng *migration.Engine, clock *fctwin.Clock, loc *time.Location) (string, error) {
	var runID, last string
	done := false
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("rehearsal: not finished within the time limit (run %q, last status %q): %w", runID, last, ctx.Err())
		case <-tick.C:
		}
		if runID == "" {
			cur, _, err := runstate.GetJSON[migration.CurrentRun](ctx, eng.Store, statekeys.Current)
			if err != nil {
				continue
			}
			runID = cur.RunID
			o.logf("%s discover planned run %s", clock.Now().In(loc).Format("15:04:05"), runID)
		}
		p, err := eng.Status(ctx, runID)
		if err != nil {
			continue
		}
		line := fmt.Sprintf("%d/%d batches finished", p.Finished, p.Batches)
		if len(p.Active) > 0 {
			line += "; " + strings.Join(p.Active, "; ")
		}
		if line != last {
			o.logf("%s %s", clock.Now().In(loc).Format("15:04:05"), line)
			last = line
		}
		done = done || p.Done()
		swept := false
		pending := false
		for _, inv := range st.FC.Invocations() {
			if !inv.Final() {
				pending = true
			}
			if inv.Function == "kmsmig-rotate" && inv.Source == fctwin.SourceTimer && inv.Final() {
				swept = true
			}
		}
		if done && swept && !pending {
			o.logf("%s all batches finished; rotation sweep done", clock.Now().In(loc).Format("15:04:05"))
			return runID, nil
		}
	}
}

// collect gathers the reports and checks the outcome against the twins.
func (o *Options) collect(ctx context.Context, st *stack.Stack, eng *migration.Engine, store runstate.Store, home stack.Account, res *Result) error {
	ready := st.Ready()
	for _, inv := range st.FC.Invocations() {
		res.Invocations[inv.Function]++
		if inv.Status == fctwin.StatusFailed {
			msg := string(inv.Response)
			if len(msg) > 300 {
				msg = msg[:300] + "…"
			}
			res.Failed = append(res.Failed, fmt.Sprintf("%s (%s, event %s): %s", inv.Function, inv.Source, inv.Event, msg))
		}
		if inv.Function == "kmsmig-discover" && inv.Status == fctwin.StatusSucceeded && res.Discover.RunID == "" {
			_ = jsonUnmarshal(inv.Response, &res.Discover)
		}
	}
	for _, name := range []string{"kmsmig-discover", "kmsmig-migrate", "kmsmig-poll", "kmsmig-rotate"} {
		if cs := st.FC.ColdStarts(name); len(cs) > 0 {
			res.ColdStarts[name] = cs[0]
		}
	}
	rep, err := eng.WriteReport(ctx, res.RunID)
	if err != nil {
		return fmt.Errorf("rehearsal: run report: %w", err)
	}
	res.Report = rep
	_, discoveryMD := statekeys.DiscoveryReport(res.RunID)
	if obj, err := store.Get(ctx, discoveryMD); err == nil {
		res.DiscoveryMD = obj.Data
	}
	res.RunMD = rep.Markdown()

	inv, _, err := runstate.GetJSON[estate.Inventory](ctx, store, statekeys.Inventory(res.RunID))
	if err != nil {
		return fmt.Errorf("rehearsal: read inventory: %w", err)
	}
	vs, _, err := runstate.GetJSON[verdict.Verdicts](ctx, store, statekeys.Verdicts(res.RunID))
	if err != nil {
		return fmt.Errorf("rehearsal: read verdicts: %w", err)
	}
	client, err := kmsClient(ready)
	if err != nil {
		return err
	}
	res.Checks = append(res.Checks,
		checkMoved(ctx, client, &vs, rep),
		checkRotation(ctx, client, &inv),
		Check{Name: "no secret value read", OK: st.KMS.CallCounts()["GetSecretValue"] == 0,
			Detail: fmt.Sprintf("GetSecretValue called %d times", st.KMS.CallCounts()["GetSecretValue"])},
		Check{Name: "no invocation failed for good", OK: len(res.Failed) == 0, Detail: fmt.Sprintf("%d failed: %s", len(res.Failed), strings.Join(res.Failed, "; "))},
		Check{Name: "run finished", OK: rep.Done, Detail: fmt.Sprintf("%d lanes", len(rep.Lanes))},
	)
	var batches []migration.BatchState
	keys, err := store.List(ctx, statekeys.BatchPrefix(res.RunID))
	if err != nil {
		return err
	}
	for _, k := range keys {
		b, _, err := runstate.GetJSON[migration.BatchState](ctx, store, k)
		if err != nil {
			return err
		}
		batches = append(batches, b)
	}
	var results [][]byte
	for _, inv := range st.FC.Invocations() {
		if inv.Status == fctwin.StatusSucceeded {
			results = append(results, inv.Response)
		}
	}
	check, n := checkTrail(ctx, ready, home, res.RunID, batches, results)
	res.AuditRecord = n
	res.Checks = append(res.Checks, check)
	return nil
}

// checkMoved: every resource classified to migrate is in its instance, or
// reported as failed for good or dropped, with a reason.
func checkMoved(ctx context.Context, c *kms.Client, vs *verdict.Verdicts, rep migration.Report) Check {
	failed := map[string]bool{}
	for _, f := range rep.Failures {
		if f.RetryBatch == "" {
			failed[f.ID] = true
		}
	}
	for _, d := range rep.Dropped {
		failed[d.ID] = true
	}
	var moved, reported int
	var wrong []string
	for _, v := range vs.Resources {
		if !v.Verdict.WillMigrate() {
			continue
		}
		var got string
		var err error
		if v.Resource == verdict.ResourceKey {
			var k estate.Key
			k, err = c.Key(ctx, v.Lane, v.ID)
			got = k.InstanceID
		} else {
			var s estate.Secret
			s, err = c.Secret(ctx, v.Lane, estate.Secret{Name: v.ID})
			got = s.InstanceID
		}
		switch {
		case err == nil && got == v.InstanceID:
			moved++
		case failed[v.ID]:
			reported++
		default:
			wrong = append(wrong, fmt.Sprintf("%s %s (in %q, want %q, %v)", v.Resource, v.ID, got, v.InstanceID, err))
		}
	}
	return Check{Name: "every migratable resource moved or reported", OK: len(wrong) == 0,
		Detail: fmt.Sprintf("%d moved, %d reported with a reason; wrong: %s", moved, reported, strings.Join(wrong, "; "))}
}

// checkRotation: every key and secret has exactly the rotation policy
// discovery recorded before the migration.
func checkRotation(ctx context.Context, c *kms.Client, inv *estate.Inventory) Check {
	var same int
	var changed []string
	for _, li := range inv.Lanes {
		for _, k := range li.Keys {
			if k.IsServiceKey() {
				continue
			}
			now, err := c.Key(ctx, li.Lane, k.ID)
			if err != nil || now.Rotation != k.Rotation {
				changed = append(changed, fmt.Sprintf("key %s: %+v → %+v (%v)", k.ID, k.Rotation, now.Rotation, err))
				continue
			}
			same++
		}
		for _, s := range li.Secrets {
			now, err := c.Secret(ctx, li.Lane, estate.Secret{Name: s.Name})
			if err != nil || now.Rotation != s.Rotation {
				changed = append(changed, fmt.Sprintf("secret %s: %+v → %+v (%v)", s.Name, s.Rotation, now.Rotation, err))
				continue
			}
			same++
		}
	}
	return Check{Name: "every rotation policy as it was before", OK: len(changed) == 0,
		Detail: fmt.Sprintf("%d unchanged; changed: %s", same, strings.Join(changed, "; "))}
}

func kmsClient(ready stack.Ready) (*kms.Client, error) {
	static := map[string]credentials.Credential{}
	for _, a := range ready.Accounts {
		c, err := ram.Static(a.AccessKeyID, a.AccessKeySecret, "")
		if err != nil {
			return nil, err
		}
		static[a.ID] = c
	}
	return kms.New(kms.Config{Endpoints: ready.KMS, Insecure: true, Credentials: ram.Credentials{Static: static}.For})
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

// scaledQuotas is KMSMIG_QPS with every client-side quota times speed.
func scaledQuotas(speed float64) string {
	var parts []string
	for g, q := range kms.DefaultQuotas() {
		parts = append(parts, fmt.Sprintf("%s=%g", g, q*speed))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
