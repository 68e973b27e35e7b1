package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/testinfra/rehearsal"
	fctwin "github.com/kmsmig/kmsmig/twin/fc"
)

const rehearseSynopsis = `rehearse [--inventory PATH|demo] [--nights 1] [--window HH:MM-HH:MM] [--dist dist] [--syaml s.yaml] [--speed 60] [--timeout 0] [--task-api present|absent] [--set KMSMIG_X=value]... [--json]

Rehearses a whole migration offline, exactly as Function Compute would run
it: starts the twins of KMS (seeded with the inventory; default the built-in
demo estate), STS, OSS, SLS and Function Compute; deploys the four real
function binaries from s.yaml (built by 'make build' into --dist); and lets
their timers fire (discover at 01:00, migrate when the window opens, poll
every minute, the rotation sweep at 07:30, Asia/Shanghai) for --nights
nights on a simulated clock that runs --speed times faster than real time
and jumps over the hours in which nothing is due. The functions read that
clock (KMSMIG_CLOCK), so the window really applies: --window (default
s.yaml's KMSMIG_WINDOW, 02:00-06:00), with migrate's timer at its start.
Migration tasks take 30 s + 2 s per resource, simulated.

From the second night on the rehearsal plays the world changing under the
migration: a secret is created before discover, a key of a batch not yet
started is deleted, a task stalls across the window's end and is released
35 minutes later, and the owner of one of its resources switches rotation
back on (through the official SDK) before kmsmig restores it.

It then checks the outcome against the twins: every resource any night
planned is in its instance or reported with a reason; every rotation policy
is restored or, where its owner changed it, left as they set it (the
campaign's ledger and KMS, none left off); exactly one task per batch across
every run; no secret value was read; no invocation failed; the campaign
finished; the audit trail of every run reached SLS. It prints the discovery
report and every run's report (Markdown, or a JSON summary with --json) on
stdout, progress on stderr, and the summary line

  rehearse: N nights (lower bound L), M moved, K reported, P policies restored, Q superseded

where N is the night of the last migration task and L the fewest nights the
first plan's task time allows in the window; it exits 0 only when every
check passed.

With --task-api absent the KMS twin answers every migration task action as
an unknown action (404 InvalidAction.NotFound), as a cloud without the task
API would: the rehearsal then also checks that no rotation policy changed
and that every lane's discovery report says "migration task API:
unavailable InvalidAction.NotFound".

--set KMSMIG_NAME=value (repeatable) overrides that environment variable of
every function deployed from s.yaml, for the rehearsal only; only KMSMIG_*
names are accepted. E.g. --set KMSMIG_DISCOVER_LANES_PER_INVOCATION=10 fans
discovery out over invocations of 10 lanes each; the rehearsal then also
checks that it did ("discovery fanned out").

For each function the rehearsal prints its invocations, instances and peak
memory (resident set: the largest of one invocation, and of each instance),
as the FC twin measured the real processes.

To rehearse your own estate: 'kmsmig plan --export estate.json' against
Alibaba Cloud writes it (no secret values) in the twins' inventory format;
then 'kmsmig rehearse --inventory estate.json'. A generated estate:
--inventory generate:keys=400,secrets=200,regions=2,accounts=2,seed=1
(the first account's instance in each region is shared with the others;
own=1 gives every account its own).`

func runRehearse(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rehearse", rehearseSynopsis, stderr)
	inventory := fs.String("inventory", "demo", "inventory file (JSON), demo, or generate:keys=N,secrets=N,regions=R,accounts=A,seed=S[,own=1]")
	nights := fs.Int("nights", 1, "how many nights to rehearse (1..30)")
	window := fs.String("window", "", "the migration window HH:MM-HH:MM (Asia/Shanghai); empty: s.yaml's KMSMIG_WINDOW")
	dist := fs.String("dist", "dist", "directory of the built function binaries (<dist>/<name>/main, from make build)")
	syaml := fs.String("syaml", "s.yaml", "the deployment's s.yaml")
	speed := fs.Float64("speed", 60, "simulated seconds per real second, between jumps")
	timeout := fs.Duration("timeout", 0, "give up after this long (wall clock); 0: 150s per night")
	asJSON := fs.Bool("json", false, "print a JSON summary instead of the reports")
	taskAPI := fs.String("task-api", "present", "present, or absent: the KMS twin answers every migration task action as an unknown action")
	settings := settingFlag{}
	fs.Var(settings, "set", "KMSMIG_NAME=value: override an environment variable of every function (repeatable; KMSMIG_* only)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	absent, err := taskAPIAbsent(*taskAPI)
	if err != nil {
		return err
	}
	if *speed <= 0 || *speed > 600 {
		return fmt.Errorf("%w: --speed %v: must be above 0 and at most 600", errUsage, *speed)
	}
	if *nights < 1 || *nights > 30 {
		return fmt.Errorf("%w: --nights %d: must be from 1 to 30", errUsage, *nights)
	}
	if *window != "" {
		if _, err := app.ParseDailyWindow(*window); err != nil {
			return fmt.Errorf("%w: --window: %v", errUsage, err)
		}
	}
	inv, err := loadInventory(*inventory)
	if err != nil {
		return err
	}
	res, err := rehearsal.Run(ctx, rehearsal.Options{Inventory: inv, SYAML: *syaml, Dist: *dist, Speed: *speed, Timeout: *timeout,
		Nights: *nights, Window: *window, Progress: stderr, TaskAPIAbsent: absent, Settings: settings})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(summary(res)); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "%s\n", res.DiscoveryMD)
		for _, run := range res.Runs {
			fmt.Fprintf(stdout, "\n<!-- night %d -->\n%s\n", run.Night, run.RunMD)
		}
		if len(res.Events) > 0 {
			fmt.Fprintf(stdout, "## Rehearsal events\n\n")
			for _, e := range res.Events {
				fmt.Fprintf(stdout, "- night %d, %s: %s: %s\n", e.Night, e.At.Format("15:04:05 MST"), e.Kind, e.Detail)
			}
			fmt.Fprintln(stdout)
		}
		if len(res.Approvals) > 0 {
			fmt.Fprintf(stdout, "## Approvals\n\n")
			for _, a := range res.Approvals {
				if a.Detail != "" {
					fmt.Fprintf(stdout, "- night %d, %s: %s: %s\n", a.Night, a.At.Format("15:04:05 MST"), a.RunID, a.Detail)
					continue
				}
				fmt.Fprintf(stdout, "- night %d, %s: %s approved by %s (plan %s); trigger object %s\n", a.Night, a.At.Format("15:04:05 MST"),
					a.RunID, a.By, a.Digest, a.Signal)
			}
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "## Rehearsal checks\n\n")
		for _, c := range res.Checks {
			mark := "ok"
			if !c.OK {
				mark = "FAILED"
			}
			fmt.Fprintf(stdout, "- %s: **%s**: %s\n", c.Name, mark, c.Detail)
		}
	}
	names := make([]string, 0, len(res.Invocations))
	for n := range res.Invocations {
		names = append(names, n)
	}
	sort.Strings(names)
	w := res.Report.Window
	fmt.Fprintf(stderr, "rehearse: %d night(s) in %.1fs (%d jumps skipped %s of simulated time); window %s; %d runs, %d audit records\n",
		res.Nights, res.Wall.Seconds(), res.Jumps, res.Jumped.Round(time.Minute), orAlways(res.Window), len(res.Runs), res.AuditRecord)
	fmt.Fprintf(stderr, "rehearse: last run %s: window utilisation %.2f: tasks on the critical path (%s) %.0f of %.0f simulated minutes; idle %.0fs before the first task, %.0fs in %d handovers (longest %.0fs), %.0fs after the last\n",
		res.RunID, w.Utilisation, w.BusiestLane, w.CriticalPathSeconds/60, w.RunSeconds/60, w.LeadSeconds, w.HandoverSeconds, w.Handovers, w.LongestHandoverSeconds, w.TailSeconds)
	lb := res.LowerBound
	fmt.Fprintf(stderr, "rehearse: lower bound %d night(s): %s of task time on the busiest %s in a %s window\n",
		lb.Nights, lb.Critical.Round(time.Second), lb.On, lb.Window)
	for _, n := range names {
		cs := res.ColdStarts[n]
		fu := res.Functions[n]
		fmt.Fprintf(stderr, "rehearse: %-16s %3d invocations on %d instance(s), peak memory %.0f MiB per invocation, %s MiB per instance; binary %.1f MB, cold start %v (first invocation answered after %v)\n",
			n, res.Invocations[n], fu.Instances, mib(fu.InvocationPeak), instancePeaks(fu.InstancePeaks), float64(res.Binaries[n])/1e6,
			cs.Ready.Round(time.Millisecond), cs.FirstServed.Round(time.Millisecond))
	}
	fmt.Fprintln(stderr, res.Summary())
	if !res.OK() {
		for _, c := range res.Checks {
			if !c.OK {
				fmt.Fprintf(stderr, "rehearse: FAILED: %s: %s\n", c.Name, c.Detail)
			}
		}
		return fmt.Errorf("the rehearsal did not end as expected")
	}
	fmt.Fprintln(stderr, "rehearse: every check passed")
	return nil
}

// settingFlag collects --set KMSMIG_NAME=value.
type settingFlag map[string]string

var settingName = regexp.MustCompile(`^KMSMIG_[A-Z0-9_]+$`)

func (s settingFlag) String() string { return "" }

func (s settingFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	switch {
	case !ok:
		return fmt.Errorf("--set %q: want KMSMIG_NAME=value", v)
	case !settingName.MatchString(name):
		return fmt.Errorf("--set %q: %q is not a KMSMIG_* setting (KMSMIG_ then capitals, digits, underscores)", v, name)
	}
	s[name] = value
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// instancePeaks shows per-instance peaks: all of a few, else the range.
func instancePeaks(peaks []int64) string {
	if len(peaks) == 0 {
		return "-"
	}
	if len(peaks) > 4 {
		return fmt.Sprintf("%.0f..%.0f", mib(slices.Min(peaks)), mib(slices.Max(peaks)))
	}
	parts := make([]string, len(peaks))
	for i, p := range peaks {
		parts[i] = fmt.Sprintf("%.0f", mib(p))
	}
	return strings.Join(parts, ", ")
}

func orAlways(window string) string {
	if window == "" {
		return "always open"
	}
	return window
}

func summary(r *rehearsal.Result) map[string]any {
	return map[string]any{
		"runId": r.RunID, "ok": r.OK(), "summary": r.Summary(), "wallSeconds": r.Wall.Seconds(), "checks": r.Checks,
		"nights": r.Nights, "nightsUsed": r.NightsUsed, "lowerBound": r.LowerBound, "window": r.Window,
		"moved": r.Moved, "reported": r.Reported, "restored": r.Restored, "superseded": r.Superseded,
		"events": r.Events, "approvals": r.Approvals, "jumps": r.Jumps, "jumpedSeconds": r.Jumped.Seconds(), "runs": r.Runs,
		"invocations": r.Invocations, "windowUse": r.Report.Window, "lanes": r.Report.Lanes,
		"failures": r.Report.Failures, "auditRecords": r.AuditRecord, "discover": r.Discover, "functions": r.Functions,
		"tasks": r.Tasks, "invocationLog": invocationLog(r.InvocationLog),
	}
}

// invocationLog is the FC twin's invocations without their responses.
func invocationLog(invs []fctwin.Invocation) []map[string]any {
	out := make([]map[string]any, 0, len(invs))
	for _, inv := range invs {
		m := map[string]any{"function": inv.Function, "source": inv.Source, "event": string(inv.Event),
			"status": inv.Status, "attempts": inv.Attempts, "enqueued": inv.Enqueued, "finished": inv.Finished}
		if inv.ErrorType != "" {
			m["errorType"] = inv.ErrorType
		}
		out = append(out, m)
	}
	return out
}
