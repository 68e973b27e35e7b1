package app_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// alertRecorder is an app.Alerts keeping what it is given.
type alertRecorder struct {
	mu sync.Mutex
	as []alert.Alert
	// all keeps every alert, take or not.
	all []alert.Alert
}

func (r *alertRecorder) Alert(_ context.Context, a alert.Alert) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.as = append(r.as, a)
	r.all = append(r.all, a)
	return nil
}

// take returns the keys of the alerts raised since the last call and
// forgets them.
func (r *alertRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, a := range r.as {
		out = append(out, a.Key)
	}
	r.as = nil
	return out
}

// Without a current run (discover has not planned one) every step has
// nothing to do and says the run is done.
func TestExecutorWithoutRun(t *testing.T) {
	alerts := &alertRecorder{}
	x := &app.Executor{Engine: &migration.Engine{Store: dirStore(t)}, Alerts: alerts}
	for name, step := range map[string]func() (app.StepResult, error){
		"migrate": func() (app.StepResult, error) { return x.Migrate(t.Context(), app.StepEvent{}) },
		"poll":    func() (app.StepResult, error) { return x.Poll(t.Context(), app.StepEvent{Lane: "1111/cn-hangzhou"}) },
		"rotate":  func() (app.StepResult, error) { return x.Rotate(t.Context(), app.RotateEvent{Action: "sweep"}) },
	} {
		res, err := step()
		require.NoError(t, err, name)
		assert.Equal(t, app.StepResult{Done: true}, res, name)
	}
	assert.Empty(t, alerts.take())
}

// An asynchronous failure of another function, delivered to rotate as a
// destination event, becomes a function-error alert before rotate does its
// own work.
func TestRotateAlertsDestinationFailure(t *testing.T) {
	failure := &app.FailureContext{RequestID: "r-1", FunctionArn: "acs:fc:cn-hangzhou:1111:functions/kmsmig-poll",
		Condition: "UnhandledInvocationError", ApproximateInvokeCount: 3}
	tests := []struct {
		name, payload, text string
	}{
		{"error message", `{"errorMessage":"lane 1111/cn-hangzhou: boom","errorType":"errorString"}`, "UnhandledInvocationError after 3 attempts: lane 1111/cn-hangzhou: boom"},
		{"payload without a message", `boom`, "UnhandledInvocationError after 3 attempts: UnhandledInvocationError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alerts := &alertRecorder{}
			x := &app.Executor{Engine: &migration.Engine{Store: dirStore(t)}, Alerts: alerts}
			res, err := x.Rotate(t.Context(), app.RotateEvent{RequestContext: failure, ResponsePayload: tt.payload})
			require.NoError(t, err)
			assert.True(t, res.Done, "no run yet: nothing else to do")
			require.Len(t, alerts.as, 1)
			a := alerts.as[0]
			assert.Equal(t, "function-error/kmsmig-poll", a.Key)
			assert.Equal(t, "r-1", a.Fields["request_id"])
			assert.Equal(t, tt.text, a.Text)
		})
	}
	// Without an alerter the event is still handled.
	x := &app.Executor{Engine: &migration.Engine{Store: dirStore(t)}}
	_, err := x.Rotate(t.Context(), app.RotateEvent{RequestContext: failure})
	require.NoError(t, err)
}

// Bad events are refused naming the field, before anything runs.
func TestExecutorRefusesBadEvents(t *testing.T) {
	timer := func(payload string) app.TimerEvent { return app.TimerEvent{TriggerName: "t", Payload: payload} }
	type refusal struct {
		name string
		call func(x *app.Executor) error
		want string
	}
	tests := []refusal{
		{name: "bad run id", want: `event: runId "Bad Run": must be`,
			call: func(x *app.Executor) error {
				_, err := x.Migrate(t.Context(), app.StepEvent{RunID: "Bad Run"})
				return err
			}},
		{name: "bad lane", want: `event: lane: `,
			call: func(x *app.Executor) error {
				_, err := x.Poll(t.Context(), app.StepEvent{RunID: "r1", Lane: "cn-hangzhou"})
				return err
			}},
		{name: "unknown payload field", want: `event: payload: json: unknown field "colour"`,
			call: func(x *app.Executor) error {
				_, err := x.Migrate(t.Context(), app.StepEvent{TimerEvent: timer(`{"colour":"red"}`)})
				return err
			}},
		{name: "payload with trailing data", want: `event: payload: unexpected data after the JSON value`,
			call: func(x *app.Executor) error {
				_, err := x.Poll(t.Context(), app.StepEvent{TimerEvent: timer(`{"runId":"r1"} {}`)})
				return err
			}},
		{name: "payload with a bad run id", want: `event: runId "R1"`,
			call: func(x *app.Executor) error {
				_, err := x.Poll(t.Context(), app.StepEvent{TimerEvent: timer(`{"runId":"R1"}`)})
				return err
			}},
		{name: "bad rotate payload", want: `rotate event: payload: json: cannot unmarshal number`,
			call: func(x *app.Executor) error {
				_, err := x.Rotate(t.Context(), app.RotateEvent{StepEvent: app.StepEvent{TimerEvent: timer(`{"lane":1}`)}})
				return err
			}},
		{name: "unknown action", want: `rotate event: action "explode": want disable, restore, end-observation, abort or sweep`,
			call: func(x *app.Executor) error {
				_, err := x.Rotate(t.Context(), app.RotateEvent{StepEvent: app.StepEvent{RunID: "r1"}, Action: "explode"})
				return err
			}},
		{name: "unknown action in the payload", want: `rotate event: action "explode"`,
			call: func(x *app.Executor) error {
				_, err := x.Rotate(t.Context(), app.RotateEvent{StepEvent: app.StepEvent{TimerEvent: timer(`{"action":"explode","runId":"r1"}`)}})
				return err
			}},
		{name: "payload beside direct options", want: `event: payload: a timer event's payload cannot be combined with direct options`,
			call: func(x *app.Executor) error {
				_, err := x.Migrate(t.Context(), app.StepEvent{RunID: "r1", TimerEvent: timer(`{"runId":"r2"}`)})
				return err
			}},
		{name: "rotate payload beside direct options", want: `rotate event: payload: a timer event's payload cannot be combined with direct options`,
			call: func(x *app.Executor) error {
				_, err := x.Rotate(t.Context(), app.RotateEvent{Action: "sweep", StepEvent: app.StepEvent{TimerEvent: timer(`{"action":"abort","runId":"r1"}`)}})
				return err
			}},
		{name: "payload field in another case", want: `event: payload: json: unknown field "RUNID" (field names are case-sensitive: "runId")`,
			call: func(x *app.Executor) error {
				_, err := x.Poll(t.Context(), app.StepEvent{TimerEvent: timer(`{"RUNID":"r1"}`)})
				return err
			}},
		{name: "migrate with a batch", want: `event: batchId: migrate and poll take the next batch of every lane, or of the event's lane`,
			call: func(x *app.Executor) error {
				_, err := x.Migrate(t.Context(), app.StepEvent{RunID: "r1", BatchID: "1111/cn-hangzhou/b0001"})
				return err
			}},
		{name: "poll with a batch in the payload", want: `event: batchId: `,
			call: func(x *app.Executor) error {
				_, err := x.Poll(t.Context(), app.StepEvent{TimerEvent: timer(`{"batchId":"1111/cn-hangzhou/b0001"}`)})
				return err
			}},
		{name: "rotate payload's bad run id", want: `event: runId "R1"`,
			call: func(x *app.Executor) error {
				_, err := x.Rotate(t.Context(), app.RotateEvent{StepEvent: app.StepEvent{TimerEvent: timer(`{"runId":"R1"}`)}})
				return err
			}},
	}
	for _, action := range []string{"disable", "restore", "end-observation"} {
		tests = append(tests, refusal{name: action + " without a batch", want: "rotate event: batchId: required for action " + action,
			call: func(x *app.Executor) error {
				_, err := x.Rotate(t.Context(), app.RotateEvent{StepEvent: app.StepEvent{RunID: "r1"}, Action: action})
				return err
			}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := dirStore(t)
			x := &app.Executor{Engine: &migration.Engine{Store: store}}
			require.ErrorContains(t, tt.call(x), tt.want)
			keys, err := store.List(t.Context(), "")
			require.NoError(t, err)
			assert.Empty(t, keys, "a refused event changes nothing")
		})
	}
}

// A current-run pointer that cannot be read fails the step; a run without
// a plan fails it too.
func TestExecutorStoreErrors(t *testing.T) {
	store := dirStore(t)
	_, err := store.Create(t.Context(), statekeys.Current, []byte("not json"))
	require.NoError(t, err)
	x := &app.Executor{Engine: &migration.Engine{Store: store}}
	_, err = x.Migrate(t.Context(), app.StepEvent{})
	require.ErrorContains(t, err, "read current run: ")

	_, err = x.Migrate(t.Context(), app.StepEvent{RunID: "no-plan"})
	require.ErrorIs(t, err, runstate.ErrNotFound)
	_, err = x.Rotate(t.Context(), app.RotateEvent{StepEvent: app.StepEvent{RunID: "no-plan", BatchID: "1111/cn-hangzhou/b0001"}})
	require.Error(t, err)
}

// TestExecutorDrivesTheDemoRun runs the demo estate's run through the
// executor against the twins: one lane through a timer payload, the poll
// safety net continuing a lane that has begun (and only that one), the
// rotate actions, the failures raised as alerts, and the run to its end.
func TestExecutorDrivesTheDemoRun(t *testing.T) {
	_, d := demoWith(t, stack.Options{Timing: kmstwin.TaskTiming{Speed: 1e6}})
	ctx := t.Context()
	disc, err := d.Handle(ctx, app.DiscoverEvent{})
	require.NoError(t, err)
	c := d.Source.(*kms.Client)
	alerts := &alertRecorder{}
	x := &app.Executor{Config: d.Config, Alerts: alerts, Now: d.Now,
		Engine: &migration.Engine{Store: d.Store, KMS: c, Tasks: c.Tasks(kms.TaskActions{}), Config: d.Config.EngineConfig(d.Now())}}
	const (
		hz     = "1111000011110001/cn-hangzhou"
		member = "2222000022220002/cn-hangzhou"
	)
	batchesOf := func(lane string) []string {
		t.Helper()
		keys, err := d.Store.List(ctx, statekeys.Run(disc.RunID, "batches/"+lane+"/"))
		require.NoError(t, err)
		return keys
	}

	// migrate, by timer with a payload naming the lane, on the current run.
	res, err := x.Migrate(ctx, app.StepEvent{TimerEvent: app.TimerEvent{TriggerName: "migrate", Payload: `{"lane":"` + hz + `"}`}})
	require.NoError(t, err)
	assert.Equal(t, disc.RunID, res.RunID, "the current run")
	require.Len(t, res.Steps, 1)
	assert.Equal(t, hz+"/b0001", res.Steps[0].BatchID)
	assert.Equal(t, migration.PhaseSubmitted, res.Steps[0].Phase)
	assert.Empty(t, batchesOf(member), "other lanes are left alone")

	// poll the lane: the task ends; the secret whose name the instance
	// already holds fails for good and is raised (shared/dup-name, held by
	// two accounts sharing the instance, was blocked, never planned).
	res, err = x.Poll(ctx, app.StepEvent{RunID: disc.RunID, Lane: hz})
	require.NoError(t, err)
	require.Len(t, res.Steps, 1)
	assert.Equal(t, migration.PhaseCompleted, res.Steps[0].Phase)
	assert.ElementsMatch(t, []string{"resource-failed/" + hz + "/app/existing-name"}, alerts.take())
	assert.Equal(t, 1, res.Alerts)
	assert.False(t, res.Done)

	// rotate with a batch and no action restores it.
	res, err = x.Rotate(ctx, app.RotateEvent{StepEvent: app.StepEvent{BatchID: hz + "/b0001"}})
	require.NoError(t, err)
	require.Len(t, res.Steps, 1)
	assert.Equal(t, "restore", res.Steps[0].Step)
	assert.Equal(t, migration.PhaseVerified, res.Steps[0].Phase)

	// poll on the whole run continues the lane that has begun (its chained
	// migrate may have been lost) and starts no other lane.
	res, err = x.Poll(ctx, app.StepEvent{})
	require.NoError(t, err)
	var started []string
	for _, s := range res.Steps {
		if s.BatchID != "" {
			started = append(started, s.BatchID+" "+s.Step)
		}
	}
	assert.Equal(t, []string{hz + "/b0002 submit"}, started)
	assert.Empty(t, batchesOf(member), "lanes that have not begun wait for migrate")

	// rotate's explicit actions.
	res, err = x.Rotate(ctx, app.RotateEvent{StepEvent: app.StepEvent{BatchID: member + "/b0001"}, Action: "disable"})
	require.NoError(t, err)
	require.Len(t, res.Steps, 1)
	assert.Equal(t, migration.PhaseRotationOff, res.Steps[0].Phase)
	res, err = x.Rotate(ctx, app.RotateEvent{StepEvent: app.StepEvent{BatchID: hz + "/b0002"}, Action: "end-observation"})
	require.NoError(t, err)
	require.Len(t, res.Steps, 1)
	assert.Equal(t, migration.OutcomeUnchanged, res.Steps[0].Outcome, "a task batch is not observed")
	res, err = x.Rotate(ctx, app.RotateEvent{})
	require.NoError(t, err)
	require.NotNil(t, res.Sweep, "no batch, no action: the sweep")

	// The run goes to its end: migrate, poll, rotate until done.
	for round := 0; !res.Done; round++ {
		require.Less(t, round, 10, "the run does not end: %v", res)
		_, err = x.Migrate(ctx, app.StepEvent{})
		require.NoError(t, err)
		_, err = x.Poll(ctx, app.StepEvent{})
		require.NoError(t, err)
		res, err = x.Rotate(ctx, app.RotateEvent{})
		require.NoError(t, err)
	}
	ended := 0
	for _, k := range alerts.take() {
		if strings.HasPrefix(k, "night-ended/") {
			ended++
			continue
		}
		assert.True(t, strings.HasPrefix(k, "resource-failed/"), k)
	}
	assert.Equal(t, 1, ended, "the night's work ended, said once")
}
