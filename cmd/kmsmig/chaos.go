package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/kmsmig/kmsmig/testinfra/chaos"
)

const chaosSynopsis = `chaos [--seed N] [--schedules M] [--first I] [--nights K] [--state oss|dir] [--inventory demo|generate:...|FILE] [--steps S] [--parallel P] [-v] [--json]

Runs a seeded fault campaign against the execution engine on the offline KMS
twin. Each schedule starts a fresh twin (its own ports, migration tasks on a
virtual clock) and a fresh run-state store, discovers and plans, then drives
the migrate, poll and rotate steps one at a time while a deterministic
scheduler (PCG seeded from --seed and the schedule index) injects crashes at
store writes (before or after the write lands), duplicate and concurrent
invocations, throttling, transient 503s, stalled tasks, per-resource task
failures (some permanent), store conflicts and clock skew. After --steps
steps every fault is released and clean steps finish the run. Then it checks:
one task per submitted batch; every migratable resource in its instance or
reported with a reason; every rotation policy as discovered; no secret value
read; every batch transition in the audit trail.

The run-state store is, by default (--state oss), the one the functions use in
the cloud: the OSS store (a log of create-only versions written with
x-oss-forbid-overwrite) in an unversioned bucket of a fresh OSS twin, which
honours only what OSS documents (no conditional PutObject). On top of the
faults above the twin then answers some of the functions' requests 500
InternalError and serves others without replying (the write lands, the caller
cannot tell), switched on and off from a stream of its own; the checks read
the state through the twin without faults. --state dir runs the directory
store instead, and the same seed then draws exactly the faults it drew before
the OSS store existed.

With --nights K (K > 1) each schedule is a campaign of K simulated nights:
discover runs at 01:00 every night (a new run), the window opens at 01:05 and
may close mid-task, and on top of the faults above come crashes of discover,
stalls across the night boundary, pauses and aborts, observe-backend batches
started late or never, and owners changing the estate between nights
(rotation on, off, another interval; keys and secrets created and deleted).
Quiet nights follow until the campaign converges, and the checks run across
every run, adding: no rotation policy set over its owner's last change, and
no resource in two tasks at once. --steps is then per night.

It prints "N schedules on the S store, M faults injected, K invariant
violations" and exits 1 on any violation, printing each with the command that
reproduces its schedule (--first I --schedules 1). The same seed gives the
same schedule of faults.`

func runChaos(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("chaos", chaosSynopsis, stderr)
	seed := fs.Uint64("seed", 1, "campaign seed")
	schedules := fs.Int("schedules", 20, "number of schedules")
	first := fs.Int("first", 0, "index of the first schedule (reproduce one with --first I --schedules 1)")
	inventory := fs.String("inventory", "demo", "inventory: demo, generate:keys=N,secrets=N,regions=R,accounts=A,seed=S, or a file")
	steps := fs.Int("steps", chaos.DefaultSteps, "faulty steps per schedule (per night) before the faults are released")
	nights := fs.Int("nights", 1, "simulated nights per schedule: one run each night (1: a single run)")
	state := fs.String("state", chaos.StateOSS, "run-state store: oss (the OSS store on the OSS twin, with OSS faults) or dir (the directory store)")
	parallel := fs.Int("parallel", 0, "schedules run at once (default 2×GOMAXPROCS)")
	verbose := fs.Bool("v", false, "print every schedule's fault log")
	asJSON := fs.Bool("json", false, "print the result as JSON on stdout")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *schedules <= 0 || *first < 0 || *steps <= 0 || *parallel < 0 || *nights <= 0 {
		return fmt.Errorf("%w: --schedules, --steps and --nights must be positive, --first and --parallel not negative", errUsage)
	}
	if *state != chaos.StateOSS && *state != chaos.StateDir {
		return fmt.Errorf("%w: --state %q: want %s (the OSS store on the OSS twin) or %s (the directory store)", errUsage, *state, chaos.StateOSS, chaos.StateDir)
	}
	if _, err := loadInventory(*inventory); err != nil {
		return err
	}
	res, err := chaos.Run(ctx, chaos.Options{Seed: *seed, Schedules: *schedules, First: *first, Inventory: *inventory,
		Steps: *steps, Nights: *nights, Parallel: *parallel, State: *state, Progress: stderr, Verbose: *verbose})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"seed": res.Seed, "schedules": res.Schedules, "state": res.State, "faults": res.Faults,
			"faultsByKind": res.FaultsByKind, "violations": res.Violations, "doneInBudget": res.DoneInBudget,
			"stepErrors": res.StepErrors, "wallSeconds": res.Wall.Seconds(), "reproduce": res.Reproduce}); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(stdout, res.Summary())
		for _, k := range slices.Sorted(maps.Keys(res.FaultsByKind)) {
			fmt.Fprintf(stdout, "  %-38s %d\n", k, res.FaultsByKind[k])
		}
		fmt.Fprintf(stdout, "  runs finished within the faulty steps: %d of %d; %d invocations failed under faults; wall %.1fs\n",
			res.DoneInBudget, res.Schedules, res.StepErrors, res.Wall.Seconds())
		for _, v := range res.Violations {
			fmt.Fprintf(stdout, "VIOLATION %s\n  reproduce: %s\n", v, res.Reproduce[v.Schedule])
		}
	}
	if len(res.Violations) > 0 {
		return fmt.Errorf("%d invariant violations (seed %d)", len(res.Violations), res.Seed)
	}
	return nil
}
