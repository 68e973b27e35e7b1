package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/kmsmig/kmsmig/testinfra/benchmarks"
	"github.com/kmsmig/kmsmig/testinfra/rehearsal"
	"github.com/kmsmig/kmsmig/twin/kms"
)

const benchSynopsis = `bench [--dist dist] [--syaml s.yaml] [--results results] [--quick]

Measures, in one run on this machine, the figures the project is judged by:
discovery call rate ÷ the gateway's quota (goal ≥ 0.9); speed-up over a
one-call-at-a-time discovery at 20 ms latency (goal ≥ 10×); discovery's
peak memory with the same resources over 100 and over 1,000 lanes (their
ratio, goal ≤ 1.25; at 1,000 lanes, goal ≤ 256 MiB); discovery of 1,000
lanes in one invocation (wall time ÷ its largest lane alone, peak
memory, invocations) and fanned out over invocations of 100 lanes by the
real discover binary under the FC twin (the same ratio, peak memory per
invocation, goal < 256 MiB, invocations, goal > 1; needs 'make build');
planning 100,000
resources (time, peak memory); the window utilisation of a full rehearsal
of a generated estate (critical path ÷ run, goal ≥ 0.95, on a quiet machine:
the engine's own work is magnified 60 times on its clock); each function's
cold start and binary size (from that rehearsal; needs 'make build'); and the
audit trail's cost per record and flush latency. Prints the table and writes
it, with the machine and the commit, to <results>/bench-<date>.md and
<results>/latest.md. Exits 1 when a goal is missed.`

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", benchSynopsis, stderr)
	dist := fs.String("dist", "dist", "built function binaries (make build)")
	syaml := fs.String("syaml", "s.yaml", "the deployment's s.yaml")
	results := fs.String("results", "results", "where to write the results table")
	quick := fs.Bool("quick", false, "smaller scenarios (for a smoke run)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var figs []benchmarks.Figure
	step := func(name string) { fmt.Fprintf(stderr, "bench: %s…\n", name) }

	step("discovery quota use")
	keys := 250
	if *quick {
		keys = 60
	}
	f, err := benchmarks.QuotaUse(ctx, keys)
	if err != nil {
		return err
	}
	figs = append(figs, f)

	step("discovery speed-up")
	if f, err = benchmarks.Speedup(ctx); err != nil {
		return err
	}
	figs = append(figs, f)

	step("discovery memory at 100 and 1,000 lanes")
	resources, few, many := 3000, 100, 1000
	if *quick {
		resources, few, many = 600, 10, 100
	}
	ms, err := benchmarks.DiscoveryMemory(ctx, resources, few, many)
	if err != nil {
		return err
	}
	mib := func(m benchmarks.LaneMemory) float64 { return float64(m.Peak) / (1 << 20) }
	figs = append(figs,
		benchmarks.Figure{Name: fmt.Sprintf("discovery peak memory, %d lanes ÷ %d lanes (the same %d resources)", many, few, resources),
			Value: mib(ms[1]) / max(mib(ms[0]), 1), Unit: "ratio", Goal: 1.25,
			Detail: fmt.Sprintf("%.1f MiB in %.1fs at %d lanes, %.1f MiB in %.1fs at %d; heap and stacks, the in-process twin's share included",
				mib(ms[0]), ms[0].Elapsed.Seconds(), few, mib(ms[1]), ms[1].Elapsed.Seconds(), many)},
		benchmarks.Figure{Name: fmt.Sprintf("discovery peak memory at %d lanes", many), Value: mib(ms[1]), Unit: "MiB", Goal: 256})

	step("discovery of 1,000 lanes")
	spec := "keys=10000,secrets=5000,regions=10,accounts=100"
	if *quick {
		spec = "keys=1000,secrets=500,regions=10,accounts=10"
	}
	gen, err := kms.ParseGenerateSpec(spec)
	if err != nil {
		return err
	}
	sc, err := benchmarks.DiscoveryScale(ctx, gen)
	if err != nil {
		return err
	}
	figs = append(figs,
		benchmarks.Figure{Name: fmt.Sprintf("discovery of %d lanes (generate:%s): wall time ÷ its largest lane alone at its quota", sc.Lanes, spec),
			Value: sc.Elapsed.Seconds() / sc.Bound.Seconds(), Unit: "×",
			Detail: fmt.Sprintf("%.1fs for %d resources, the largest lane alone %.2fs; %d invocation, %.1f MiB peak (heap and stacks, the in-process twin's share included)",
				sc.Elapsed.Seconds(), sc.Resources, sc.Bound.Seconds(), sc.Invocations, float64(sc.Peak)/(1<<20))})

	step("discovery of 1,000 lanes fanned out over FC-twin invocations (needs make build)")
	per := 100
	if *quick {
		per = 10
	}
	fo, err := benchmarks.DiscoveryFanout(ctx, gen, *dist, *syaml, per)
	if err != nil {
		return err
	}
	figs = append(figs,
		benchmarks.Figure{Name: fmt.Sprintf("discovery of %d lanes fanned out (%d per invocation, real discover binary under the FC twin): wall time ÷ its largest lane alone at its quota", fo.Lanes, per),
			Value: fo.Elapsed.Seconds() / fo.Bound.Seconds(), Unit: "×",
			Detail: fmt.Sprintf("%.1fs for %d resources, coordinator to plan persisted (cold starts, planning and persisting included), the largest lane alone %.2fs",
				fo.Elapsed.Seconds(), fo.Resources, fo.Bound.Seconds())},
		benchmarks.Figure{Name: fmt.Sprintf("discover peak memory per invocation, %d lanes fanned out", fo.Lanes), Value: float64(fo.PeakPerInvocation) / (1 << 20), Unit: "MiB", Goal: 256,
			Detail: "resident set of the invocation's process (VmHWM), the planning invocation's included"},
		benchmarks.Figure{Name: fmt.Sprintf("discover invocations, %d lanes fanned out", fo.Lanes), Value: float64(fo.Invocations), Unit: "", Goal: 2, Higher: true,
			Detail: fmt.Sprintf("the coordinator and %d groups, on %d instances", fo.Groups, fo.Instances)})

	step("planning 100,000 resources")
	n := 100000
	if *quick {
		n = 10000
	}
	d, peak, err := benchmarks.Planning(n)
	if err != nil {
		return err
	}
	figs = append(figs,
		benchmarks.Figure{Name: fmt.Sprintf("classify + plan %d resources", n), Value: d.Seconds(), Unit: "s",
			Detail: fmt.Sprintf("%.2f µs per resource", float64(d.Microseconds())/float64(n))},
		benchmarks.Figure{Name: fmt.Sprintf("peak heap while planning %d resources", n), Value: float64(peak) / (1 << 20), Unit: "MiB"})

	step("audit trail cost")
	jsonNs, slsNs, flush, err := benchmarks.AuditCost(ctx)
	if err != nil {
		return err
	}
	figs = append(figs,
		benchmarks.Figure{Name: "audit record, JSON lines sink (hot path)", Value: jsonNs / 1000, Unit: "µs"},
		benchmarks.Figure{Name: "audit record, SLS producer sink (hot path)", Value: slsNs / 1000, Unit: "µs"},
		benchmarks.Figure{Name: "audit flush of 100 records at the end of an invocation (SLS twin)", Value: float64(flush.Milliseconds()), Unit: "ms"})

	step("window utilisation of a rehearsal (needs make build)")
	spec = "generate:keys=800,secrets=400,regions=1,accounts=2,seed=7"
	if *quick {
		spec = "demo"
	}
	inv, err := kms.LoadInventory(spec)
	if err != nil {
		return err
	}
	// The window opens with discover, as migrate's kick finds it: the run
	// report measures utilisation from the first batch's first transition,
	// which the kick records even before a later window opens.
	res, err := rehearsal.Run(ctx, rehearsal.Options{Inventory: inv, SYAML: *syaml, Dist: *dist, Timeout: 5 * time.Minute, Window: "01:00-05:00"})
	if err != nil {
		return err
	}
	w := res.Report.Window
	figs = append(figs, benchmarks.Figure{Name: "window utilisation: critical path ÷ run (rehearsal of " + spec + ")", Value: w.Utilisation, Unit: "ratio",
		Goal: 0.95, Higher: true, Detail: fmt.Sprintf("%.1fs of tasks on %s in a %.1fs migration, idle %.0fs before the first task, %.0fs in %d handovers (longest %.0fs), %.0fs after the last; checks passed: %v",
			w.CriticalPathSeconds, w.BusiestLane, w.RunSeconds, w.LeadSeconds, w.HandoverSeconds, w.Handovers, w.LongestHandoverSeconds, w.TailSeconds, res.OK())})
	names := make([]string, 0, len(res.Binaries))
	for name := range res.Binaries {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		cs := res.ColdStarts[name]
		figs = append(figs,
			benchmarks.Figure{Name: name + " binary size", Value: float64(res.Binaries[name]) / 1e6, Unit: "MB"},
			benchmarks.Figure{Name: name + " cold start (process start → runtime asks for its first invocation)", Value: float64(cs.Ready.Microseconds()) / 1000, Unit: "ms",
				Detail: fmt.Sprintf("first invocation answered %v after start, the handler's own work included", cs.FirstServed.Round(time.Millisecond))})
	}

	table := benchTable(figs)
	fmt.Fprint(stdout, table)
	if err := writeResults(*results, table); err != nil {
		return err
	}
	for _, f := range figs {
		if !f.Pass() {
			return fmt.Errorf("goal missed: %s = %.3g (goal %.3g)", f.Name, f.Value, f.Goal)
		}
	}
	return nil
}

func benchTable(figs []benchmarks.Figure) string {
	var b strings.Builder
	b.WriteString("| figure | value | goal | detail |\n| --- | ---: | --- | --- |\n")
	for _, f := range figs {
		goal := ""
		if f.Goal != 0 {
			cmp := "≤"
			if f.Higher {
				cmp = "≥"
			}
			mark := "met"
			if !f.Pass() {
				mark = "**missed**"
			}
			goal = fmt.Sprintf("%s %.3g (%s)", cmp, f.Goal, mark)
		}
		fmt.Fprintf(&b, "| %s | %.3g %s | %s | %s |\n", f.Name, f.Value, f.Unit, goal, f.Detail)
	}
	return b.String()
}

func writeResults(dir, table string) error {
	commit := "unknown"
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
	}
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	now := time.Now().UTC()
	doc := fmt.Sprintf("# kmsmig benchmarks\n\nMeasured %s on %d CPU(s) (%s), %s %s/%s, commit %s, by `kmsmig bench`.\n\n%s",
		now.Format(time.RFC3339), runtime.NumCPU(), cpu, runtime.Version(), runtime.GOOS, runtime.GOARCH, commit, table)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"bench-" + now.Format("20060102-150405") + ".md", "latest.md"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o644); err != nil {
			return err
		}
	}
	return nil
}
