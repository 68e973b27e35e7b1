package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/approval"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/eventjson"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// handedOut records what a coordinating migrate or poll handed out.
type handedOut struct {
	mu     sync.Mutex
	events []handed
	fail   map[int]bool // groups whose hand-out fails
}

type handed struct {
	function, runID string
	group           int
	event           app.StepEvent
}

func (h *handedOut) dispatch(_ context.Context, fn, runID string, g int, payload []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail[g] {
		return errors.New("throttled")
	}
	var ev app.StepEvent
	if err := eventjson.Decode(payload, &ev); err != nil {
		return err
	}
	h.events = append(h.events, handed{fn, runID, g, ev})
	return nil
}

func (h *handedOut) take() []handed {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.events
	h.events = nil
	return out
}

// fannedExecutor plans the demo estate under KMSMIG_APPROVAL=required and
// returns an executor over it that fans out at per lanes per invocation.
func fannedExecutor(t *testing.T, per, invocations int) (*app.Executor, *handedOut, *kms.Client, string) {
	t.Helper()
	_, d := demoWith(t, stack.Options{Timing: kmstwin.TaskTiming{Speed: 1e6}})
	d.Config.Approval = approval.ModeRequired
	disc, err := d.Handle(t.Context(), app.DiscoverEvent{})
	require.NoError(t, err)
	c := d.Source.(*kms.Client)
	cfg := d.Config
	cfg.StepLanesPerInvocation, cfg.FanoutInvocations = per, invocations
	eng := &migration.Engine{Store: d.Store, KMS: c, Tasks: c.Tasks(kms.TaskActions{}), Config: cfg.EngineConfig(d.Now()),
		Approvals: approval.Gate{Store: d.Store}}
	eng.Config.Functions = migration.Functions{} // the chain is not under test
	h := &handedOut{}
	return &app.Executor{Config: cfg, Engine: eng, Now: d.Now, Dispatch: h.dispatch}, h, c, disc.RunID
}

// checkPartition: the groups handed out hold every lane of the run once,
// in plan order.
func checkPartition(t *testing.T, x *app.Executor, runID string, hs []handed) {
	t.Helper()
	lanes, err := x.Engine.Lanes(t.Context(), runID)
	require.NoError(t, err)
	var got []string
	for i, h := range hs {
		require.Equal(t, i, h.group, "groups in order")
		require.Equal(t, runID, h.runID)
		require.Equal(t, app.StepEvent{RunID: runID, Lanes: h.event.Lanes}, h.event, "a group event names the run and its lanes only")
		got = append(got, h.event.Lanes...)
	}
	var want []string
	for _, l := range lanes {
		want = append(want, l.String())
	}
	require.Equal(t, want, got, "each lane in exactly one group")
}

// A migrate of the whole run over more lanes than one invocation steps
// hands groups of lanes to migrate and steps none itself; the approval
// gate holds in every group; once approved, groups (and overlapping
// steps of the same lanes) start each lane's batch with exactly one task,
// but for a lane that waits for its shared instance's turn.
// A group never fans out again.
func TestMigrateFansOutAndTheGateHoldsInEveryGroup(t *testing.T) {
	x, h, c, runID := fannedExecutor(t, 2, 10)
	ctx := t.Context()
	lanes, err := x.Engine.Lanes(ctx, runID)
	require.NoError(t, err)
	require.Greater(t, len(lanes), 2, "the demo plan has more lanes than a group")
	groups := (len(lanes) + 1) / 2

	res, err := x.Migrate(ctx, app.StepEvent{})
	require.NoError(t, err)
	require.Equal(t, &app.StepFanout{Function: "kmsmig-migrate", Lanes: len(lanes), Groups: groups, GroupSize: 2, Dispatched: groups}, res.Fanout)
	assert.Empty(t, res.Steps, "the coordinator steps no lane")
	assert.Contains(t, res.Approval, app.ApproveCommand(runID), "the coordinator says the run awaits approval")
	hs := h.take()
	require.Len(t, hs, groups)
	for _, e := range hs {
		require.Equal(t, "kmsmig-migrate", e.function)
	}
	checkPartition(t, x, runID, hs)

	// Unapproved: every group invocation switches nothing off.
	for _, e := range hs {
		res, err := x.Migrate(ctx, e.event)
		require.NoError(t, err)
		assert.Nil(t, res.Fanout, "a group never fans out")
		assert.Equal(t, len(e.event.Lanes), res.GroupLanes)
		for _, s := range res.Steps {
			assert.Equal(t, migration.OutcomeWaiting, s.Outcome, s.BatchID)
			assert.Equal(t, migration.PhasePlanned, s.Phase, s.BatchID)
		}
	}
	assert.Empty(t, h.take())
	checkNoTasks(t, c, lanes)
	keys, err := x.Engine.Store.List(ctx, statekeys.LedgerPrefix)
	require.NoError(t, err)
	assert.Empty(t, keys, "no rotation switched off")

	p, _, err := runstate.GetJSON[plan.Plan](ctx, x.Engine.Store, statekeys.Plan(runID))
	require.NoError(t, err)
	_, _, err = approval.Approve(ctx, x.Engine.Store, runID, p.Digest, approval.Identity{AccountID: "1111000011110001"}, time.Now())
	require.NoError(t, err)

	// Approved: two ticks' groups and their FC retries all at once.
	_, err = x.Migrate(ctx, app.StepEvent{})
	require.NoError(t, err)
	_, err = x.Migrate(ctx, app.StepEvent{})
	require.NoError(t, err)
	hs = h.take()
	require.Len(t, hs, 2*groups)
	var wg sync.WaitGroup
	for _, e := range slices.Concat(hs, hs) {
		wg.Go(func() {
			_, err := x.Migrate(ctx, e.event)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	withTask := map[string]bool{}
	var waiting []string
	for _, l := range lanes {
		n, err := x.Engine.Next(ctx, runID, l)
		require.NoError(t, err)
		tasks, err := c.Tasks(kms.TaskActions{}).ListTasks(ctx, l)
		require.NoError(t, err)
		require.NotNil(t, n.State, "lane %s started", l)
		require.LessOrEqual(t, len(tasks), 1, "lane %s: one task for its first batch", l)
		if len(tasks) == 1 {
			assert.Equal(t, tasks[0].ID, n.State.TaskID, "lane %s", l)
			withTask[n.Batch.InstanceID] = true
			continue
		}
		// A lane sharing its instance may wait for the instance's turn
		// (one batch prepared at a time per instance), and says so.
		assert.Equal(t, migration.PhasePlanned, n.State.Phase, "lane %s", l)
		assert.True(t, n.State.TurnWait, "lane %s has no task and does not wait for its instance's turn", l)
		waiting = append(waiting, n.Batch.InstanceID)
	}
	for _, id := range waiting {
		assert.True(t, withTask[id], "a lane waits for instance %s, which no lane's task holds", id)
	}
}

func checkNoTasks(t *testing.T, c *kms.Client, lanes []estate.Lane) {
	t.Helper()
	for _, l := range lanes {
		tasks, err := c.Tasks(kms.TaskActions{}).ListTasks(t.Context(), l)
		require.NoError(t, err)
		assert.Empty(t, tasks, "lane %s", l)
	}
}

// KMSMIG_FANOUT_INVOCATIONS caps the groups: at one lane per invocation
// and three invocations, the groups grow to ceil(lanes ÷ 3); a group that
// cannot be handed out does not stop the others, and the error names it.
func TestFanoutInvocationsCapTheGroups(t *testing.T) {
	x, h, _, runID := fannedExecutor(t, 1, 3)
	ctx := t.Context()
	lanes, err := x.Engine.Lanes(ctx, runID)
	require.NoError(t, err)
	// Poll fans out over the lanes at work only: none yet (discover's kick
	// left every first batch planned), no fan-out; two of them, two groups
	// of one lane.
	beginLanes(t, x, runID, migration.PhasePlanned, lanes...)
	res, err := x.Poll(ctx, app.StepEvent{})
	require.NoError(t, err)
	assert.Nil(t, res.Fanout, "no lane has begun: nothing to follow")
	assert.Empty(t, res.Steps, "and no lane stepped here either")
	assert.Empty(t, h.take())
	require.Len(t, lanes, 3, "the demo estate")
	beginLanes(t, x, runID, migration.PhaseRotationOff, lanes[0], lanes[2])
	res, err = x.Poll(ctx, app.StepEvent{})
	require.NoError(t, err)
	require.NotNil(t, res.Fanout)
	assert.Equal(t, app.StepFanout{Function: "kmsmig-poll", Lanes: 2, Groups: 2, GroupSize: 1, Dispatched: 2}, *res.Fanout)
	hs := h.take()
	require.Len(t, hs, 2)
	assert.Equal(t, []string{lanes[0].String()}, hs[0].event.Lanes)
	assert.Equal(t, []string{lanes[2].String()}, hs[1].event.Lanes)

	beginLanes(t, x, runID, migration.PhaseRotationOff, lanes...)
	size := (len(lanes) + 2) / 3
	res, err = x.Poll(ctx, app.StepEvent{})
	require.NoError(t, err)
	require.NotNil(t, res.Fanout)
	assert.Equal(t, app.StepFanout{Function: "kmsmig-poll", Lanes: len(lanes), Groups: 3, GroupSize: size, Dispatched: 3}, *res.Fanout)
	checkPartition(t, x, runID, h.take())

	h.fail = map[int]bool{1: true}
	res, err = x.Poll(ctx, app.StepEvent{})
	require.ErrorContains(t, err, fmt.Sprintf("fan-out of %s: hand group 1 to kmsmig-poll: throttled", runID))
	assert.Equal(t, 2, res.Fanout.Dispatched)
	got := h.take()
	require.Len(t, got, 2)
	assert.Equal(t, []int{0, 2}, []int{got[0].group, got[1].group})

	// A run within one invocation's lanes is stepped here, as without
	// fan-out.
	x.Config.StepLanesPerInvocation = len(lanes)
	res, err = x.Poll(ctx, app.StepEvent{})
	require.NoError(t, err)
	assert.Nil(t, res.Fanout)
	assert.Empty(t, h.take())
}

// Bad group events are refused naming the field, before the run is read.
func TestStepGroupEventRefusals(t *testing.T) {
	x := &app.Executor{Engine: &migration.Engine{Store: dirStore(t)}, Config: app.Config{StepLanesPerInvocation: 1}}
	for _, tt := range []struct {
		name string
		e    app.StepEvent
		want string
	}{
		{"without a run", app.StepEvent{Lanes: []string{"1111/cn-hangzhou"}}, "event: lanes: a group of lanes needs its runId"},
		{"with a lane", app.StepEvent{RunID: "r", Lane: "1111/cn-hangzhou", Lanes: []string{"1111/cn-hangzhou"}}, "event: lanes: a group of lanes cannot be combined with lane or batchId"},
		{"empty", app.StepEvent{RunID: "r", Lanes: []string{}}, "event: lanes: empty"},
		{"twice", app.StepEvent{RunID: "r", Lanes: []string{"1111/cn-hangzhou", "1111/cn-hangzhou"}}, `event: lanes[1]: "1111/cn-hangzhou" is given twice`},
		{"a path", app.StepEvent{RunID: "r", Lanes: []string{"../x"}}, `event: lanes[0]: "../x": want <account UID>/<region id>`},
		{"beside a payload", app.StepEvent{TimerEvent: app.TimerEvent{TriggerName: "t", Payload: "{}"}, Lanes: []string{"1111/cn-hangzhou"}}, "event: payload: a timer event's payload cannot be combined with direct options"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for name, step := range map[string]func(context.Context, app.StepEvent) (app.StepResult, error){"migrate": x.Migrate, "poll": x.Poll} {
				_, err := step(t.Context(), tt.e)
				require.ErrorContains(t, err, tt.want, name)
				require.True(t, app.IsEventError(err), name)
			}
		})
	}
	_, err := x.Rotate(t.Context(), app.RotateEvent{StepEvent: app.StepEvent{RunID: "r", Lanes: []string{"1111/cn-hangzhou"}}})
	require.ErrorContains(t, err, "rotate event: lanes: only migrate and poll step a group of lanes")
	b, _ := json.Marshal(app.StepGroupEvent{RunID: "r", Lanes: []string{"1111/cn-hangzhou"}})
	assert.JSONEq(t, `{"runId":"r","lanes":["1111/cn-hangzhou"]}`, string(b), "the event shape")
}

// storedPlan writes a plan of n lanes (one batch each; account ids of
// digits digits) and makes it the current run.
// beginLanes gives each of lanes a state for its first batch in phase ph
// (planned: as discover's kick leaves it; rotation-off: being prepared).
func beginLanes(t *testing.T, x *app.Executor, runID string, ph migration.Phase, lanes ...estate.Lane) {
	t.Helper()
	for _, l := range lanes {
		n, err := x.Engine.Next(t.Context(), runID, l)
		require.NoError(t, err)
		b := n.Batch
		_, err = runstate.MutateJSON(t.Context(), x.Engine.Store, statekeys.Batch(runID, b.ID), func(s *migration.BatchState, exists bool) error {
			*s = migration.BatchState{ID: b.ID, RunID: runID, Lane: l, Seq: b.Seq, InstanceID: b.InstanceID, Phase: ph}
			return nil
		})
		require.NoError(t, err)
	}
}

func storedPlan(t *testing.T, store runstate.Store, runID string, n, digits int) {
	t.Helper()
	p := plan.Plan{RunID: runID}
	for i := range n {
		l := estate.Lane{Account: fmt.Sprintf("%0*d", digits, 1000+i), Region: "cn-hangzhou"}
		p.Lanes = append(p.Lanes, plan.LanePlan{Lane: l, Batches: []plan.Batch{{ID: l.String() + "/b0001", Lane: l, Seq: 1}}})
	}
	for key, v := range map[string]any{statekeys.Plan(runID): p, statekeys.Current: migration.CurrentRun{RunID: runID}} {
		_, err := runstate.MutateJSON(t.Context(), store, key, func(x *any, _ bool) error { *x = v; return nil })
		require.NoError(t, err)
	}
}

// A coordinator refuses, before handing anything out, groups it could not
// send: more lanes per group than an event may name (too few
// KMSMIG_FANOUT_INVOCATIONS for the plan), or a plan lane an event would
// refuse. The error says which setting to change.
func TestCoordinatorRefusesGroupsItCannotSend(t *testing.T) {
	store := dirStore(t)
	h := &handedOut{}
	x := &app.Executor{Engine: &migration.Engine{Store: store}, Dispatch: h.dispatch,
		Config: app.Config{StepLanesPerInvocation: 1, FanoutInvocations: 1, FunctionMigrate: "kmsmig-migrate", FunctionPoll: "kmsmig-poll"}}
	storedPlan(t, store, "big", app.MaxLanesPerInvocation+1, 4)
	res, err := x.Migrate(t.Context(), app.StepEvent{})
	require.EqualError(t, err, "fan-out of big: 1001 lanes in at most KMSMIG_FANOUT_INVOCATIONS=1 groups need 1001 lanes a group, over the 1000 a group event may name: raise KMSMIG_FANOUT_INVOCATIONS")
	assert.Zero(t, res.Fanout.Dispatched)
	x.Config.FanoutInvocations = 2
	res, err = x.Migrate(t.Context(), app.StepEvent{})
	require.NoError(t, err)
	assert.Equal(t, app.StepFanout{Function: "kmsmig-migrate", Lanes: 1001, Groups: 2, GroupSize: 501, Dispatched: 2}, *res.Fanout)
	assert.Len(t, h.take(), 2)

	storedPlan(t, store, "odd", 3, app.MaxAccountIDLen+1)
	res, err = x.Migrate(t.Context(), app.StepEvent{})
	require.ErrorContains(t, err, "fan-out of odd: group 0: event: lanes[0]: ")
	assert.Zero(t, res.Fanout.Dispatched)
	assert.Empty(t, h.take(), "nothing handed out")
}
