package chaos

import (
	"context"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"sync"
	"time"

	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// DefaultSteps is the step budget of a schedule before its faults are
// released.
const DefaultSteps = 40

// Options configure a campaign. The zero value runs one schedule of seed 0
// on the demo estate.
type Options struct {
	// Seed seeds every schedule: schedule i draws from PCG(Seed, i).
	Seed uint64
	// Schedules is how many schedules to run (default 1), starting at
	// First (to reproduce schedule i: First=i, Schedules=1).
	Schedules int
	First     int
	// Inventory is "demo" (default), "generate:keys=N,..." or a file; see
	// kms.LoadInventory.
	Inventory string
	// Steps is the step budget of a schedule (default DefaultSteps); of
	// every night of a schedule of many nights.
	Steps int
	// Nights is how many simulated nights each schedule spans (default 1:
	// one run, as before nights existed; see nightly.go).
	Nights int
	// Parallel is how many schedules run at once (default 2×GOMAXPROCS);
	// each has its own twins on their own ports and its own store.
	Parallel int
	// State is the run-state store every schedule runs on: StateOSS
	// (default: the functions' store on the OSS twin, whose faults the
	// schedule switches on and off) or StateDir (the directory store).
	State string
	// Progress, when set, receives a line per finished schedule with a
	// violation and a summary every few schedules; Verbose adds every
	// schedule's fault log.
	Progress io.Writer
	Verbose  bool
}

// Result sums up a campaign.
type Result struct {
	Seed      uint64
	Schedules int
	// State is the run-state store the schedules ran on.
	State string
	// Faults is the total of FaultsByKind.
	Faults       int
	FaultsByKind map[string]int
	Violations   []Violation
	// DoneInBudget counts schedules whose run finished before the faults
	// were released; the others finished in the clean rounds after.
	DoneInBudget int
	StepErrors   int
	Wall         time.Duration
	// Reproduce gives, per schedule with a violation, the command that
	// runs it again.
	Reproduce map[int]string
}

// Summary is the campaign's one-line result.
func (r *Result) Summary() string {
	return fmt.Sprintf("%d schedules on the %s store, %d faults injected, %d invariant violations", r.Schedules, r.State, r.Faults, len(r.Violations))
}

// Run runs the campaign. Schedules are independent and run Parallel at a
// time; the result lists them in index order. An error means a schedule
// could not be set up or ctx ended.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Schedules <= 0 {
		o.Schedules = 1
	}
	if o.Steps <= 0 {
		o.Steps = DefaultSteps
	}
	if o.Nights <= 0 {
		o.Nights = 1
	}
	if o.Inventory == "" {
		o.Inventory = "demo"
	}
	if o.State == "" {
		o.State = StateOSS
	}
	if o.State != StateOSS && o.State != StateDir {
		return nil, fmt.Errorf("chaos: state %q: want %q (the OSS store on the OSS twin) or %q (the directory store)", o.State, StateOSS, StateDir)
	}
	if o.Parallel <= 0 {
		o.Parallel = 2 * runtime.GOMAXPROCS(0)
	}
	if _, err := kmstwin.LoadInventory(o.Inventory); err != nil {
		return nil, fmt.Errorf("chaos: inventory %s: %w", o.Inventory, err)
	}
	start := time.Now()
	results := make([]*ScheduleResult, o.Schedules)
	errs := make([]error, o.Schedules)
	next := make(chan int)
	var mu sync.Mutex
	finished := 0
	var wg sync.WaitGroup
	for range min(o.Parallel, o.Schedules) {
		wg.Go(func() {
			for i := range next {
				// Each schedule gets its own copy of the inventory: the
				// twin takes it over.
				inv, err := kmstwin.LoadInventory(o.Inventory)
				if err == nil {
					results[i], err = RunSchedule(ctx, o.Seed, o.First+i, inv, o.Steps, o.Nights, o.State)
				}
				errs[i] = err
				mu.Lock()
				finished++
				o.report(results[i], err, finished, start)
				mu.Unlock()
			}
		})
	}
	for i := range o.Schedules {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()

	res := &Result{Seed: o.Seed, State: o.State, FaultsByKind: map[string]int{}, Reproduce: map[int]string{}}
	for i, r := range results {
		if r == nil {
			continue
		}
		if errs[i] != nil {
			r.violate("setup", errs[i].Error())
		}
		res.Schedules++
		for k, n := range r.Faults {
			res.FaultsByKind[k] += n
			res.Faults += n
		}
		if r.DoneInBudget {
			res.DoneInBudget++
		}
		res.StepErrors += r.StepErrors
		res.Violations = append(res.Violations, r.Violations...)
		if len(r.Violations) > 0 {
			res.Reproduce[r.Index] = reproduce(o.Seed, r.Index, o.Inventory, o.Steps, o.Nights, o.State)
		}
	}
	res.Wall = time.Since(start)
	return res, ctx.Err()
}

// report prints one finished schedule.
func (o *Options) report(r *ScheduleResult, err error, finished int, start time.Time) {
	w := o.Progress
	if w == nil {
		return
	}
	if r == nil {
		fmt.Fprintf(w, "chaos: schedule failed to start: %v\n", err)
		return
	}
	if o.Verbose || len(r.Violations) > 0 || err != nil {
		fmt.Fprintf(w, "chaos: schedule %d: %d steps (done in budget: %v), %d clean rounds, %d faults %v, %d step errors, %.1fs\n",
			r.Index, r.Steps, r.DoneInBudget, r.ConvergeRounds, r.FaultCount(), sortedCounts(r.Faults), r.StepErrors, r.Wall.Seconds())
		for _, l := range r.Log {
			if o.Verbose {
				fmt.Fprintf(w, "    %s\n", l)
			}
		}
		if err != nil {
			fmt.Fprintf(w, "  SETUP FAILED: %v\n", err)
		}
		for _, v := range r.Violations {
			fmt.Fprintf(w, "  VIOLATION %s\n", v)
		}
		if len(r.Violations) > 0 || err != nil {
			fmt.Fprintf(w, "  reproduce: %s\n", reproduce(o.Seed, r.Index, o.Inventory, o.Steps, o.Nights, o.State))
		}
	}
	if finished%50 == 0 {
		fmt.Fprintf(w, "chaos: %d/%d schedules in %.0fs\n", finished, o.Schedules, time.Since(start).Seconds())
	}
}

func sortedCounts(m map[string]int) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return out
}
