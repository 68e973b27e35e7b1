package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/kmsmig/kmsmig/testinfra/rehearsal"
	"github.com/kmsmig/kmsmig/twin/kms"
)

const rehearseSynopsis = `rehearse [--inventory PATH|demo] [--dist dist] [--syaml s.yaml] [--speed 60] [--timeout 150s] [--json]

Rehearses a whole migration offline, exactly as Function Compute would run
it: starts the twins of KMS (seeded with the inventory; default the built-in
demo estate), STS, OSS, SLS and Function Compute; deploys the four real
function binaries from s.yaml (built by 'make build' into --dist); lets the
timers fire on a clock running --speed times faster than real time
(discover at 01:00, migrate at 01:05, poll every minute, the rotation sweep
at 01:30, Asia/Shanghai); and follows the run lane by lane until every batch
has finished. Migration tasks take 30 s + 2 s per resource, simulated, at the
same speed.

It then checks the outcome against the twins: every resource that should
move is in its instance (or reported with a reason), every rotation policy
is exactly as before, no secret value was read, no invocation failed, and
the audit trail reached SLS. It prints the discovery report and the run
report (Markdown, or a JSON summary with --json) on stdout, progress on
stderr, and exits 0 only when every check passed.

To rehearse your own estate: 'kmsmig plan --export estate.json' against
Alibaba Cloud writes it (no secret values) in the twins' inventory format;
then 'kmsmig rehearse --inventory estate.json'. A generated estate:
--inventory generate:keys=400,secrets=200,regions=2,accounts=2,seed=1.`

func runRehearse(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rehearse", rehearseSynopsis, stderr)
	inventory := fs.String("inventory", "demo", "inventory file (JSON), demo, or generate:keys=N,secrets=N,regions=R,accounts=A,seed=S")
	dist := fs.String("dist", "dist", "directory of the built function binaries (<dist>/<name>/main, from make build)")
	syaml := fs.String("syaml", "s.yaml", "the deployment's s.yaml")
	speed := fs.Float64("speed", 60, "simulated seconds per real second")
	timeout := fs.Duration("timeout", 150*time.Second, "give up after this long (wall clock)")
	asJSON := fs.Bool("json", false, "print a JSON summary instead of the reports")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *speed <= 0 || *speed > 600 {
		return fmt.Errorf("%w: --speed %v: must be above 0 and at most 600", errUsage, *speed)
	}
	inv, err := kms.LoadInventory(*inventory)
	if err != nil {
		return fmt.Errorf("--inventory %s: %w", *inventory, err)
	}
	res, err := rehearsal.Run(ctx, rehearsal.Options{Inventory: inv, SYAML: *syaml, Dist: *dist, Speed: *speed, Timeout: *timeout, Progress: stderr})
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
		fmt.Fprintf(stdout, "%s\n\n%s\n", res.DiscoveryMD, res.RunMD)
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
	fmt.Fprintf(stderr, "rehearse: run %s in %.1fs: %d lanes, %d audit records; window utilisation %.2f: tasks on the critical path (%s) %.1fs of a %.1fs migration (wall clock, %gx: %.0f and %.0f simulated minutes)\n",
		res.RunID, res.Wall.Seconds(), len(res.Report.Lanes), res.AuditRecord, w.Utilisation, w.BusiestLane,
		w.CriticalPathSeconds, w.RunSeconds, *speed, w.CriticalPathSeconds*(*speed)/60, w.RunSeconds*(*speed)/60)
	for _, n := range names {
		cs := res.ColdStarts[n]
		fmt.Fprintf(stderr, "rehearse: %-16s %3d invocations, binary %.1f MB, cold start %v (first invocation answered after %v)\n",
			n, res.Invocations[n], float64(res.Binaries[n])/1e6, cs.Ready.Round(time.Millisecond), cs.FirstServed.Round(time.Millisecond))
	}
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

func summary(r *rehearsal.Result) map[string]any {
	return map[string]any{
		"runId": r.RunID, "ok": r.OK(), "wallSeconds": r.Wall.Seconds(), "checks": r.Checks,
		"invocations": r.Invocations, "window": r.Report.Window, "lanes": r.Report.Lanes,
		"failures": r.Report.Failures, "auditRecords": r.AuditRecord, "discover": r.Discover,
	}
}
