package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kmsmig/kmsmig/shared/discover"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// Fanout is the run-state record (statekeys.DiscoveryFanout) of a
// discovery split over several discover invocations: the coordinator
// writes it once, each group's invocation persists its lanes' inventories
// as they complete and then adds its group to Done; the invocation whose
// compare-and-swap completes Done claims the planning (Planner) and plans
// the whole estate, since duplicate names and shared instances span lanes.
type Fanout struct {
	RunID string `json:"runId"`
	// At stamps the assembled inventory: the coordinator's trigger time.
	At time.Time `json:"at"`
	// Include and Exclude are the plan filters of the coordinator's event
	// (nil: the configuration's).
	Include []string `json:"include,omitempty"`
	Exclude []string `json:"exclude,omitempty"`
	// Groups are the lanes each invocation discovers, in order.
	Groups [][]estate.Lane `json:"groups"`
	// Done are the groups whose every lane's inventory is persisted, in the
	// order they finished.
	Done []int `json:"done,omitempty"`
	// Planner is who claimed the planning ("group N", or "coordinator" on
	// resume); empty until Done is complete.
	Planner string `json:"planner,omitempty"`
	// Planned is set once the estate's plan is persisted.
	Planned bool `json:"planned,omitempty"`
}

// complete reports whether every group is done.
func (f *Fanout) complete() bool { return len(f.Done) == len(f.Groups) }

// lanes returns every lane of every group.
func (f *Fanout) lanes() []estate.Lane {
	var out []estate.Lane
	for _, g := range f.Groups {
		out = append(out, g...)
	}
	return out
}

// GroupLanes splits lanes (sorted, so an account's regions stay together)
// into groups of at most per lanes, the last possibly smaller.
func GroupLanes(lanes []estate.Lane, per int) [][]estate.Lane {
	if per <= 0 {
		per = len(lanes)
	}
	var out [][]estate.Lane
	for l := range slices.Chunk(lanes, max(per, 1)) {
		out = append(out, slices.Clone(l))
	}
	return out
}

// openFanout returns the run's fan-out record, writing it from lanes in
// groups of per lanes when there is none. A record already there wins (a
// repeated coordinator resumes the discovery it started), so groups never
// change under the invocations working on them.
func openFanout(ctx context.Context, s runstate.Store, r request, lanes []estate.Lane, per int) (Fanout, error) {
	var f Fanout
	_, err := runstate.MutateJSON(ctx, s, statekeys.DiscoveryFanout(r.runID), func(v *Fanout, exists bool) error {
		if !exists {
			*v = Fanout{RunID: r.runID, At: r.at.UTC(), Include: r.settings.Include, Exclude: r.settings.Exclude, Groups: GroupLanes(lanes, per)}
		}
		f = *v
		return nil
	})
	if err != nil {
		return Fanout{}, fmt.Errorf("discover: fan-out of %s: %w", r.runID, err)
	}
	return f, nil
}

// discoverGroup discovers the lanes of group g of the run's fan-out that
// have no inventory yet, persisting each as it completes, then marks the
// group done. It returns the record as its compare-and-swap left it and
// whether this invocation claimed the planning.
func (d *Discoverer) discoverGroup(ctx context.Context, runID string, g int) (Fanout, bool, error) {
	key := statekeys.DiscoveryFanout(runID)
	f, _, err := runstate.GetJSON[Fanout](ctx, d.Store, key)
	switch {
	case errors.Is(err, runstate.ErrNotFound):
		return Fanout{}, false, fmt.Errorf("discover event: fanoutGroup: run %s has no fan-out record (%s)", runID, key)
	case err != nil:
		return Fanout{}, false, fmt.Errorf("discover: read %s: %w", key, err)
	}
	if g < 0 || g >= len(f.Groups) {
		return Fanout{}, false, fmt.Errorf("discover event: fanoutGroup: %d is not a group of run %s (0..%d)", g, runID, len(f.Groups)-1)
	}
	have, err := d.laneInventories(ctx, runID)
	if err != nil {
		return Fanout{}, false, err
	}
	var todo []estate.Lane
	for _, l := range f.Groups[g] {
		if !have[l] {
			todo = append(todo, l)
		}
	}
	if len(todo) > 0 {
		if err := d.discoverLanes(ctx, runID, f.At, todo); err != nil {
			return Fanout{}, false, err
		}
	}
	claimed := false
	me := fmt.Sprintf("group %d", g)
	_, err = runstate.MutateJSON(ctx, d.Store, key, func(v *Fanout, exists bool) error {
		claimed = false
		if !exists {
			return fmt.Errorf("the fan-out record disappeared")
		}
		if !slices.Contains(v.Done, g) {
			v.Done = append(v.Done, g)
		}
		if v.complete() && (v.Planner == "" || v.Planner == me) && !v.Planned {
			v.Planner, claimed = me, true // a retry of the claimant claims again
		}
		f = *v
		return nil
	})
	if err != nil {
		return Fanout{}, false, fmt.Errorf("discover: mark group %d of %s done: %w", g, runID, err)
	}
	return f, claimed, nil
}

// discoverLanes discovers lanes and persists each lane's inventory as
// soon as it is done. A lane that could not be persisted is discovered
// again by the next attempt; the error names every such lane.
func (d *Discoverer) discoverLanes(ctx context.Context, runID string, at time.Time, lanes []estate.Lane) error {
	var mu sync.Mutex
	var failed []string
	_, err := discover.Run(ctx, d.Source, discover.Options{
		RunID: runID, Lanes: lanes, Progress: d.Progress, Now: func() time.Time { return at }, TaskAPI: d.taskProbe(),
		LaneDone: func(li estate.LaneInventory) {
			key := statekeys.LaneInventory(runID, li.Lane)
			_, err := runstate.MutateJSON(ctx, d.Store, key, func(v *estate.LaneInventory, _ bool) error { *v = li; return nil })
			if err != nil {
				mu.Lock()
				failed = append(failed, fmt.Sprintf("%s: %v", key, err))
				mu.Unlock()
			}
		},
	})
	if err != nil {
		return err
	}
	if len(failed) > 0 {
		slices.Sort(failed)
		return fmt.Errorf("discover: persist lane inventories: %s", strings.Join(failed, "; "))
	}
	return nil
}

// laneInventories returns the lanes of the run that have an inventory.
func (d *Discoverer) laneInventories(ctx context.Context, runID string) (map[estate.Lane]bool, error) {
	prefix := statekeys.LaneInventoryPrefix(runID)
	keys, err := d.Store.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("discover: list %s: %w", prefix, err)
	}
	out := make(map[estate.Lane]bool, len(keys))
	for _, k := range keys {
		rest, ok := strings.CutSuffix(strings.TrimPrefix(k, prefix), ".json")
		account, region, found := strings.Cut(rest, "/")
		if !ok || !found {
			continue
		}
		out[estate.Lane{Account: account, Region: region}] = true
	}
	return out, nil
}

// assemble reads every lane inventory of a complete fan-out into the
// run's inventory.
func (d *Discoverer) assemble(ctx context.Context, f Fanout) (*estate.Inventory, error) {
	inv := &estate.Inventory{RunID: f.RunID, DiscoveredAt: f.At}
	for _, l := range f.lanes() {
		li, _, err := runstate.GetJSON[estate.LaneInventory](ctx, d.Store, statekeys.LaneInventory(f.RunID, l))
		if err != nil {
			return nil, fmt.Errorf("discover: assemble %s: lane %s: %w", f.RunID, l, err)
		}
		inv.Lanes = append(inv.Lanes, li)
	}
	inv.Normalize()
	return inv, nil
}

// fanout runs the fan-out step r asks for. A group's invocation discovers
// its group and, when it completes the fan-out, returns the whole
// inventory to plan. A coordinator (Config.DiscoverLanesPerInvocation
// set, a Dispatch, not a dry run) with more lanes than that writes the
// record (groups of GroupSize: at most Config.FanoutInvocations of them) (or finds the one an earlier coordinator of the run wrote) and
// hands every group not done to an invocation of its own; on resume with
// every group done and no plan persisted, it returns the inventory to plan
// itself. handled is false when this invocation discovers everything
// itself, as without fan-out; r is adjusted to the fan-out's time and
// filters when an inventory is returned.
func (d *Discoverer) fanout(ctx context.Context, r *request) (inv *estate.Inventory, res DiscoverResult, handled bool, err error) {
	res = DiscoverResult{RunID: r.runID}
	if r.group != nil {
		f, claimed, err := d.discoverGroup(ctx, r.runID, *r.group)
		if err != nil {
			return nil, res, true, err
		}
		res.Lanes, res.FanoutGroups, res.FanoutGroup, res.FanoutGroupSize = len(f.Groups[*r.group]), len(f.Groups), r.group, len(f.Groups[0])
		if !claimed {
			return nil, res, true, nil
		}
		inv, err := d.assemble(ctx, f)
		r.adopt(f)
		return inv, res, true, err
	}
	per := d.Config.DiscoverLanesPerInvocation
	if per <= 0 || d.Dispatch == nil || r.dryRun {
		return nil, res, false, nil
	}
	f, _, err := runstate.GetJSON[Fanout](ctx, d.Store, statekeys.DiscoveryFanout(r.runID))
	switch {
	case errors.Is(err, runstate.ErrNotFound):
		lanes, err := discover.Lanes(ctx, d.Source, discover.Options{Accounts: r.accounts, Regions: r.regions, SeedRegion: r.seed})
		if err != nil {
			return nil, res, true, err
		}
		if len(lanes) <= per {
			return nil, res, false, nil
		}
		// Never more groups than KMSMIG_FANOUT_INVOCATIONS: the groups
		// grow instead.
		if f, err = openFanout(ctx, d.Store, *r, lanes, GroupSize(len(lanes), per, d.Config.FanoutInvocations)); err != nil {
			return nil, res, true, err
		}
	case err != nil:
		return nil, res, true, fmt.Errorf("discover: read the fan-out of %s: %w", r.runID, err)
	}
	res.Lanes, res.FanoutGroups = len(f.lanes()), len(f.Groups)
	if len(f.Groups) > 0 {
		res.FanoutGroupSize = len(f.Groups[0])
	}
	if f.Planned {
		return nil, res, true, nil // this run's fanned-out discovery is complete
	}
	if f.complete() {
		inv, err := d.assemble(ctx, f)
		r.adopt(f)
		return inv, res, true, err
	}
	for g := range f.Groups {
		if slices.Contains(f.Done, g) {
			continue
		}
		if err := d.Dispatch(ctx, r.runID, g); err != nil {
			return nil, res, true, fmt.Errorf("discover: hand group %d of %s on: %w", g, r.runID, err)
		}
		res.Dispatched++
	}
	return nil, res, true, nil
}

// adopt makes r plan what fan-out f discovered: at its time, with its
// filters.
func (r *request) adopt(f Fanout) {
	r.fanout, r.at = true, f.At
	if f.Include != nil || f.Exclude != nil {
		r.settings.Include, r.settings.Exclude = f.Include, f.Exclude
	}
}

// fanoutPlanned records that the fanned-out run's plan is persisted.
func (d *Discoverer) fanoutPlanned(ctx context.Context, runID string) error {
	_, err := runstate.MutateJSON(ctx, d.Store, statekeys.DiscoveryFanout(runID), func(v *Fanout, exists bool) error {
		if !exists {
			return fmt.Errorf("the fan-out record disappeared")
		}
		v.Planned = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("discover: mark the fan-out of %s planned: %w", runID, err)
	}
	return nil
}
