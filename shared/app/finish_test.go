package app

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// TestFinishAlerts checks which alert each kind of step result raises.
func TestFinishAlerts(t *testing.T) {
	const batch = "1111/cn-hangzhou/b0001"
	now := time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)
	closed := migration.Window{Start: now.Add(-5 * time.Hour), End: now.Add(-time.Hour)} // ended an hour ago
	open := migration.Window{Start: now.Add(-time.Hour), End: now.Add(time.Hour)}
	step := func(phase migration.Phase) migration.StepResult {
		return migration.StepResult{BatchID: batch, Step: "poll", Outcome: migration.OutcomeWaiting, Phase: phase, TaskID: "mt-1"}
	}
	restore := func(pending ...string) migration.StepResult {
		return migration.StepResult{BatchID: batch, Step: "restore", Outcome: migration.OutcomeDeferred, Phase: migration.PhaseCompleted, Pending: pending}
	}
	stalled := step(migration.PhaseRunning)
	stalled.Stalled = true

	tests := []struct {
		name   string
		window migration.Window
		steps  []migration.StepResult
		sweep  *migration.SweepResult
		keys   []string // alert keys raised, in order
	}{
		{name: "quiet step", steps: []migration.StepResult{step(migration.PhaseRunning)}},
		{name: "stalled task", steps: []migration.StepResult{stalled}, keys: []string{"task-stalled/1111/cn-hangzhou/mt-1"}},
		{name: "in flight after the window", window: closed,
			steps: []migration.StepResult{step(migration.PhaseSubmitted), step(migration.PhaseRunning), step(migration.PhaseAwaitingOperator)},
			keys:  []string{"window-overrun/1111/cn-hangzhou/" + batch, "window-overrun/1111/cn-hangzhou/" + batch, "window-overrun/1111/cn-hangzhou/" + batch}},
		{name: "ended after the window", window: closed, steps: []migration.StepResult{step(migration.PhaseVerified), step(migration.PhaseFailed)}},
		{name: "in flight within the window", window: open, steps: []migration.StepResult{step(migration.PhaseRunning)}},
		{name: "restore deferred after the window", window: closed, steps: []migration.StepResult{restore("key k1", "secret s1")},
			keys: []string{"rotation-restore-failed/1111/cn-hangzhou/" + batch}},
		{name: "restore deferred within the window", window: open, steps: []migration.StepResult{restore("key k1")}},
		{name: "restore deferred without a window", steps: []migration.StepResult{restore("key k1")}},
		{name: "restore deferred with nothing pending", window: closed, steps: []migration.StepResult{restore()}},
		{name: "sweep pending and restored", sweep: &migration.SweepResult{Pending: []string{"p1", "p2"}, Restored: []string{"r1", "r2"}},
			keys: []string{"rotation-restore-failed///p1", "rotation-restore-failed///p2", "sweep-restored/r1/r1,r2"}},
		{name: "sweep with nothing to say", sweep: &migration.SweepResult{Held: 3}},
		{name: "task API blocked in a lane and an account", steps: []migration.StepResult{
			{BatchID: batch, Step: "submit", Outcome: migration.OutcomeUpdated, Phase: migration.PhaseFailed,
				Blocked: &migration.TaskAPIBlock{Account: "1111", Region: "cn-hangzhou", Code: "InvalidAction.NotFound", Permanent: true}},
			{BatchID: "2222/cn-beijing/b0001", Step: "submit", Outcome: migration.OutcomeUpdated, Phase: migration.PhaseFailed,
				Blocked: &migration.TaskAPIBlock{Account: "2222", Code: "Rejected.SomethingNew"}}},
			keys: []string{"task-api-unavailable/1111/cn-hangzhou", "task-api-unavailable/2222/*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, err := runstate.OpenDir(t.TempDir())
			require.NoError(t, err)
			alerts := &alertList{}
			x := &Executor{Config: Config{StallAfter: 30 * time.Minute}, Alerts: alerts, Now: func() time.Time { return now },
				Engine: &migration.Engine{Store: store, Config: migration.Config{Window: tt.window}}}
			res, err := x.finish(t.Context(), StepResult{RunID: "r1", Steps: tt.steps, Sweep: tt.sweep}, nil, nil)
			require.NoError(t, err)
			var keys []string
			for _, a := range alerts.as {
				keys = append(keys, a.Key)
			}
			assert.Equal(t, tt.keys, keys)
			assert.Equal(t, len(tt.keys), res.Alerts)
			assert.False(t, res.Done, "a run without a plan is not done")
		})
	}
}

// With the window configured, as the functions run, a task in flight after
// the window closed is an overrun, although the engine's window is by then
// the next one (EngineConfig); within the window it is not.
func TestFinishOverrunOfTheConfiguredWindow(t *testing.T) {
	const batch = "1111/cn-hangzhou/b0001"
	cfg, err := LoadConfig(func(k string) string {
		return map[string]string{"KMSMIG_WINDOW": "02:00-06:00", "KMSMIG_TIMEZONE": "Asia/Shanghai"}[k]
	})
	require.NoError(t, err)
	sh := cfg.Timezone
	for _, tt := range []struct {
		name string
		now  time.Time
		keys []string
	}{
		{"within the window", time.Date(2026, 11, 29, 5, 0, 0, 0, sh), nil},
		{"after it closed", time.Date(2026, 11, 29, 7, 0, 0, 0, sh), []string{"window-overrun/1111/cn-hangzhou/" + batch}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store, err := runstate.OpenDir(t.TempDir())
			require.NoError(t, err)
			alerts := &alertList{}
			x := &Executor{Config: cfg, Alerts: alerts, Now: func() time.Time { return tt.now },
				Engine: &migration.Engine{Store: store, Config: cfg.EngineConfig(tt.now)}}
			_, err = x.finish(t.Context(), StepResult{RunID: "r1", Steps: []migration.StepResult{
				{BatchID: batch, Step: "poll", Phase: migration.PhaseRunning, TaskID: "mt-1"}}}, nil, nil)
			require.NoError(t, err)
			var keys []string
			for _, a := range alerts.as {
				keys = append(keys, a.Key)
				assert.Contains(t, a.Title, "overran its window by 1h0m0s")
			}
			assert.Equal(t, tt.keys, keys)
		})
	}
}

// The alerts carry what the operator needs: the quiet time, the window's
// end, the resources still off.
func TestFinishAlertTexts(t *testing.T) {
	const batch = "1111/cn-hangzhou/b0001"
	now := time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)
	store, err := runstate.OpenDir(t.TempDir())
	require.NoError(t, err)
	alerts := &alertList{}
	x := &Executor{Config: Config{StallAfter: 45 * time.Minute}, Alerts: alerts, Now: func() time.Time { return now },
		Engine: &migration.Engine{Store: store, Config: migration.Config{Window: migration.Window{Start: now.Add(-3 * time.Hour), End: now.Add(-90 * time.Minute)}}}}
	res, err := x.finish(t.Context(), StepResult{RunID: "r1", Steps: []migration.StepResult{
		{BatchID: batch, Step: "poll", Phase: migration.PhaseRunning, TaskID: "mt-1", Stalled: true},
		{BatchID: batch, Step: "restore", Outcome: migration.OutcomeDeferred, Phase: migration.PhaseCompleted, Pending: []string{"key k1", "secret s1"}},
	}, Sweep: &migration.SweepResult{Restored: []string{"1111/cn-hangzhou key k9"}}}, nil, nil)
	require.NoError(t, err)
	require.Equal(t, 4, res.Alerts)
	require.Len(t, alerts.as, 4)

	stall, overrun, restore, swept := alerts.as[0], alerts.as[1], alerts.as[2], alerts.as[3]
	assert.Equal(t, alert.Warning, stall.Severity)
	assert.Contains(t, stall.Title, "no progress for 45m0s")
	assert.Contains(t, stall.Text, "2026-11-29T06:15:00Z", "last progress is now minus StallAfter")

	assert.Equal(t, "window-overrun/1111/cn-hangzhou/"+batch, overrun.Key)
	assert.Contains(t, overrun.Title, "overran its window by 1h30m0s")

	assert.Equal(t, alert.Critical, restore.Severity)
	assert.Equal(t, "rotation not yet restored after the window closed: key k1, secret s1", restore.Text)
	assert.Equal(t, "batch", restore.Fields["resource_type"])

	assert.Equal(t, alert.Warning, swept.Severity)
	assert.Equal(t, "Rotation sweep of r1 restored 1 policies left switched off", swept.Title)
	assert.Equal(t, "1111/cn-hangzhou key k9", swept.Text)
	assert.Equal(t, "r1", swept.Fields["run_id"])
}

// A step error is returned as is, with no alert and no status read.
func TestFinishReturnsStepError(t *testing.T) {
	alerts := &alertList{}
	x := &Executor{Alerts: alerts, Engine: &migration.Engine{}}
	boom := errors.New("boom")
	res, err := x.finish(t.Context(), StepResult{RunID: "r1", Steps: []migration.StepResult{{BatchID: "a/b/c", Stalled: true}}}, nil, boom)
	require.ErrorIs(t, err, boom)
	assert.Zero(t, res.Alerts)
	assert.Empty(t, alerts.as)
}

// Without an alerter the alerts are still counted.
func TestFinishWithoutAlerter(t *testing.T) {
	x := &Executor{Engine: &migration.Engine{Store: newStore(t)}}
	res, err := x.finish(t.Context(), StepResult{RunID: "r1", Steps: []migration.StepResult{{BatchID: "1111/cn-hangzhou/b0001", Stalled: true}}}, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Alerts)
}

func newStore(t *testing.T) runstate.Store {
	t.Helper()
	store, err := runstate.OpenDir(t.TempDir())
	require.NoError(t, err)
	return store
}

// putJSON writes v at key.
func putJSON(t *testing.T, store runstate.Store, key string, v any) {
	t.Helper()
	_, err := runstate.MutateJSON(t.Context(), store, key, func(x *any, _ bool) error { *x = v; return nil })
	require.NoError(t, err)
}

// finish reports every failed resource that was not re-planned (a dropped
// one is not a failure), and reads whether the run is done from the batch
// states.
func TestFinishReportsFailuresAndDone(t *testing.T) {
	const run = "r1"
	lane := estate.Lane{Account: "1111", Region: "cn-hangzhou"}
	b1 := plan.Batch{ID: "1111/cn-hangzhou/b0001", Lane: lane, InstanceID: "kst-1", Seq: 1, Keys: []string{"k1", "k2", "k3"}}
	b2 := plan.Batch{ID: "1111/cn-hangzhou/b0002", Lane: lane, InstanceID: "kst-1", Seq: 2, Keys: []string{"k2"}}
	state := func(b plan.Batch, phase migration.Phase, rs ...migration.ResourceOutcome) migration.BatchState {
		return migration.BatchState{ID: b.ID, RunID: run, Lane: lane, Seq: b.Seq, InstanceID: b.InstanceID, Keys: b.Keys,
			Phase: phase, PlanStatus: phase.PlanStatus(), Attempt: 1, Resources: rs}
	}
	failed1 := state(b1, migration.PhaseVerified,
		migration.ResourceOutcome{Kind: migration.KindKey, ID: "k1", Result: migration.ResultFailed, ReasonCode: "KeyDisabled", Attempt: 1},
		migration.ResourceOutcome{Kind: migration.KindKey, ID: "k2", Result: migration.ResultFailed, ReasonCode: "InternalError", Attempt: 1, RetryBatch: b2.ID},
		migration.ResourceOutcome{Kind: migration.KindKey, ID: "k3", Result: migration.ResultMigrated, Attempt: 1},
		migration.ResourceOutcome{Kind: migration.KindKey, ID: "k4", Result: migration.ResultDropped, ReasonCode: migration.ReasonKeyPendingDeletion})

	tests := []struct {
		name    string
		batches []plan.Batch
		states  []migration.BatchState
		done    bool
	}{
		{name: "a batch still to run", batches: []plan.Batch{b1, b2}, states: []migration.BatchState{failed1}, done: false},
		{name: "every batch finished", batches: []plan.Batch{b1, b2}, states: []migration.BatchState{failed1,
			state(b2, migration.PhaseVerified, migration.ResourceOutcome{Kind: migration.KindKey, ID: "k2", Result: migration.ResultMigrated, Attempt: 2})}, done: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newStore(t)
			putJSON(t, store, statekeys.Plan(run), plan.Plan{RunID: run, Lanes: []plan.LanePlan{{Lane: lane, InstanceID: "kst-1", Batches: tt.batches}}})
			for _, s := range tt.states {
				putJSON(t, store, statekeys.Batch(run, s.ID), s)
			}
			alerts := &alertList{}
			x := &Executor{Alerts: alerts, Engine: &migration.Engine{Store: store}}
			res, err := x.finish(t.Context(), StepResult{RunID: run}, nil, nil)
			require.NoError(t, err)
			assert.Equal(t, tt.done, res.Done)
			require.Len(t, alerts.as, 1, "k1 failed for good; k2 was re-planned; k4 was dropped")
			a := alerts.as[0]
			assert.Equal(t, "resource-failed/1111/cn-hangzhou/k1", a.Key)
			assert.Equal(t, "KeyDisabled", a.Fields["reason_code"])
			assert.Equal(t, migration.Classify("KeyDisabled").Remediation, a.Text)
			assert.Equal(t, 1, res.Alerts)
		})
	}
}

func TestLaneOfBatch(t *testing.T) {
	assert.Equal(t, estate.Lane{Account: "1111", Region: "cn-hangzhou"}, laneOfBatch("1111/cn-hangzhou/b0001"))
	assert.Equal(t, estate.Lane{Account: "1111", Region: "cn-hangzhou"}, laneOfBatch("1111/cn-hangzhou"))
	assert.Equal(t, estate.Lane{}, laneOfBatch("b0001"))
	assert.Equal(t, estate.Lane{}, laneOfBatch(""))
}

// readLog is a store that records the keys read.
type readLog struct {
	runstate.Store
	mu   sync.Mutex
	keys []string
}

func (r *readLog) Get(ctx context.Context, key string) (runstate.Object, error) {
	r.mu.Lock()
	r.keys = append(r.keys, key)
	r.mu.Unlock()
	return r.Store.Get(ctx, key)
}

func (r *readLog) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.keys
	r.keys = nil
	return out
}

// An invocation that stepped some lanes (a chained step of one lane, a
// group of a fanned-out step, a rotate step of one batch) reads those
// lanes' batch states only, raises their failures and says whether they
// are done; only a whole-run one reads every lane (and, once the night's
// work is over, the ledger).
func TestFinishReadsTheLanesItStepped(t *testing.T) {
	const run = "r1"
	laneA, laneB := estate.Lane{Account: "1111", Region: "cn-hangzhou"}, estate.Lane{Account: "2222", Region: "cn-beijing"}
	a1 := plan.Batch{ID: plan.BatchID(laneA, 1), Lane: laneA, InstanceID: "kst-a", Seq: 1, Keys: []string{"ka"}}
	b1 := plan.Batch{ID: plan.BatchID(laneB, 1), Lane: laneB, InstanceID: "kst-b", Seq: 1, Keys: []string{"kb"}}
	b2 := plan.Batch{ID: plan.BatchID(laneB, 2), Lane: laneB, InstanceID: "kst-b", Seq: 2, Keys: []string{"kc"}}
	failed := func(b plan.Batch) migration.BatchState {
		return migration.BatchState{ID: b.ID, RunID: run, Lane: b.Lane, Seq: b.Seq, InstanceID: b.InstanceID, Keys: b.Keys,
			Phase: migration.PhaseVerified, PlanStatus: plan.StatusDone, Attempt: 1,
			Resources: []migration.ResourceOutcome{{Kind: migration.KindKey, ID: b.Keys[0], Result: migration.ResultFailed, ReasonCode: "KeyDisabled", Attempt: 1}}}
	}
	dir := newStore(t)
	putJSON(t, dir, statekeys.Plan(run), plan.Plan{RunID: run, Lanes: []plan.LanePlan{
		{Lane: laneA, InstanceID: "kst-a", Batches: []plan.Batch{a1}},
		{Lane: laneB, InstanceID: "kst-b", Batches: []plan.Batch{b1, b2}}}})
	putJSON(t, dir, statekeys.Batch(run, a1.ID), failed(a1))
	putJSON(t, dir, statekeys.Batch(run, b1.ID), failed(b1))
	store := &readLog{Store: dir}
	alerts := &alertList{}
	x := &Executor{Alerts: alerts, Engine: &migration.Engine{Store: store}}

	res, err := x.finish(t.Context(), StepResult{RunID: run}, []estate.Lane{laneA}, nil)
	require.NoError(t, err)
	assert.True(t, res.Done, "lane A's one batch has finished")
	assert.ElementsMatch(t, []string{statekeys.Plan(run), statekeys.Batch(run, a1.ID)}, store.take(), "the plan and lane A's state, nothing of lane B")
	require.Len(t, alerts.as, 1)
	assert.Equal(t, "resource-failed/1111/cn-hangzhou/ka", alerts.as[0].Key)

	alerts.as = nil
	res, err = x.finish(t.Context(), StepResult{RunID: run}, nil, nil)
	require.NoError(t, err)
	assert.False(t, res.Done, "lane B's second batch has not run")
	assert.ElementsMatch(t, []string{statekeys.Plan(run), statekeys.Batch(run, a1.ID), statekeys.Batch(run, b1.ID), statekeys.Batch(run, b2.ID)}, store.take())
	var keys []string
	for _, a := range alerts.as {
		keys = append(keys, a.Key)
	}
	assert.ElementsMatch(t, []string{"resource-failed/1111/cn-hangzhou/ka", "resource-failed/2222/cn-beijing/kb"}, keys)
}
