package app_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/approval"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// sinks are a test webhook and a test DingTalk robot recording what they
// receive.
type sinks struct {
	mu       sync.Mutex
	hooks    []alert.WebhookPayload
	dingtalk []map[string]any
	hook     *httptest.Server
	ding     *httptest.Server
}

func newSinks(t *testing.T) *sinks {
	t.Helper()
	s := &sinks{}
	s.hook = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p alert.WebhookPayload
		assert.NoError(t, json.NewDecoder(r.Body).Decode(&p))
		s.mu.Lock()
		s.hooks = append(s.hooks, p)
		s.mu.Unlock()
	}))
	s.ding = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		assert.NoError(t, json.NewDecoder(r.Body).Decode(&m))
		s.mu.Lock()
		s.dingtalk = append(s.dingtalk, m)
		s.mu.Unlock()
		_, _ = w.Write([]byte(`{"errcode":0,"errmsg":"ok"}`))
	}))
	t.Cleanup(s.hook.Close)
	t.Cleanup(s.ding.Close)
	return s
}

// of returns the webhook payloads and DingTalk messages of alert kind.
func (s *sinks) of(kind string) ([]alert.WebhookPayload, []map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var hooks []alert.WebhookPayload
	var dings []map[string]any
	for _, h := range s.hooks {
		if strings.HasPrefix(h.Key, kind+"/") {
			hooks = append(hooks, h)
		}
	}
	for _, d := range s.dingtalk {
		md := d["markdown"].(map[string]any)
		if strings.Contains(md["text"].(string), "> key: "+kind+"/") {
			dings = append(dings, d)
		}
	}
	return hooks, dings
}

// The operators hear, through the configured webhook and DingTalk robot,
// that a plan awaits their approval (its figures, blockers and the
// command; once per digest, however often migrate finds it unapproved),
// and, once, that the night's work ended (moved, failed, rotation
// restored, what continues); DingTalk gets readable markdown.
func TestNotificationsReachTheSinks(t *testing.T) {
	s := newSinks(t)
	_, d := demoWith(t, stack.Options{Timing: kmstwin.TaskTiming{Speed: 1e6}})
	ctx := t.Context()
	cfg, err := app.LoadConfig(func(k string) string {
		return map[string]string{"KMSMIG_ALERT_WEBHOOK": s.hook.URL, "KMSMIG_DINGTALK_WEBHOOK": s.ding.URL + "/robot/send?access_token=t",
			"KMSMIG_APPROVAL": "required", "KMSMIG_INSECURE": "true",
			"KMSMIG_FUNCTION_MIGRATE": "-", "KMSMIG_FUNCTION_ROTATE": "-"}[k]
	})
	require.NoError(t, err)
	cfg.Accounts = d.Config.Accounts
	d.Config = cfg
	trail := &records{}
	al := cfg.Alerter(trail, d.Store, d.Now, nil)
	d.Alerts, d.Audit = al, trail
	disc, err := d.Handle(ctx, app.DiscoverEvent{})
	require.NoError(t, err)

	c := d.Source.(*kms.Client)
	x := &app.Executor{Config: cfg, Alerts: al, Now: d.Now, Engine: &migration.Engine{Store: d.Store, KMS: c, Tasks: c.Tasks(kms.TaskActions{}),
		Config: cfg.EngineConfig(d.Now()), Audit: trail, Approvals: approval.Gate{Store: d.Store}}}
	for range 3 {
		_, err := x.Migrate(ctx, app.StepEvent{})
		require.NoError(t, err)
	}
	hooks, dings := s.of(alert.KindApprovalAwaited)
	require.Len(t, hooks, 1, "one notification per digest, de-duplicated like alerts")
	require.Len(t, dings, 1)
	assert.Equal(t, "info", string(hooks[0].Severity))
	assert.Contains(t, hooks[0].Title, "Plan of "+disc.RunID+" awaits approval")
	assert.Contains(t, hooks[0].Text, "kmsmig approve --run "+disc.RunID)
	md := dings[0]["markdown"].(map[string]any)
	assert.Equal(t, "markdown", dings[0]["msgtype"])
	text := md["text"].(string)
	for _, want := range []string{"#### [INFO] Plan of " + disc.RunID + " awaits approval", "- **batches**: ", "- **resources**: ",
		"- **rotation to switch off**: ", "- **blockers** (left out): ", "`kmsmig approve --run " + disc.RunID + "`"} {
		assert.Contains(t, text, want)
	}
	assert.NotContains(t, text, `\n`, "real line breaks, not escaped ones")

	p, _, err := runstate.GetJSON[plan.Plan](ctx, d.Store, statekeys.Plan(disc.RunID))
	require.NoError(t, err)
	_, _, err = approval.Approve(ctx, d.Store, disc.RunID, p.Digest, approval.Identity{AccountID: "1111000011110001"}, time.Now())
	require.NoError(t, err)
	res := app.StepResult{}
	for round := 0; !res.Done; round++ {
		require.Less(t, round, 10, "the run does not end")
		_, err = x.Migrate(ctx, app.StepEvent{})
		require.NoError(t, err)
		_, err = x.Poll(ctx, app.StepEvent{})
		require.NoError(t, err)
		res, err = x.Rotate(ctx, app.RotateEvent{})
		require.NoError(t, err)
	}
	for range 2 { // further steps say nothing more
		_, err = x.Poll(ctx, app.StepEvent{})
		require.NoError(t, err)
	}
	hooks, dings = s.of(alert.KindNightEnded)
	require.Len(t, hooks, 1, "the night's end, said once")
	require.Len(t, dings, 1)
	assert.Contains(t, hooks[0].Title, "Night's work of "+disc.RunID+" ended: ")
	text = dings[0]["markdown"].(map[string]any)["text"].(string)
	for _, want := range []string{"- **moved**: ", "- **failed**: ", "- **rotation restored**: ", "The run is complete: nothing continues."} {
		assert.Contains(t, text, want)
	}
	failed, _ := s.of(alert.KindResourceFailed)
	assert.NotEmpty(t, failed, "the failure alerts go the same way")
}

func TestNightEndedText(t *testing.T) {
	a := alert.NightEnded("run-1", "2026-11-29T22:00Z", alert.NightFigures{Moved: 40, Failed: 2, Retried: 1, Restored: 12, StillOff: 1, Remaining: 3})
	assert.Equal(t, "night-ended/run-1/2026-11-29T22:00Z", a.Key)
	assert.Equal(t, alert.Warning, a.Severity, "a failure or a policy still off needs a look")
	assert.Equal(t, "Night's work of run-1 ended: 40 moved, 2 failed", a.Title)
	assert.Contains(t, a.Text, "- **rotation restored**: 12 (still off: 1)")
	assert.Contains(t, a.Text, "3 batches continue in the next window.")
	ok := alert.NightEnded("run-1", "x", alert.NightFigures{Moved: 3, Done: true})
	assert.Equal(t, alert.Info, ok.Severity)
}

// When the window has closed with nothing of the run in flight, and
// something happened in it, the night's end is said once, by a step of the
// whole run (poll's every minute): what moved and what continues in the
// next window.
func TestNightEndedAfterTheWindow(t *testing.T) {
	ctx := t.Context()
	store := dirStore(t)
	lane := estate.Lane{Account: "1111000011110001", Region: "cn-hangzhou"}
	p := plan.Plan{RunID: "run-20261129", Lanes: []plan.LanePlan{{Lane: lane, InstanceID: "kst-1", Batches: []plan.Batch{
		{ID: plan.BatchID(lane, 1), Lane: lane, InstanceID: "kst-1", Seq: 1, Keys: []string{"k1"}},
		{ID: plan.BatchID(lane, 2), Lane: lane, InstanceID: "kst-1", Seq: 2, Keys: []string{"k2"}},
	}}}}
	put := func(key string, v any) {
		t.Helper()
		b, err := json.Marshal(v)
		require.NoError(t, err)
		_, err = store.Create(ctx, key, b)
		require.NoError(t, err)
	}
	in := func(h, m int) time.Time { return time.Date(2026, 11, 29, h, m, 0, 0, time.UTC) }
	put(statekeys.Plan(p.RunID), p)
	put(statekeys.Current, migration.CurrentRun{RunID: p.RunID, Since: in(1, 0)})
	put(statekeys.Batch(p.RunID, plan.BatchID(lane, 1)), migration.BatchState{ID: plan.BatchID(lane, 1), RunID: p.RunID, Lane: lane, Seq: 1,
		InstanceID: "kst-1", Keys: []string{"k1"}, Phase: migration.PhaseVerified,
		Resources: []migration.ResourceOutcome{{Kind: migration.KindKey, ID: "k1", Result: migration.ResultMigrated}},
		History: []migration.Transition{{To: migration.PhasePlanned, At: in(2, 0)}, {From: migration.PhasePlanned, To: migration.PhaseRotationOff, At: in(2, 1)},
			{From: migration.PhaseRotationOff, To: migration.PhaseVerified, At: in(2, 30)}}})
	cfg, err := app.LoadConfig(func(k string) string { return map[string]string{"KMSMIG_WINDOW": "02:00-03:00"}[k] })
	require.NoError(t, err)
	alerts := &alertRecorder{}
	now := in(2, 40)
	x := &app.Executor{Config: cfg, Alerts: alerts, Now: func() time.Time { return now },
		Engine: &migration.Engine{Store: store, Config: cfg.EngineConfig(now), Clock: fixedClock{&now}}}
	_, err = x.Rotate(ctx, app.RotateEvent{StepEvent: app.StepEvent{BatchID: plan.BatchID(lane, 1)}})
	require.NoError(t, err)
	assert.Empty(t, alerts.take(), "the window is still open")

	now = in(3, 5)
	_, err = x.Rotate(ctx, app.RotateEvent{StepEvent: app.StepEvent{BatchID: plan.BatchID(lane, 1)}})
	require.NoError(t, err)
	assert.Empty(t, alerts.take(), "a step of one batch reads its lane, not the run: the minute's poll says it")
	for range 2 {
		_, err = x.Poll(ctx, app.StepEvent{})
		require.NoError(t, err)
	}
	require.Equal(t, []string{"night-ended/run-20261129/2026-11-29T03:00Z"}, alerts.take(), "once")
	a := alerts.last(t)
	assert.Contains(t, a.Text, "- **moved**: 1")
	assert.Contains(t, a.Text, "1 batches continue in the next window.")
}

type fixedClock struct{ t *time.Time }

func (c fixedClock) Now() time.Time { return *c.t }
