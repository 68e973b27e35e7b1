package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/credentials-go/credentials"

	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/aliyun/ram"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/discover"
	"github.com/kmsmig/kmsmig/shared/wiring"
	"github.com/kmsmig/kmsmig/testinfra/stack"
)

const discoverHelp = `%s [--twin READY.json] [--accounts A,B] [--regions R1,R2] [--include F;F] [--exclude F;F] [--run-id ID] [--state dir:PATH|oss://BUCKET/PREFIX] [--json] [--export FILE]

%s

Endpoints and credentials:
  --twin READY.json   use the offline twins described by the ready line that
                      'kmsmig twin' printed (every account's key comes with it)
  otherwise           Alibaba Cloud: the default credential chain of
                      credentials-go (ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET,
                      ~/.aliyun/config.json, ...) for the home account, and
                      --role-arns (or KMSMIG_ROLE_ARNS) for the others.
Every KMSMIG_* environment variable of the functions is honoured; flags win.

Filters (';'-separated): key:<id>, alias:<alias>, tag:<k>=<v>, secret:<glob>.
Progress goes to stderr; the report (Markdown, or JSON with --json) to stdout.

Flags:
`

func runDiscover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return discoverCommand(ctx, "discover", false, args, stdout, stderr)
}

func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return discoverCommand(ctx, "plan", true, args, stdout, stderr)
}

func discoverCommand(ctx context.Context, name string, dryRun bool, args []string, stdout, stderr io.Writer) error {
	what := "Inventories every account × region, classifies every key and secret (what can\nmigrate, what cannot and why), plans the batches, stores inventory, verdicts,\nplan and reports in the run-state store and prints the report."
	if dryRun {
		what = "Does what 'discover' does but writes nothing: prints the report with the\nbatch plan the provider would be given. Safe to run at any time."
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: kmsmig "+discoverHelp, name, what)
		fs.PrintDefaults()
	}
	twinFile := fs.String("twin", "", "ready-line JSON file of 'kmsmig twin' (offline rehearsal)")
	accounts := fs.String("accounts", "", "comma-separated account UIDs (default: KMSMIG_ACCOUNTS, or every twin account)")
	regions := fs.String("regions", "", "comma-separated regions (default: KMSMIG_REGIONS, or every region KMS lists)")
	include := fs.String("include", "", "plan only resources matching one of these filters")
	exclude := fs.String("exclude", "", "leave out resources matching any of these filters")
	runID := fs.String("run-id", "", "run id (default run-YYYYMMDD, today in UTC)")
	state := fs.String("state", "", "run-state store (default KMSMIG_STATE, or dir:.kmsmig-state)")
	roleArns := fs.String("role-arns", "", "account=acs:ram::<account>:role/<name>,... for accounts other than the home one")
	region := fs.String("region", "cn-hangzhou", "home region: where regions are listed and the state bucket lives")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of Markdown")
	export := fs.String("export", "", "also write the discovered estate (no secret values) as a twin inventory to this file, for 'kmsmig rehearse --inventory FILE'")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "KMSMIG_") {
			env[k] = v
		}
	}
	set := func(k, v string) {
		if v != "" {
			env[k] = v
		}
	}
	set("KMSMIG_ACCOUNTS", *accounts)
	set("KMSMIG_REGIONS", *regions)
	set("KMSMIG_INCLUDE", *include)
	set("KMSMIG_EXCLUDE", *exclude)
	set("KMSMIG_STATE", *state)
	set("KMSMIG_ROLE_ARNS", *roleArns)
	if env["KMSMIG_STATE"] == "" {
		env["KMSMIG_STATE"] = "dir:.kmsmig-state"
	}
	creds := ram.Credentials{}
	if *twinFile != "" {
		ready, err := readReady(*twinFile)
		if err != nil {
			return fmt.Errorf("%w: --twin %s: %v", errUsage, *twinFile, err)
		}
		pairs := make([]string, 0, len(ready.KMS))
		for r, addr := range ready.KMS {
			pairs = append(pairs, r+"="+addr)
		}
		env["KMSMIG_KMS_ENDPOINTS"] = strings.Join(pairs, ",")
		env["KMSMIG_INSECURE"] = "true"
		// The command chains no function: no Function Compute endpoint is
		// spoken to (KMSMIG_INSECURE requires a loopback one otherwise).
		env["KMSMIG_FUNCTION_MIGRATE"], env["KMSMIG_FUNCTION_ROTATE"] = "-", "-"
		// Nor does it fan out (the setting needs migrate's and poll's
		// chaining, which is off here).
		delete(env, "KMSMIG_STEP_LANES_PER_INVOCATION")
		creds.Static = map[string]credentials.Credential{}
		var ids []string
		for _, a := range ready.Accounts {
			c, err := ram.Static(a.AccessKeyID, a.AccessKeySecret, "")
			if err != nil {
				return err
			}
			creds.Static[a.ID] = c
			ids = append(ids, a.ID)
		}
		if env["KMSMIG_ACCOUNTS"] == "" {
			env["KMSMIG_ACCOUNTS"] = strings.Join(ids, ",")
		}
		if ready.OSS != "" && strings.HasPrefix(env["KMSMIG_STATE"], "oss://") {
			env["KMSMIG_OSS_ENDPOINT"], env["KMSMIG_OSS_REGION"] = ready.OSS, ready.OSSRegion
		}
	}
	cfg, err := app.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *twinFile == "" {
		base, err := credentials.NewCredential(nil)
		if err != nil {
			return fmt.Errorf("no Alibaba Cloud credentials found (set ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET or configure a profile, or use --twin): %w", err)
		}
		creds.Base = base
		if len(cfg.Accounts) > 0 {
			creds.Home = cfg.Accounts[0]
		}
		creds.RoleArns, creds.STSEndpoint = cfg.RoleArns, cfg.STSEndpoint
	}
	if len(cfg.Accounts) == 0 {
		return fmt.Errorf("%w: --accounts (or KMSMIG_ACCOUNTS) is required against Alibaba Cloud", errUsage)
	}
	kmsClient, err := wiring.NewKMS(cfg, creds)
	if err != nil {
		return err
	}
	storeCred, _ := creds.For(cfg.Accounts[0])
	store, err := wiring.OpenStore(ctx, cfg, storeCred, *region)
	if err != nil {
		return err
	}
	store = wiring.ScrubStore(store, wiring.Guard(cfg)) // stored errors without credentials, as the functions store them
	bar := newProgress(stderr)
	a := cfg.TaskActions
	d := &app.Discoverer{Config: cfg, Source: kmsClient, Store: store, Region: *region, Progress: bar.update, Reports: renderReports,
		TaskAPI: kmsClient.Tasks(kms.TaskActions{Create: a[0], Describe: a[1], List: a[2]})}
	out, err := d.Run(ctx, app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: *runID, DryRun: dryRun}})
	bar.done()
	if err != nil {
		return err
	}
	res := out.Result
	st := kmsClient.Stats()
	fmt.Fprintf(stderr, "%s: run %s: %d lanes, %d keys, %d secrets, %d batches in %.1fs (%d calls, %d retried, %d throttled)\n",
		name, res.RunID, res.Lanes, res.Counts.Keys, res.Counts.Secrets, res.Batches, float64(res.DurationMS)/1000,
		st.Calls.Load(), st.Retried.Load(), st.Throttled.Load())
	if len(res.Incomplete) > 0 {
		fmt.Fprintf(stderr, "%s: WARNING: incomplete lanes (calls kept failing): %s\n", name, strings.Join(res.Incomplete, ", "))
	}
	if *export != "" {
		if err := exportInventory(out.Inventory, *export, stderr); err != nil {
			return err
		}
	}
	return printReport(stdout, out, *asJSON)
}

func readReady(path string) (stack.Ready, error) {
	var r stack.Ready
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("not a ready line: %v", err)
	}
	if len(r.KMS) == 0 || len(r.Accounts) == 0 {
		return r, fmt.Errorf("ready line has no kms endpoints or accounts")
	}
	return r, nil
}

// progress draws one status line on stderr: redrawn in place on a
// terminal, a line every few seconds otherwise (CI logs, files).
type progress struct {
	w     io.Writer
	tty   bool
	mu    sync.Mutex
	last  time.Time
	start time.Time
	drawn bool
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) update(pr discover.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	every := 2 * time.Second
	if p.tty {
		every = 100 * time.Millisecond
	}
	if time.Since(p.last) < every && pr.LanesDone < pr.Lanes {
		return
	}
	p.last = time.Now()
	width := 30
	frac := 0.0
	if pr.Listed > 0 {
		frac = float64(pr.Described) / float64(pr.Listed)
	}
	bar := strings.Repeat("█", int(frac*float64(width))) + strings.Repeat("░", width-int(frac*float64(width)))
	line := fmt.Sprintf("discovering %s %d/%d resources, lanes %d/%d, %d errors, %.0fs",
		bar, pr.Described, pr.Listed, pr.LanesDone, pr.Lanes, pr.Errors, time.Since(p.start).Seconds())
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.drawn = true
	} else {
		fmt.Fprintln(p.w, line)
	}
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
