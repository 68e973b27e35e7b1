package wiring_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/eventjson"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/wiring"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	fctwin "github.com/kmsmig/kmsmig/twin/fc"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// runStep runs a migrate, poll or rotate invocation of requestID on a raw
// event the way the function does: decoded strictly, wired, served.
func runStep[E any](t *testing.T, st *stack.Stack, cfg app.Config, function string, uc wiring.UseCase[E, app.StepResult]) func(ctx context.Context, requestID string, event []byte) (app.StepResult, error) {
	return func(ctx context.Context, requestID string, event []byte) (app.StepResult, error) {
		var ev E
		if err := eventjson.Decode(event, &ev); err != nil {
			return app.StepResult{}, err
		}
		inv := invocation(t, st, function)
		inv.RequestID = requestID
		return wiring.Invoke(ctx, wiring.NewObserver(cfg, &lines{}), cfg, nil, inv, function,
			func(ctx context.Context, d *wiring.Deps) (app.StepResult, error) { return uc(ctx, d, ev) })
	}
}

// A run of eleven lanes at five lanes per invocation, end to end through
// Function Compute (the FC twin running migrate, poll and rotate, at most
// three instances of each): discover's kick makes migrate a coordinator
// that hands three groups (5, 5, 1 lanes, in plan order) to migrate; each
// poll timer hands three groups to poll; the engine's chain (rotate,
// migrate of a lane) runs through FC as always. The run completes with
// exactly one task per batch and every rotation switched off restored.
func TestMigrateAndPollFanOutThroughFunctionCompute(t *testing.T) {
	inventory := kmstwin.Generate(kmstwin.GenerateOptions{Keys: 66, Secrets: 22, Regions: 12, Accounts: 1, Seed: 15})
	st, err := stack.Start(stack.Options{Inventory: inventory, Unthrottled: true, Timing: kmstwin.TaskTiming{Speed: 1e6}})
	require.NoError(t, err)
	t.Cleanup(func() { go st.Close() })
	ready := st.Ready()
	home := homeAccount(t, st)
	var endpoints []string
	for r, a := range ready.KMS {
		endpoints = append(endpoints, r+"="+a)
	}
	state := t.TempDir()
	cfg, err := app.LoadConfig(getenv(map[string]string{
		"KMSMIG_KMS_ENDPOINTS": strings.Join(endpoints, ","), "KMSMIG_INSECURE": "true", "KMSMIG_STATE": "dir:" + state,
		"KMSMIG_REGIONS": strings.Join(kmstwin.GeneratedRegions, ","), "KMSMIG_FC_ENDPOINT": ready.FC, "KMSMIG_AUDIT": "off",
		"KMSMIG_STEP_LANES_PER_INVOCATION": "5",
	}))
	require.NoError(t, err)
	steps := map[string]func(context.Context, string, []byte) (app.StepResult, error){
		"kmsmig-migrate": runStep(t, st, cfg, "migrate", wiring.Migrate),
		"kmsmig-poll":    runStep(t, st, cfg, "poll", wiring.Poll),
		"kmsmig-rotate":  runStep(t, st, cfg, "rotate", wiring.Rotate),
	}
	var mu sync.Mutex
	results := map[string]app.StepResult{} // by request id
	for name, step := range steps {
		require.NoError(t, st.FC.Deploy(fctwin.Function{Name: name, AccountID: home.ID, Region: "cn-hangzhou",
			Timeout: time.Minute, InstanceConcurrency: 1, MaxInstances: 3,
			Handler: func(ctx context.Context, event []byte) ([]byte, error) {
				fcc, _ := fccontext.FromContext(ctx)
				res, err := step(ctx, fcc.RequestID, event)
				if err != nil {
					return nil, err
				}
				mu.Lock()
				results[fcc.RequestID] = res
				mu.Unlock()
				return json.Marshal(res)
			}}))
	}
	quiet := func() {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !st.FC.Quiesce(func(fctwin.Quiet) {}) {
			require.True(t, time.Now().Before(deadline), "Function Compute never quiet: %+v", st.FC.Invocations())
			time.Sleep(20 * time.Millisecond)
		}
	}

	// discover plans the run and kicks migrate through FC.
	inv := invocation(t, st, "discover")
	disc, err := wiring.Invoke(t.Context(), wiring.NewObserver(cfg, &lines{}), cfg, nil, inv, "discover",
		func(ctx context.Context, d *wiring.Deps) (app.DiscoverResult, error) {
			return wiring.Discover(ctx, d, app.DiscoverEvent{})
		})
	require.NoError(t, err)
	runID := disc.RunID
	store, err := runstate.OpenDir(state)
	require.NoError(t, err)
	p, _, err := runstate.GetJSON[plan.Plan](t.Context(), store, statekeys.Plan(runID))
	require.NoError(t, err)
	var lanes []string
	for _, lp := range p.Lanes {
		if len(lp.Batches) > 0 {
			lanes = append(lanes, lp.Lane.String())
		}
	}
	require.Len(t, lanes, 11, "the generated estate: twelve regions, the last without an instance")
	quiet()

	// groupsOf returns the group events fn's coordinator requestID handed
	// out, in group order, checking each is a group event of the run.
	groupsOf := func(fn, requestID string) [][]string {
		t.Helper()
		var out [][]string
		for g := 0; ; g++ {
			id := migration.ChainTaskID(runID, fn+"-"+requestID, fmt.Sprintf("group-%d", g))
			i := slices.IndexFunc(st.FC.Invocations(), func(inv fctwin.Invocation) bool { return inv.TaskID == id })
			if i < 0 {
				return out
			}
			inv := st.FC.Invocations()[i]
			require.Equal(t, fn, inv.Function)
			require.Equal(t, fctwin.StatusSucceeded, inv.Status, "%s: %s", id, inv.Response)
			var ev app.StepGroupEvent
			require.NoError(t, eventjson.Decode(inv.Event, &ev))
			require.Equal(t, runID, ev.RunID)
			out = append(out, ev.Lanes)
		}
	}
	// checkGroups: the coordinator handed want (lanes in plan order) to
	// groups of at most five, each a group invocation that did not fan out
	// again; want within one invocation's five: no fan-out at all.
	checkGroups := func(fn string, res app.StepResult, requestID string, want []string) {
		t.Helper()
		if len(want) <= 5 {
			assert.Nil(t, res.Fanout, "%s %s: %d lanes at work are stepped here", fn, requestID, len(want))
			assert.Empty(t, groupsOf(fn, requestID))
			return
		}
		n := (len(want) + 4) / 5
		require.NotNil(t, res.Fanout, "%s %s coordinated", fn, requestID)
		assert.Equal(t, app.StepFanout{Function: fn, Lanes: len(want), Groups: n, GroupSize: 5, Dispatched: n}, *res.Fanout)
		groups := groupsOf(fn, requestID)
		require.Len(t, groups, n, "group invocations of %s", fn)
		assert.Equal(t, want, slices.Concat(groups...), "%s: every lane in exactly one group, in plan order", fn)
		for _, g := range groups {
			assert.LessOrEqual(t, len(g), 5)
			id := slices.IndexFunc(st.FC.Invocations(), func(inv fctwin.Invocation) bool {
				var ev app.StepGroupEvent
				return inv.Function == fn && json.Unmarshal(inv.Event, &ev) == nil && slices.Equal(ev.Lanes, g)
			})
			mu.Lock()
			gr := results[st.FC.Invocations()[id].RequestID]
			mu.Unlock()
			assert.Nil(t, gr.Fanout, "a group never fans out")
			assert.Equal(t, len(g), gr.GroupLanes)
		}
	}

	// The kick: migrate of the whole run, a coordinator.
	kicks := slices.DeleteFunc(st.FC.Invocations(), func(inv fctwin.Invocation) bool {
		return inv.Function != "kmsmig-migrate" || !strings.Contains(inv.TaskID, "_kick")
	})
	require.Len(t, kicks, 1)
	mu.Lock()
	kick := results[kicks[0].RequestID]
	mu.Unlock()
	checkGroups("kmsmig-migrate", kick, kicks[0].RequestID, lanes)
	require.NotNil(t, kick.Fanout)

	// Poll timers until the run is done, each a coordinator of the lanes
	// at work then.
	eng := &migration.Engine{Store: store}
	polled := 0
	for tick := 0; ; tick++ {
		prog, err := eng.Status(t.Context(), runID)
		require.NoError(t, err)
		if prog.Done() {
			break
		}
		require.Less(t, tick, 30, "the run did not finish: %v", prog.Active)
		atWork, err := eng.LanesAtWork(t.Context(), runID)
		require.NoError(t, err)
		var want []string
		for _, l := range atWork {
			want = append(want, l.String())
		}
		id := fmt.Sprintf("req-poll-timer-%d", tick)
		res, err := steps["kmsmig-poll"](t.Context(), id, []byte(`{"triggerName":"poll","triggerTime":"2026-11-30T02:00:00Z"}`))
		require.NoError(t, err)
		quiet()
		checkGroups("kmsmig-poll", res, id, want)
		if res.Fanout != nil {
			polled++
		}
	}
	require.Positive(t, polled, "poll fanned out while more lanes than one invocation's were at work")
	var failed []string
	for _, inv := range st.FC.Invocations() {
		if inv.Status != fctwin.StatusSucceeded {
			failed = append(failed, inv.Function+": "+string(inv.Response))
		}
	}
	require.Empty(t, failed)
	count := map[string]int{}
	for _, inv := range st.FC.Invocations() {
		count[inv.Function]++
	}
	t.Logf("%d batches in %d lanes; invocations through FC: %v", p.BatchCount(), len(lanes), count)

	// Exactly one task per batch; every rotation back.
	creds, err := wiring.Credentials(cfg, inv)
	require.NoError(t, err)
	client, err := wiring.NewKMS(cfg, creds)
	require.NoError(t, err)
	for _, lp := range p.Lanes {
		if len(lp.Batches) == 0 {
			continue
		}
		tasks, err := client.Tasks(kms.TaskActions{}).ListTasks(t.Context(), lp.Lane)
		require.NoError(t, err)
		var taskIDs, batchTasks []string
		for _, tk := range tasks {
			taskIDs = append(taskIDs, tk.ID)
		}
		for _, b := range lp.Batches {
			s, _, err := runstate.GetJSON[migration.BatchState](t.Context(), store, statekeys.Batch(runID, b.ID))
			require.NoError(t, err, b.ID)
			require.Equal(t, migration.PhaseVerified, s.Phase, b.ID)
			batchTasks = append(batchTasks, s.TaskID)
		}
		slices.Sort(taskIDs)
		slices.Sort(batchTasks)
		assert.Equal(t, batchTasks, taskIDs, "lane %s: one task per batch", lp.Lane)
		assert.Len(t, slices.Compact(slices.Clone(batchTasks)), len(lp.Batches), "lane %s: no task shared by two batches", lp.Lane)
	}
	ledger, err := store.List(t.Context(), statekeys.LedgerPrefix)
	require.NoError(t, err)
	require.NotEmpty(t, ledger, "the estate had rotation to switch off")
	t.Logf("%d rotation policies switched off and back", len(ledger))
	for _, k := range ledger {
		le, _, err := runstate.GetJSON[migration.LedgerEntry](t.Context(), store, k)
		require.NoError(t, err)
		require.False(t, le.Off(), "%s still off", k)
		var rot estate.Rotation
		if le.Kind == migration.KindKey {
			key, err := client.Key(t.Context(), le.Lane, le.ID)
			require.NoError(t, err)
			rot = key.Rotation
		} else {
			s, err := client.Secret(t.Context(), le.Lane, estate.Secret{Name: le.ID})
			require.NoError(t, err)
			rot = s.Rotation
		}
		assert.True(t, rot.Enabled, "%s: rotation back on in KMS", k)
	}
}
