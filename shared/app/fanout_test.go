package app_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// dispatched records the groups a coordinator handed on.
type dispatched struct {
	mu     sync.Mutex
	groups []int
}

func (d *dispatched) dispatch(_ context.Context, runID string, g int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if runID != "fan" {
		return fmt.Errorf("dispatch of run %s", runID)
	}
	d.groups = append(d.groups, g)
	return nil
}

// fanned is the demo Discoverer with at most per lanes per invocation.
func fanned(t *testing.T, per int) (*app.Discoverer, *dispatched, func() map[string]int64) {
	t.Helper()
	st, d := demo(t)
	d.Config.DiscoverLanesPerInvocation = per
	var disp dispatched
	d.Dispatch = disp.dispatch
	return d, &disp, st.KMS.CallCounts
}

func group(g int) app.DiscoverEvent {
	return app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "fan", FanoutGroup: &g}}
}

// Nine demo lanes at two per invocation: the coordinator hands five
// groups on and discovers nothing; the groups run at once; exactly one of
// them completes the fan-out and plans, and its inventory and plan are
// those of one discover doing everything.
func TestDiscoverFansOutAndTheLastGroupPlans(t *testing.T) {
	d, disp, _ := fanned(t, 2)
	ctx := t.Context()
	coord, err := d.Handle(ctx, app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "fan"}})
	require.NoError(t, err)
	require.Equal(t, 9, coord.Lanes)
	require.Equal(t, 5, coord.FanoutGroups)
	require.Equal(t, 5, coord.Dispatched)
	require.Equal(t, []int{0, 1, 2, 3, 4}, disp.groups)
	require.Empty(t, coord.Plan, "the coordinator plans nothing")
	_, err = d.Store.Get(ctx, statekeys.Inventory("fan"))
	require.ErrorIs(t, err, runstate.ErrNotFound)

	results := make([]app.DiscoverResult, 5)
	var wg sync.WaitGroup
	for g := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			results[g], err = d.Handle(ctx, group(g))
			require.NoError(t, err)
		}()
	}
	wg.Wait()
	f, _, err := runstate.GetJSON[app.Fanout](ctx, d.Store, statekeys.DiscoveryFanout("fan"))
	require.NoError(t, err)
	var planners []int
	for g, res := range results {
		require.Equal(t, g, *res.FanoutGroup)
		require.Equal(t, 5, res.FanoutGroups)
		if res.Plan != "" {
			planners = append(planners, g)
			require.Equal(t, 9, res.Lanes, "the planner reports the whole estate")
		} else {
			require.Equal(t, len(f.Groups[g]), res.Lanes, "group %d reports its lanes", g)
		}
	}
	require.Len(t, planners, 1, "exactly one group plans")
	require.True(t, f.Planned)
	require.Equal(t, fmt.Sprintf("group %d", planners[0]), f.Planner)
	require.Equal(t, planners[0], f.Done[4], "the planner finished last")

	// One discover of the same estate finds and plans the same.
	d.Config.DiscoverLanesPerInvocation = 0
	one, err := d.Handle(ctx, app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "one"}})
	require.NoError(t, err)
	got, _, err := runstate.GetJSON[estate.Inventory](ctx, d.Store, statekeys.Inventory("fan"))
	require.NoError(t, err)
	want, _, err := runstate.GetJSON[estate.Inventory](ctx, d.Store, statekeys.Inventory("one"))
	require.NoError(t, err)
	got.RunID = want.RunID
	// The twin dates next rotations and expiries from its wall clock:
	// the two discoveries may see them a second apart.
	for _, inv := range []*estate.Inventory{&got, &want} {
		for i := range inv.Lanes {
			for k := range inv.Lanes[i].Keys {
				inv.Lanes[i].Keys[k].NextRotation = time.Time{}
			}
			for k := range inv.Lanes[i].Instances {
				inv.Lanes[i].Instances[k].Expires = time.Time{}
			}
		}
	}
	require.True(t, reflect.DeepEqual(want, got), "the fanned-out inventory is the one discover finds alone")
	require.Equal(t, one.Batches, results[planners[0]].Batches)
	require.Equal(t, one.Counts, results[planners[0]].Counts)
	p, _, err := runstate.GetJSON[plan.Plan](ctx, d.Store, statekeys.Plan("fan"))
	require.NoError(t, err)
	require.Equal(t, one.Batches, p.BatchCount())
}

// A lane persisted by an earlier attempt is never discovered again; a
// group run again after the fan-out is planned discovers nothing and
// plans nothing, and so does the coordinator.
func TestDiscoverFanOutResumesWithoutRediscovering(t *testing.T) {
	d, disp, calls := fanned(t, 4)
	ctx := t.Context()
	_, err := d.Handle(ctx, app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "fan"}})
	require.NoError(t, err)
	f, _, err := runstate.GetJSON[app.Fanout](ctx, d.Store, statekeys.DiscoveryFanout("fan"))
	require.NoError(t, err)
	require.Len(t, f.Groups, 3)

	// Group 0's first attempt persisted its first lane, then was lost.
	first := f.Groups[0][0]
	_, err = runstate.MutateJSON(ctx, d.Store, statekeys.LaneInventory("fan", first), func(v *estate.LaneInventory, _ bool) error {
		*v = estate.LaneInventory{Lane: first}
		return nil
	})
	require.NoError(t, err)
	before := calls()["ListKeys"]
	res, err := d.Handle(ctx, group(0))
	require.NoError(t, err)
	require.Equal(t, int64(len(f.Groups[0])-1), calls()["ListKeys"]-before, "the persisted lane is not listed again")
	require.Empty(t, res.Plan)

	// The coordinator, run again (a timer), hands on only what is not done.
	disp.groups = nil
	again, err := d.Handle(ctx, app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "fan"}})
	require.NoError(t, err)
	require.Equal(t, []int{1, 2}, disp.groups)
	require.Equal(t, 2, again.Dispatched)
	for _, g := range []int{2, 1} {
		_, err := d.Handle(ctx, group(g))
		require.NoError(t, err)
	}
	inv, _, err := runstate.GetJSON[estate.Inventory](ctx, d.Store, statekeys.Inventory("fan"))
	require.NoError(t, err)
	lane, ok := inv.Lane(first)
	require.True(t, ok)
	require.Empty(t, lane.Keys, "the persisted lane is the one assembled")

	before = calls()["ListKeys"]
	res, err = d.Handle(ctx, group(1))
	require.NoError(t, err)
	require.Empty(t, res.Plan, "planned already")
	disp.groups = nil
	res, err = d.Handle(ctx, app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "fan"}})
	require.NoError(t, err)
	require.Empty(t, res.Plan)
	require.Empty(t, disp.groups)
	require.Equal(t, before, calls()["ListKeys"], "nothing discovered again")
}

// Every group done but the planner lost before its plan was persisted:
// the coordinator, run again, plans the estate itself.
func TestDiscoverFanOutCoordinatorPlansWhatALostPlannerLeft(t *testing.T) {
	d, _, _ := fanned(t, 5)
	ctx := t.Context()
	_, err := d.Handle(ctx, app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "fan"}})
	require.NoError(t, err)
	f, _, err := runstate.GetJSON[app.Fanout](ctx, d.Store, statekeys.DiscoveryFanout("fan"))
	require.NoError(t, err)
	require.Len(t, f.Groups, 2)
	_, err = d.Handle(ctx, group(0))
	require.NoError(t, err)
	// Group 1's lanes persisted and its claim recorded, then it was lost.
	for _, l := range f.Groups[1] {
		_, err = runstate.MutateJSON(ctx, d.Store, statekeys.LaneInventory("fan", l), func(v *estate.LaneInventory, _ bool) error {
			*v = estate.LaneInventory{Lane: l}
			return nil
		})
		require.NoError(t, err)
	}
	_, err = runstate.MutateJSON(ctx, d.Store, statekeys.DiscoveryFanout("fan"), func(v *app.Fanout, _ bool) error {
		v.Done, v.Planner = append(v.Done, 1), "group 1"
		return nil
	})
	require.NoError(t, err)
	res, err := d.Handle(ctx, app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "fan"}})
	require.NoError(t, err)
	require.NotEmpty(t, res.Plan)
	require.Zero(t, res.Dispatched)
	f, _, err = runstate.GetJSON[app.Fanout](ctx, d.Store, statekeys.DiscoveryFanout("fan"))
	require.NoError(t, err)
	require.True(t, f.Planned)
}

// Few lanes, a dry run or no way to dispatch: discover does everything in
// one invocation, as without fan-out.
func TestDiscoverDoesNotFanOutWhenItNeedNot(t *testing.T) {
	for _, tt := range []struct {
		name   string
		per    int
		dryRun bool
		noDisp bool
	}{
		{"lanes within the limit", 9, false, false},
		{"dry run", 2, true, false},
		{"no dispatch", 2, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, disp, _ := fanned(t, tt.per)
			if tt.noDisp {
				d.Dispatch = nil
			}
			res, err := d.Handle(t.Context(), app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "fan", DryRun: tt.dryRun}})
			require.NoError(t, err)
			require.Equal(t, 9, res.Lanes)
			require.Zero(t, res.FanoutGroups)
			require.Empty(t, disp.groups)
			if !tt.dryRun {
				require.NotEmpty(t, res.Plan)
			}
			_, err = d.Store.Get(t.Context(), statekeys.DiscoveryFanout("fan"))
			require.ErrorIs(t, err, runstate.ErrNotFound)
		})
	}
}

// A group event is refused, naming fanoutGroup, when it lacks its run,
// is a dry run, names no group of the run, or the run never fanned out;
// nothing is written.
func TestDiscoverRefusesBadGroupEvents(t *testing.T) {
	d, _, _ := fanned(t, 4)
	ctx := t.Context()
	two := 2
	for _, ev := range []app.DiscoverOptions{
		{FanoutGroup: &two},
		{RunID: "fan", DryRun: true, FanoutGroup: &two},
		{RunID: "fan", FanoutGroup: &two},
	} {
		_, err := d.Handle(ctx, app.DiscoverEvent{DiscoverOptions: ev})
		require.ErrorContains(t, err, "discover event: fanoutGroup")
	}
	keys, err := d.Store.List(ctx, "")
	require.NoError(t, err)
	require.Empty(t, keys)
	_, err = d.Handle(ctx, app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "fan"}})
	require.NoError(t, err)
	for _, g := range []int{3, -1} {
		_, err = d.Handle(ctx, group(g))
		require.ErrorContains(t, err, "discover event: fanoutGroup")
	}
	lanes, err := d.Store.List(ctx, statekeys.LaneInventoryPrefix("fan"))
	require.NoError(t, err)
	require.Empty(t, lanes)
}

func TestGroupLanes(t *testing.T) {
	var lanes []estate.Lane
	for i := range 7 {
		lanes = append(lanes, estate.Lane{Account: "1", Region: fmt.Sprintf("r%d", i)})
	}
	got := app.GroupLanes(lanes, 3)
	require.Len(t, got, 3)
	require.Equal(t, lanes, slices.Concat(got...))
	require.Len(t, got[2], 1)
}

// KMSMIG_FANOUT_INVOCATIONS caps discover's groups too: nine lanes at one
// per invocation but at most four invocations are three groups of three
// (ceil(9 ÷ 4) = 3), and the result says the group size.
func TestDiscoverFanOutIsCappedByTheInvocations(t *testing.T) {
	d, disp, _ := fanned(t, 1)
	d.Config.FanoutInvocations = 4
	coord, err := d.Handle(t.Context(), app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "fan"}})
	require.NoError(t, err)
	require.Equal(t, 9, coord.Lanes)
	require.Equal(t, 3, coord.FanoutGroups)
	require.Equal(t, 3, coord.FanoutGroupSize)
	require.Equal(t, []int{0, 1, 2}, disp.groups)
	f, _, err := runstate.GetJSON[app.Fanout](t.Context(), d.Store, statekeys.DiscoveryFanout("fan"))
	require.NoError(t, err)
	for g, lanes := range f.Groups {
		require.Len(t, lanes, 3, "group %d", g)
	}
	res, err := d.Handle(t.Context(), group(1))
	require.NoError(t, err)
	require.Equal(t, 3, res.FanoutGroupSize)
	require.Equal(t, 3, res.Lanes)
}
