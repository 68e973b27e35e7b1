package benchmarks

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/kmsmig/kmsmig/shared/discover"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/testinfra/rehearsal"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// LaneMemory is one discovery of DiscoveryMemory: how many lanes, the peak
// memory in use above what was in use before it started (heap and
// goroutine stacks, the twin's share included), and how long it took.
type LaneMemory struct {
	Lanes   int
	Peak    uint64
	Elapsed time.Duration
}

// DiscoveryMemory discovers one estate of the given size spread over each
// number of lanes in turn (10 regions × lanes/10 accounts), with the
// twin and the client at the gateway's documented quotas, and returns the
// peak memory of each. With the same resources over more lanes, what
// discovery holds beyond its results is bounded by the lanes in progress
// and the calls in flight, so the peaks should stay close.
func DiscoveryMemory(ctx context.Context, resources int, lanes ...int) ([]LaneMemory, error) {
	var out []LaneMemory
	for _, n := range lanes {
		if n < 10 || n%10 != 0 {
			return nil, fmt.Errorf("benchmarks: discovery memory: lanes %d: want a multiple of 10 (10 regions × accounts)", n)
		}
		m, err := discoveryMemory(ctx, resources, n)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func discoveryMemory(ctx context.Context, resources, lanes int) (LaneMemory, error) {
	inv := kmstwin.Generate(kmstwin.GenerateOptions{Keys: resources * 2 / 3, Secrets: resources - resources*2/3,
		Regions: 10, Accounts: lanes / 10, Seed: 15})
	st, err := stack.Start(stack.Options{Inventory: inv})
	if err != nil {
		return LaneMemory{}, err
	}
	defer st.Close()
	got, elapsed, used, err := discoverAll(ctx, st, "discovery memory")
	if err != nil {
		return LaneMemory{}, err
	}
	if len(got.Lanes) != lanes {
		return LaneMemory{}, fmt.Errorf("benchmarks: discovery memory: %d lanes discovered, want %d", len(got.Lanes), lanes)
	}
	return LaneMemory{Lanes: lanes, Peak: used, Elapsed: elapsed}, nil
}

// discoverAll discovers every lane of st in one discovery, sampling the
// memory it holds (heap and stacks above what was in use before), and
// returns the inventory, the wall time and that peak; a lane that failed
// is an error naming what (the figure's name) and the lane.
func discoverAll(ctx context.Context, st *stack.Stack, what string) (*estate.Inventory, time.Duration, uint64, error) {
	c, accounts, err := client(st, nil)
	if err != nil {
		return nil, 0, 0, err
	}
	peak := peakMemory(heapAndStacks, 5*time.Millisecond)
	start := time.Now()
	got, err := discover.Run(ctx, c, discover.Options{Accounts: accounts, Regions: st.KMS.Regions()})
	elapsed := time.Since(start)
	used := peak()
	if err != nil {
		return nil, 0, 0, err
	}
	for _, li := range got.Lanes {
		if len(li.Errors) > 0 {
			return nil, 0, 0, fmt.Errorf("benchmarks: %s: lane %s: %s", what, li.Lane, li.Errors[0].Message)
		}
	}
	return got, elapsed, used, nil
}

// heapAndStacks is the memory a discovery holds: the heap and the
// goroutine stacks in use.
func heapAndStacks(m *runtime.MemStats) uint64 { return m.HeapInuse + m.StackInuse }

// heapOnly is the heap in use.
func heapOnly(m *runtime.MemStats) uint64 { return m.HeapInuse }

// peakMemory starts sampling inUse every period and returns the function
// that stops it, returning the peak above what was in use when it started.
func peakMemory(inUse func(*runtime.MemStats) uint64, period time.Duration) func() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	base := inUse(&m)
	peak := base
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(period):
				runtime.ReadMemStats(&m)
				peak = max(peak, inUse(&m))
			}
		}
	}()
	return func() uint64 {
		close(stop)
		wg.Wait()
		return peak - base
	}
}

// Scale is one discovery of a whole generated estate in one invocation,
// against the twin and the client at the gateway's documented quotas.
type Scale struct {
	Lanes, Resources int
	// Elapsed is the discovery's wall time; Bound is the time to discover
	// its largest lane (most keys and secrets) alone, at that lane's quota:
	// no discovery of the estate can take less, the quotas being per
	// account and region.
	Elapsed, Bound time.Duration
	// Peak is the memory in use above what was in use before (heap and
	// goroutine stacks, the in-process twin's share included).
	Peak uint64
	// Invocations is how many discover invocations did the work.
	Invocations int
}

// DiscoveryScale discovers the estate opts generates, its largest lane
// alone first (the bound), then every lane in one invocation.
func DiscoveryScale(ctx context.Context, opts kmstwin.GenerateOptions) (Scale, error) {
	inv := kmstwin.Generate(opts)
	st, err := stack.Start(stack.Options{Inventory: inv})
	if err != nil {
		return Scale{}, err
	}
	defer st.Close()
	bound, err := largestLaneAlone(ctx, st, inv)
	if err != nil {
		return Scale{}, err
	}
	got, elapsed, used, err := discoverAll(ctx, st, "discovery scale")
	if err != nil {
		return Scale{}, err
	}
	resources := 0
	for _, li := range got.Lanes {
		resources += len(li.Keys) + len(li.Secrets)
	}
	return Scale{Lanes: len(got.Lanes), Resources: resources, Elapsed: elapsed, Bound: bound, Peak: used, Invocations: 1}, nil
}

// largestLaneAlone discovers the lane of inv with the most keys and
// secrets alone, at its quota, and returns how long it took: no discovery
// of the estate can take less, the quotas being per account and region.
// It uses a client of its own, so that a discovery of the estate after it
// starts with full buckets.
func largestLaneAlone(ctx context.Context, st *stack.Stack, inv *kmstwin.Inventory) (time.Duration, error) {
	var largest estate.Lane
	most := -1
	for _, a := range inv.Accounts {
		for region, ri := range a.Regions {
			if n := len(ri.Keys) + len(ri.Secrets); n > most {
				most, largest = n, estate.Lane{Account: a.ID, Region: region}
			}
		}
	}
	alone, _, err := client(st, nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := discover.Run(ctx, alone, discover.Options{Lanes: []estate.Lane{largest}}); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// FanoutScale is one discovery of a whole generated estate by the real
// discover binary under the FC twin, fanned out over invocations.
type FanoutScale struct {
	Lanes, Resources, PerInvocation int
	// Groups is how many groups the coordinator handed out; Invocations
	// how many discover invocations ran (the coordinator's included) on
	// Instances instances.
	Groups, Invocations, Instances int
	// Elapsed is from the coordinator's invocation to the plan persisted;
	// Bound as in Scale.
	Elapsed, Bound time.Duration
	// PeakPerInvocation is the largest peak resident set of one discover
	// invocation (the process's, as the FC twin measures it).
	PeakPerInvocation int64
}

// DiscoveryFanout discovers the estate opts generates with the discover
// binary of dist, deployed from syaml with
// KMSMIG_DISCOVER_LANES_PER_INVOCATION=per, on the FC twin's clock at real
// time and the documented quotas; Bound is its largest lane alone, on a
// stack of its own.
func DiscoveryFanout(ctx context.Context, opts kmstwin.GenerateOptions, dist, syaml string, per int) (FanoutScale, error) {
	inv := kmstwin.Generate(opts)
	st, err := stack.Start(stack.Options{Inventory: inv})
	if err != nil {
		return FanoutScale{}, err
	}
	bound, err := largestLaneAlone(ctx, st, inv)
	st.Close()
	if err != nil {
		return FanoutScale{}, err
	}
	run, err := rehearsal.Discovery(ctx, rehearsal.Options{Inventory: kmstwin.Generate(opts), SYAML: syaml, Dist: dist, Speed: 1,
		Timeout: 10 * time.Minute, Settings: map[string]string{"KMSMIG_DISCOVER_LANES_PER_INVOCATION": strconv.Itoa(per)}})
	if err != nil {
		return FanoutScale{}, err
	}
	resources := 0
	for _, a := range inv.Accounts {
		for _, ri := range a.Regions {
			resources += len(ri.Keys) + len(ri.Secrets)
		}
	}
	return FanoutScale{Lanes: run.Lanes, Resources: resources, PerInvocation: per, Groups: run.Groups,
		Invocations: run.Discover.Invocations, Instances: run.Discover.Instances,
		Elapsed: run.Wall, Bound: bound, PeakPerInvocation: run.Discover.InvocationPeak}, nil
}
