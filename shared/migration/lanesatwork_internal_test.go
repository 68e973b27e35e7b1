package migration

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// A lane is at work for poll while a batch is past planned and not
// finished, or a finished batch is followed by one still in the plan; not
// before it begins (every state planned, as discover's kick leaves the
// first), nor once every batch has finished.
func TestLaneAtWork(t *testing.T) {
	b := func(seq int) plan.Batch { return plan.Batch{ID: "b" + string(rune('0'+seq)), Seq: seq} }
	batches := []plan.Batch{b(3), b(1), b(2)} // plan order is not seq order after a retry
	st := func(id string, ph Phase) *BatchState { return &BatchState{ID: id, Phase: ph} }
	for _, tt := range []struct {
		name   string
		states []*BatchState
		want   bool
	}{
		{"no state", nil, false},
		{"first batch planned (the kick)", []*BatchState{st("b1", PhasePlanned)}, false},
		{"first batch's rotation off", []*BatchState{st("b1", PhaseRotationOff)}, true},
		{"a task running", []*BatchState{st("b1", PhaseRunning)}, true},
		{"first finished, second not started", []*BatchState{st("b1", PhaseVerified)}, true},
		{"first finished, second planned", []*BatchState{st("b1", PhaseVerified), st("b2", PhasePlanned)}, true},
		{"two finished, the last submitted", []*BatchState{st("b1", PhaseVerified), st("b2", PhaseVerified), st("b3", PhaseSubmitted)}, true},
		{"every batch finished", []*BatchState{st("b1", PhaseVerified), st("b2", PhaseVerified), st("b3", PhaseVerified)}, false},
		{"failed and restored counts as finished", []*BatchState{st("b1", PhaseVerified), st("b2", PhaseVerified),
			{ID: "b3", Phase: PhaseFailed, RotationRestored: true, Verified: true}}, false},
		{"failed, rotation not yet restored", []*BatchState{st("b1", PhaseVerified), st("b2", PhaseVerified), st("b3", PhaseFailed)}, true},
	} {
		byID := map[string]*BatchState{}
		for _, s := range tt.states {
			byID[s.ID] = s
		}
		assert.Equal(t, tt.want, laneAtWork(batches, byID), tt.name)
	}
}

// instanceStates reads the states of the lanes whose plan uses the
// instance, every batch of theirs, and nothing of the other lanes.
func TestInstanceStatesReadsTheLanesSharingTheInstance(t *testing.T) {
	ctx := t.Context()
	store, err := runstate.OpenDir(t.TempDir())
	require.NoError(t, err)
	a := estate.Lane{Account: "1111", Region: "cn-hangzhou"}
	b := estate.Lane{Account: "2222", Region: "cn-hangzhou"}
	c := estate.Lane{Account: "3333", Region: "cn-hangzhou"}
	batch := func(l estate.Lane, seq int, inst string) plan.Batch {
		return plan.Batch{ID: plan.BatchID(l, seq), Lane: l, Seq: seq, InstanceID: inst}
	}
	p := plan.Plan{RunID: "r1", Lanes: []plan.LanePlan{
		{Lane: a, InstanceID: "kst-x", Batches: []plan.Batch{batch(a, 1, "kst-x"), batch(a, 2, "kst-x")}},
		{Lane: b, InstanceID: "kst-y", Batches: []plan.Batch{batch(b, 1, "kst-y")}},
		{Lane: c, InstanceID: "kst-x", Batches: []plan.Batch{batch(c, 1, "kst-x")}},
	}}
	put := func(key string, v any) {
		_, err := runstate.MutateJSON(ctx, store, key, func(x *any, _ bool) error { *x = v; return nil })
		require.NoError(t, err)
	}
	put(statekeys.Plan(p.RunID), p)
	for _, lp := range p.Lanes {
		for _, bt := range lp.Batches {
			put(statekeys.Batch(p.RunID, bt.ID), BatchState{ID: bt.ID, RunID: p.RunID, Lane: bt.Lane, Seq: bt.Seq, InstanceID: bt.InstanceID, Phase: PhaseRunning})
		}
	}
	e := &Engine{Store: store}
	got, err := e.instanceStates(ctx, p.RunID, "kst-x")
	require.NoError(t, err)
	var ids []string
	for _, s := range got {
		ids = append(ids, s.ID)
	}
	assert.Equal(t, []string{plan.BatchID(a, 1), plan.BatchID(a, 2), plan.BatchID(c, 1)}, ids)
	got, err = e.instanceStates(ctx, p.RunID, "kst-z")
	require.NoError(t, err)
	assert.Empty(t, got, "no lane uses it")
}

type fixedNow struct{ t time.Time }

func (f fixedNow) Now() time.Time { return f.t }

// Poll leaves a submission its busy instance refused for RefusedRetry
// (without a call: the engine has no task API here, a call would panic),
// then submits it again; an intent that was not refused, or refused
// without a code, is not held.
func TestPollHoldsARefusedSubmission(t *testing.T) {
	now := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	e := &Engine{Clock: fixedNow{now}}
	refused := BatchState{ID: "1111/cn-hangzhou/b0002", InstanceID: "kst-x", Phase: PhaseSubmitting,
		Intent: &Intent{ID: "i1", At: now.Add(-time.Minute), Refused: true, Code: "Conflict.InstanceBusy"}}
	res, err := e.pollBatch(t.Context(), refused, true)
	require.NoError(t, err)
	assert.Equal(t, OutcomeWaiting, res.Outcome)
	assert.Contains(t, res.Reason, "instance kst-x was busy at 2026-11-30T02:59:00Z (Conflict.InstanceBusy)")
	assert.Contains(t, res.Reason, "from 2026-11-30T03:04:00Z")

	for name, s := range map[string]BatchState{
		"refused 5 minutes ago":  {Intent: &Intent{At: now.Add(-5 * time.Minute), Refused: true, Code: "Conflict.InstanceBusy"}},
		"not refused":            {Intent: &Intent{At: now.Add(-time.Minute)}},
		"refused without a code": {Intent: &Intent{At: now.Add(-time.Minute), Refused: true}},
		"no intent":              {},
	} {
		_, held := e.refusedUntil(s)
		assert.False(t, held, name)
	}
	e.Config.RefusedRetry = -1
	_, held := e.refusedUntil(refused)
	assert.False(t, held, "negative: at once")
}

// sameVersion answers every Get with the bytes of data and version v.
type sameVersion struct {
	runstate.Store
	data []byte
	v    runstate.Version
}

func (s *sameVersion) Get(_ context.Context, key string) (runstate.Object, error) {
	return runstate.Object{Key: key, Data: s.data, Version: s.v}, nil
}

// The inventory is decoded again only when its version changes: a
// version names one content, so an equal one is served as decoded.
func TestDecodedInventoryFollowsTheVersion(t *testing.T) {
	ctx := t.Context()
	lane := estate.Lane{Account: "1111", Region: "cn-hangzhou"}
	enc := func(id string) []byte {
		b, err := json.Marshal(estate.Inventory{RunID: "r1", Lanes: []estate.LaneInventory{{Lane: lane, Keys: []estate.Key{{ID: id}}}}})
		require.NoError(t, err)
		return b
	}
	s := &sameVersion{data: enc("k1"), v: "v1"}
	inv, err := decodedInventory(ctx, s, "runs/r1/inventory.json")
	require.NoError(t, err)
	assert.Equal(t, "k1", inv.Lanes[0].Keys[0].ID)

	s.data = enc("k2") // a store never does this: the same version, other bytes
	inv, err = decodedInventory(ctx, s, "runs/r1/inventory.json")
	require.NoError(t, err)
	assert.Equal(t, "k1", inv.Lanes[0].Keys[0].ID, "served as decoded for version v1")

	s.v = "v2"
	inv, err = decodedInventory(ctx, s, "runs/r1/inventory.json")
	require.NoError(t, err)
	assert.Equal(t, "k2", inv.Lanes[0].Keys[0].ID, "a new version is decoded")

	s.data, s.v = []byte("{"), "v3"
	_, err = decodedInventory(ctx, s, "runs/r1/inventory.json")
	require.ErrorContains(t, err, "runstate: decode runs/r1/inventory.json: ")
}

// A poll waits up to PollWait for a task, but leaves the invocation a
// quarter of its time left, and at least three fifths of the wait, to
// finish: s.yaml's poll has 120 s and waits 50 s.
func TestAwaitDeadlineLeavesTheInvocationTime(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	wait, end := 50*time.Second, t0.Add(120*time.Second)
	assert.Equal(t, t0.Add(wait), awaitDeadline(t0, wait, time.Time{}, false), "no deadline: the whole wait")
	assert.Equal(t, t0.Add(wait), awaitDeadline(t0, wait, end, true), "the first wave waits 50 s of 120")
	second := t0.Add(52 * time.Second)
	assert.Equal(t, end.Add(-30*time.Second), awaitDeadline(second, wait, end, true), "the second wave stops 30 s before the end")
	late := t0.Add(100 * time.Second)
	assert.True(t, awaitDeadline(late, wait, end, true).Before(late), "too late to wait at all")
}
