package discover

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/estate"
)

// KeySource reads a lane's keys. Not-found errors match cloud.ErrNotFound;
// context errors are returned unchanged.
type KeySource interface {
	KeyIDs(ctx context.Context, l estate.Lane) ([]string, error)
	Aliases(ctx context.Context, l estate.Lane) (map[string][]string, error)
	Key(ctx context.Context, l estate.Lane, id string) (estate.Key, error)
}

// SecretSource reads a lane's secrets' metadata, never their values.
// Errors as KeySource.
type SecretSource interface {
	SecretNames(ctx context.Context, l estate.Lane) ([]estate.Secret, error)
	Secret(ctx context.Context, l estate.Lane, s estate.Secret) (estate.Secret, error)
}

// InstanceSource reads the KMS 3.0 instances a lane's account can see.
// InstanceIDs maps instance id to owner account. Errors as KeySource.
type InstanceSource interface {
	InstanceIDs(ctx context.Context, l estate.Lane) (map[string]string, error)
	Instance(ctx context.Context, l estate.Lane, id, owner string) (estate.Instance, error)
}

// RegionSource lists the regions KMS is offered in, asked through region
// via.
type RegionSource interface {
	Regions(ctx context.Context, account, via string) ([]string, error)
}

// Source is everything discovery reads. The KMS adapter implements it.
type Source interface {
	KeySource
	SecretSource
	InstanceSource
	RegionSource
}

// TaskProbe makes discovery's first contact with the migration task API of
// a lane. The KMS adapter's task API (kms.Tasks) implements it.
type TaskProbe interface {
	// ProbeTasks calls the task list action once, read-only, and returns
	// the action's name with the outcome. An action the lane cannot call
	// (unknown to the gateway, not granted, credentials refused): an error
	// matching cloud.ErrActionUnavailable. Cancellation: ctx.Err().
	ProbeTasks(ctx context.Context, l estate.Lane) (action string, err error)
}

// Options say what to discover.
type Options struct {
	RunID string
	// TaskAPI, when set, is probed once per lane and the outcome recorded
	// in the lane's inventory (LaneInventory.TaskAPI); nil (the observe
	// backend) probes nothing.
	TaskAPI TaskProbe
	// Accounts to inventory. Required.
	Accounts []string
	// Regions to inventory; empty means every region DescribeRegions lists
	// (asked through SeedRegion).
	Regions    []string
	SeedRegion string
	// Lanes, when set, are the lanes to inventory, instead of Accounts ×
	// Regions (a fanned-out discovery's group).
	Lanes []estate.Lane
	// LaneDone, when set, is called with each lane's inventory (in its
	// canonical order) as soon as the lane is discovered, from the lane's
	// goroutine; not for a lane cut short by the context's end.
	LaneDone func(estate.LaneInventory)
	// Workers is the number of concurrent describe calls per lane and
	// resource kind (default 16).
	Workers int
	// ParallelLanes is the number of lanes discovered at once (default
	// DefaultParallelLanes); the next lane starts as one finishes. What a
	// run holds beyond its results (goroutines, calls waiting for their
	// quota) is bounded by it, not by the number of lanes. The gateway's
	// quotas are per account and region, so each lane still runs at its
	// own quota.
	ParallelLanes int
	// Progress, when set, is called as resources are described (from
	// several goroutines; it must be cheap and safe for concurrent use).
	Progress func(Progress)
	// Now stamps the inventory (default time.Now).
	Now func() time.Time
}

// Progress is a snapshot of a discovery's advance.
type Progress struct {
	Lanes, LanesDone  int
	Listed, Described int64 // resources listed so far and described so far
	Errors            int64
}

// DefaultParallelLanes is Options.ParallelLanes' default: at the gateway's
// quotas a lane of a few dozen resources takes about a second, so 64 lanes
// at once keep a discover invocation busy while what it holds stays a
// small fraction of its memory.
const DefaultParallelLanes = 64

// Run inventories every lane of opts. It returns an error only for what
// prevents a whole run (bad options, no region list, context end); failures
// of single lanes or resources are recorded in the inventory.
func Run(ctx context.Context, src Source, opts Options) (*estate.Inventory, error) {
	if len(opts.Accounts) == 0 && len(opts.Lanes) == 0 {
		return nil, errors.New("discover: options: accounts: at least one account is required")
	}
	if opts.Workers <= 0 {
		opts.Workers = 16
	}
	if opts.ParallelLanes <= 0 {
		opts.ParallelLanes = DefaultParallelLanes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	lanes, err := Lanes(ctx, src, opts)
	if err != nil {
		return nil, err
	}
	r := &run{src: src, opts: opts, prog: Progress{Lanes: len(lanes)}}
	inv := &estate.Inventory{RunID: opts.RunID, DiscoveredAt: opts.Now().UTC(), Lanes: make([]estate.LaneInventory, len(lanes))}
	parallel(ctx, len(lanes), opts.ParallelLanes, func(i int) {
		li := r.lane(ctx, lanes[i])
		if ctx.Err() != nil {
			return
		}
		one := estate.Inventory{Lanes: []estate.LaneInventory{li}}
		one.Normalize()
		inv.Lanes[i] = one.Lanes[0]
		r.lanesDone.Add(1)
		r.report()
		if opts.LaneDone != nil {
			opts.LaneDone(inv.Lanes[i])
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	inv.Normalize()
	return inv, nil
}

// Lanes returns the lanes opts names, sorted and without repeats: its
// Lanes, else its accounts × regions (listing an account's regions through
// SeedRegion when opts has none). Its errors are Run's.
func Lanes(ctx context.Context, src Source, opts Options) ([]estate.Lane, error) {
	if len(opts.Lanes) > 0 {
		lanes := slices.Clone(opts.Lanes)
		for _, l := range lanes {
			if err := l.Validate(); err != nil {
				return nil, fmt.Errorf("discover: options: %w", err)
			}
		}
		slices.SortFunc(lanes, estate.Lane.Compare)
		return slices.CompactFunc(lanes, func(a, b estate.Lane) bool { return a == b }), nil
	}
	var lanes []estate.Lane
	for _, a := range opts.Accounts {
		regions := opts.Regions
		if len(regions) == 0 {
			if opts.SeedRegion == "" {
				return nil, errors.New("discover: options: regions: give regions, or a seed region to list them from")
			}
			var err error
			if regions, err = src.Regions(ctx, a, opts.SeedRegion); err != nil {
				return nil, fmt.Errorf("discover: list regions of account %s: %w", a, err)
			}
		}
		for _, r := range regions {
			l := estate.Lane{Account: a, Region: r}
			if err := l.Validate(); err != nil {
				return nil, fmt.Errorf("discover: options: %w", err)
			}
			lanes = append(lanes, l)
		}
	}
	slices.SortFunc(lanes, estate.Lane.Compare)
	return slices.CompactFunc(lanes, func(a, b estate.Lane) bool { return a == b }), nil
}

type run struct {
	src       Source
	opts      Options
	prog      Progress
	lanesDone atomic.Int64
	listed    atomic.Int64
	described atomic.Int64
	errs      atomic.Int64
}

func (r *run) report() {
	if r.opts.Progress == nil {
		return
	}
	r.opts.Progress(Progress{
		Lanes: r.prog.Lanes, LanesDone: int(r.lanesDone.Load()),
		Listed: r.listed.Load(), Described: r.described.Load(), Errors: r.errs.Load(),
	})
}

// laneState collects one lane's results from several goroutines.
type laneState struct {
	mu  sync.Mutex
	inv estate.LaneInventory
}

func (s *laneState) fail(op, resource string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inv.Errors = append(s.inv.Errors, estate.DiscoveryError{Op: op, Resource: resource, Code: cloud.Code(err), Message: err.Error()})
}

func (r *run) lane(ctx context.Context, l estate.Lane) estate.LaneInventory {
	s := &laneState{inv: estate.LaneInventory{Lane: l}}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); r.keys(ctx, l, s) }()
	go func() { defer wg.Done(); r.secrets(ctx, l, s) }()
	go func() { defer wg.Done(); r.instances(ctx, l, s) }()
	if r.opts.TaskAPI != nil {
		wg.Add(1)
		go func() { defer wg.Done(); r.probe(ctx, l, s) }()
	}
	wg.Wait()
	return s.inv
}

// probe records whether the lane's migration task API answers its list
// action. A failure is not a discovery error (the lane's resources are
// all listed): the classifier blocks the lane on it.
func (r *run) probe(ctx context.Context, l estate.Lane, s *laneState) {
	action, err := r.opts.TaskAPI.ProbeTasks(ctx, l)
	if err != nil && ctx.Err() != nil {
		return // the run ends with ctx's error
	}
	p := &estate.TaskAPIProbe{Action: action, Available: err == nil}
	if err != nil {
		p.Code, p.Message, p.Permanent = cloud.Code(err), err.Error(), errors.Is(err, cloud.ErrActionUnavailable)
		if p.Code == "" {
			p.Code = "Error"
		}
	}
	s.mu.Lock()
	s.inv.TaskAPI = p
	s.mu.Unlock()
}

func (r *run) keys(ctx context.Context, l estate.Lane, s *laneState) {
	ids, err := r.src.KeyIDs(ctx, l)
	if err != nil {
		r.errs.Add(1)
		s.fail("ListKeys", "", err)
		return
	}
	r.listed.Add(int64(len(ids)))
	// Aliases are listed while the keys are described: both use the same
	// quota, and the describe calls must not wait for the listing.
	var aliases map[string][]string
	aliasesDone := make(chan struct{})
	go func() {
		defer close(aliasesDone)
		var err error
		if aliases, err = r.src.Aliases(ctx, l); err != nil {
			r.errs.Add(1)
			s.fail("ListAliases", "", err)
		}
	}()
	keys := make([]*estate.Key, len(ids))
	r.each(ctx, len(ids), func(i int) {
		k, err := r.src.Key(ctx, l, ids[i])
		switch {
		case errors.Is(err, cloud.ErrNotFound):
			return // deleted since it was listed
		case err != nil:
			if ctx.Err() == nil {
				r.errs.Add(1)
				s.fail("DescribeKey", ids[i], err)
			}
			return
		}
		keys[i] = &k
		r.described.Add(1)
		r.report()
	})
	<-aliasesDone
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if k != nil {
			k.Aliases = aliases[k.ID]
			s.inv.Keys = append(s.inv.Keys, *k)
		}
	}
}

func (r *run) secrets(ctx context.Context, l estate.Lane, s *laneState) {
	listed, err := r.src.SecretNames(ctx, l)
	if err != nil {
		r.errs.Add(1)
		s.fail("ListSecrets", "", err)
		return
	}
	r.listed.Add(int64(len(listed)))
	out := make([]*estate.Secret, len(listed))
	r.each(ctx, len(listed), func(i int) {
		sec, err := r.src.Secret(ctx, l, listed[i])
		switch {
		case errors.Is(err, cloud.ErrNotFound):
			return
		case err != nil:
			if ctx.Err() == nil {
				r.errs.Add(1)
				s.fail("DescribeSecret", listed[i].Name, err)
			}
			return
		}
		out[i] = &sec
		r.described.Add(1)
		r.report()
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sec := range out {
		if sec != nil {
			s.inv.Secrets = append(s.inv.Secrets, *sec)
		}
	}
}

func (r *run) instances(ctx context.Context, l estate.Lane, s *laneState) {
	ids, err := r.src.InstanceIDs(ctx, l)
	if err != nil {
		r.errs.Add(1)
		s.fail("ListKmsInstances", "", err)
		return
	}
	for id, owner := range ids {
		in, err := r.src.Instance(ctx, l, id, owner)
		if err != nil {
			if !errors.Is(err, cloud.ErrNotFound) && ctx.Err() == nil {
				r.errs.Add(1)
				s.fail("GetKmsInstance", id, err)
			}
			continue
		}
		s.mu.Lock()
		s.inv.Instances = append(s.inv.Instances, in)
		s.mu.Unlock()
	}
}

// each runs fn(0..n-1) on the run's worker pool, stopping early when ctx
// ends.
func (r *run) each(ctx context.Context, n int, fn func(i int)) {
	parallel(ctx, n, r.opts.Workers, fn)
}

// parallel runs fn(0..n-1) on at most workers goroutines, each taking the
// next index as it finishes one, stopping early when ctx ends.
func parallel(ctx context.Context, n, workers int, fn func(i int)) {
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for w := 0; w < min(workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}
