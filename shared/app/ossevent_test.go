package app_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/fcruntime"
	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/approval"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

const ossState = "oss://kmsmig-state/kmsmig"

func goldenOSSEvent(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/oss-approval-event.json")
	require.NoError(t, err)
	return data
}

// mutate edits the golden event's first record through a JSON map.
func mutateOSSEvent(t *testing.T, f func(r map[string]any)) []byte {
	t.Helper()
	var e map[string]any
	require.NoError(t, json.Unmarshal(goldenOSSEvent(t), &e))
	f(e["events"].([]any)[0].(map[string]any))
	out, err := json.Marshal(e)
	require.NoError(t, err)
	return out
}

// The documented event decodes, and round-trips through the record type
// unchanged (every field it has is declared).
func TestOSSEventGolden(t *testing.T) {
	var e app.MigrateEvent
	require.NoError(t, json.Unmarshal(goldenOSSEvent(t), &e))
	trig, ok := app.Config{State: ossState}.ApprovalTrigger()
	require.True(t, ok)
	assert.Equal(t, app.ApprovalTrigger{Bucket: "kmsmig-state", Prefix: "kmsmig/approvals/"}, trig)
	runs, err := trig.DecodeOSSEvent(e.Events)
	require.NoError(t, err)
	assert.Equal(t, []string{"run-20261129"}, runs)
	var r app.OSSEventRecord
	require.NoError(t, json.Unmarshal(e.Events[0], &r))
	back, err := json.Marshal(r)
	require.NoError(t, err)
	assert.JSONEq(t, string(e.Events[0]), string(back))

	_, ok = app.Config{State: "dir:/tmp/x"}.ApprovalTrigger()
	assert.False(t, ok, "a dir: store has no trigger")
	trig, _ = app.Config{State: "oss://b"}.ApprovalTrigger()
	assert.Equal(t, "approvals/", trig.Prefix, "a store at the bucket's root")
}

// A malformed OSS event, or one for another bucket or prefix, is refused
// naming the field; nothing is read or written.
func TestOSSEventRefusals(t *testing.T) {
	tests := []struct {
		name  string
		state string
		event []byte
		want  string
	}{
		{"other bucket", ossState, mutateOSSEvent(t, func(r map[string]any) { r["oss"].(map[string]any)["bucket"].(map[string]any)["name"] = "other" }),
			`oss event: events[0].oss.bucket.name: "other" is not the state bucket "kmsmig-state"`},
		{"other prefix", ossState, mutateOSSEvent(t, func(r map[string]any) {
			r["oss"].(map[string]any)["object"].(map[string]any)["key"] = "elsewhere/run-1.json"
		}),
			`oss event: events[0].oss.object.key: "elsewhere/run-1.json": want kmsmig/approvals/<run>.json`},
		{"not json", ossState, mutateOSSEvent(t, func(r map[string]any) {
			r["oss"].(map[string]any)["object"].(map[string]any)["key"] = "kmsmig/approvals/run-1.txt"
		}), `events[0].oss.object.key: "kmsmig/approvals/run-1.txt": want kmsmig/approvals/<run>.json`},
		{"bad run id", ossState, mutateOSSEvent(t, func(r map[string]any) {
			r["oss"].(map[string]any)["object"].(map[string]any)["key"] = "kmsmig/approvals/Run_1.json"
		}), `events[0].oss.object.key: "kmsmig/approvals/Run_1.json": runId "Run_1": must be`},
		{"removed object", ossState, mutateOSSEvent(t, func(r map[string]any) { r["eventName"] = "ObjectRemoved:DeleteObject" }),
			`events[0].eventName: "ObjectRemoved:DeleteObject": want ObjectCreated:*`},
		{"not from oss", ossState, mutateOSSEvent(t, func(r map[string]any) { r["eventSource"] = "acs:mns" }), `events[0].eventSource: "acs:mns": want acs:oss`},
		{"unknown field", ossState, mutateOSSEvent(t, func(r map[string]any) { r["approved"] = true }), `events[0]: json: unknown field "approved"`},
		{"wrong type", ossState, mutateOSSEvent(t, func(r map[string]any) { r["oss"].(map[string]any)["object"].(map[string]any)["size"] = "big" }),
			`events[0]: json: cannot unmarshal string into Go struct field .oss.object.size of type int64`},
		{"empty", ossState, []byte(`{"events":[]}`), "oss event: events: empty"},
		{"record not an object", ossState, []byte(`{"events":[42]}`), "oss event: events[0]: json: cannot unmarshal number"},
		{"mixed with a run", ossState, []byte(`{"runId":"run-1","events":[{}]}`), "oss event: events: cannot be combined with runId"},
		{"dir store", "dir:/tmp/nowhere", goldenOSSEvent(t), "oss event: events: the run-state store dir:/tmp/nowhere is not on OSS"},
		{"unknown top-level field", ossState, []byte(`{"events":[],"bucket":"x"}`), `json: unknown field "bucket"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := dirStore(t)
			x := &app.Executor{Config: app.Config{State: tt.state}, Engine: &migration.Engine{Store: store}}
			_, err := fcruntime.Handler(x.MigrateOn).Invoke(t.Context(), tt.event)
			require.ErrorContains(t, err, tt.want)
			keys, err := store.List(t.Context(), "")
			require.NoError(t, err)
			assert.Empty(t, keys, "a refused event changes nothing")
		})
	}
}

// The event only names a run: one that is not current starts nothing; the
// current one runs migrate, which reads the approval from the store: an
// event announcing a run that is not approved starts nothing either.
func TestOSSEventPromptsMigrate(t *testing.T) {
	_, d := demoWith(t, stack.Options{Timing: kmstwin.TaskTiming{Speed: 1e6}})
	ctx := t.Context()
	d.Config.Approval, d.Config.State = approval.ModeRequired, ossState
	disc, err := d.Handle(ctx, app.DiscoverEvent{})
	require.NoError(t, err)
	require.Equal(t, "run-20261129", disc.RunID, "the golden event's run")
	c := d.Source.(*kms.Client)
	x := &app.Executor{Config: d.Config, Now: d.Now, Engine: &migration.Engine{Store: d.Store, KMS: c, Tasks: c.Tasks(kms.TaskActions{}),
		Config: d.Config.EngineConfig(d.Now()), Approvals: approval.Gate{Store: d.Store}}}
	invoke := func(event []byte) app.StepResult {
		t.Helper()
		out, err := fcruntime.Handler(x.MigrateOn).Invoke(ctx, event)
		require.NoError(t, err)
		var res app.StepResult
		require.NoError(t, json.Unmarshal(out, &res))
		return res
	}
	started := func() int {
		t.Helper()
		keys, err := d.Store.List(ctx, statekeys.BatchPrefix(disc.RunID))
		require.NoError(t, err)
		n := 0
		for _, k := range keys {
			s, _, err := runstate.GetJSON[migration.BatchState](ctx, d.Store, k)
			require.NoError(t, err)
			if s.Phase != migration.PhasePlanned {
				n++
			}
		}
		return n
	}

	other := mutateOSSEvent(t, func(r map[string]any) {
		r["oss"].(map[string]any)["object"].(map[string]any)["key"] = "kmsmig/approvals/run-20261128.json"
	})
	res := invoke(other)
	assert.Contains(t, res.Trigger, "not the current run run-20261129; nothing started")
	assert.Zero(t, started())

	// Announced, but not approved in the store: the store decides.
	res = invoke(goldenOSSEvent(t))
	assert.Contains(t, res.Approval, "awaiting approval")
	assert.Zero(t, started(), "an event is not an approval")

	p, _, err := runstate.GetJSON[plan.Plan](ctx, d.Store, statekeys.Plan(disc.RunID))
	require.NoError(t, err)
	_, _, err = approval.Approve(ctx, d.Store, disc.RunID, p.Digest, approval.Identity{AccountID: "1111000011110001"}, time.Now())
	require.NoError(t, err)
	res = invoke(goldenOSSEvent(t))
	assert.Empty(t, res.Approval)
	assert.True(t, strings.HasPrefix(res.Trigger, "approval of run-20261129"), res.Trigger)
	assert.Positive(t, started(), "approved: the first batches start at once")
}
