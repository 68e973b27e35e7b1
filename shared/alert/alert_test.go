package alert_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/audit"
)

const (
	robotToken  = "tok123"
	robotSecret = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
)

// dingTalkRobot is a receiver that checks requests the way DingTalk does:
// access token, a timestamp within an hour, and sign =
// base64(HMAC-SHA256(secret, timestamp+"\n"+secret)).
type dingTalkRobot struct {
	secret string
	mu     sync.Mutex
	got    []map[string]any
	calls  int
}

func (d *dingTalkRobot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	answer := func(code int, msg string) {
		_ = json.NewEncoder(w).Encode(map[string]any{"errcode": code, "errmsg": msg})
	}
	q := r.URL.Query()
	if r.Method != http.MethodPost || q.Get("access_token") != robotToken {
		answer(300001, "token is not exist")
		return
	}
	ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
	if err != nil || time.Since(time.UnixMilli(ts)).Abs() > time.Hour {
		answer(310000, "invalid timestamp")
		return
	}
	mac := hmac.New(sha256.New, []byte(d.secret))
	mac.Write([]byte(q.Get("timestamp") + "\n" + d.secret))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(q.Get("sign")), []byte(want)) {
		answer(310000, "sign not match")
		return
	}
	var msg map[string]any
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil || msg["msgtype"] != "markdown" {
		answer(400105, "not supported msgtype")
		return
	}
	d.got = append(d.got, msg)
	answer(0, "ok")
}

func (d *dingTalkRobot) messages() []map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]map[string]any(nil), d.got...)
}

// memLog keeps audit records.
type memLog struct {
	mu      sync.Mutex
	records []audit.Record
}

func (m *memLog) Log(_ context.Context, r audit.Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records = append(m.records, r)
}
func (m *memLog) Flush(context.Context) error { return nil }
func (m *memLog) Stats() audit.Stats          { return audit.Stats{} }

func (m *memLog) outcomes() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.records {
		out = append(out, r.Outcome)
	}
	return out
}

func newRobot(t *testing.T, secret string) (*dingTalkRobot, *alert.DingTalk) {
	t.Helper()
	robot := &dingTalkRobot{secret: robotSecret}
	ts := httptest.NewServer(robot)
	t.Cleanup(ts.Close)
	return robot, &alert.DingTalk{Webhook: ts.URL + "/robot/send?access_token=" + robotToken, Secret: secret}
}

func TestDingTalkSigned(t *testing.T) {
	robot, sink := newRobot(t, robotSecret)
	log := &memLog{}
	al := alert.New(alert.Config{Sinks: []alert.Sink{sink}, Audit: log})
	a := alert.ResourceFailed("1234", "cn-hangzhou", "key", "key-abc", "Rejected.Throttling", "gave up after 5 tries")
	require.NoError(t, al.Alert(t.Context(), a))

	msgs := robot.messages()
	require.Len(t, msgs, 1)
	md := msgs[0]["markdown"].(map[string]any)
	require.Equal(t, "Migration failed for key key-abc", md["title"])
	text := md["text"].(string)
	require.Contains(t, text, "[CRITICAL]")
	require.Contains(t, text, "gave up after 5 tries")
	require.Contains(t, text, "- **resource_id**: key-abc")

	require.Len(t, log.records, 1)
	r := log.records[0]
	require.Equal(t, audit.LevelAlert, r.Level)
	require.Equal(t, alert.OutcomeSent, r.Outcome)
	require.Equal(t, "key-abc", r.ResourceID)
	require.Equal(t, "cn-hangzhou", r.Region)
	require.Equal(t, alert.KindResourceFailed, r.ReasonCode)
}

func TestDingTalkWrongSecretNotRetried(t *testing.T) {
	robot, sink := newRobot(t, "SECwrong")
	log := &memLog{}
	al := alert.New(alert.Config{Sinks: []alert.Sink{sink}, Audit: log, Attempts: 5, Backoff: time.Millisecond})
	err := al.Alert(t.Context(), alert.FunctionError("migrate", "req-1", errors.New("boom")))
	var de *alert.DeliveryError
	require.ErrorAs(t, err, &de)
	require.False(t, de.Retryable)
	require.Contains(t, err.Error(), "310000")
	require.Equal(t, 1, robot.calls)
	require.Empty(t, robot.messages())
	require.Equal(t, []string{alert.OutcomeFailed}, log.outcomes())
}

// flaky answers with the given statuses in turn, then 200.
type flaky struct {
	mu       sync.Mutex
	statuses []int
	calls    int
	bodies   []alert.WebhookPayload
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if len(f.statuses) > 0 {
		s := f.statuses[0]
		f.statuses = f.statuses[1:]
		http.Error(w, "nope", s)
		return
	}
	var p alert.WebhookPayload
	_ = json.NewDecoder(r.Body).Decode(&p)
	f.bodies = append(f.bodies, p)
}

func TestWebhookRetry(t *testing.T) {
	tests := []struct {
		name      string
		statuses  []int
		attempts  int
		wantCalls int
		wantErr   bool
	}{
		{"ok", nil, 4, 1, false},
		{"5xx then ok", []int{503, 500, 502}, 4, 4, false},
		{"5xx beyond attempts", []int{503, 503, 503, 503}, 3, 3, true},
		{"4xx not retried", []int{400}, 4, 1, true},
		{"429 not retried", []int{429}, 4, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &flaky{statuses: tt.statuses}
			ts := httptest.NewServer(f)
			defer ts.Close()
			al := alert.New(alert.Config{
				Sinks:    []alert.Sink{&alert.Webhook{URL: ts.URL, Header: http.Header{"X-Token": {"t"}}}},
				Attempts: tt.attempts, Backoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond,
			})
			err := al.Alert(t.Context(), alert.PreflightBlocked("1234", "cn-shanghai", "instance.version", "2.8.1 < 2.9.0"))
			require.Equal(t, tt.wantErr, err != nil, "err = %v", err)
			require.Equal(t, tt.wantCalls, f.calls)
			if !tt.wantErr {
				require.Len(t, f.bodies, 1)
				require.Equal(t, alert.Critical, f.bodies[0].Severity)
				require.Equal(t, "preflight-blocked/1234/cn-shanghai/instance.version", f.bodies[0].Key)
				require.Equal(t, "instance.version", f.bodies[0].Fields["reason_code"])
			}
		})
	}
}

func TestWebhookNetworkErrorRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	counting := &countingSink{Sink: &alert.Webhook{URL: "http://" + addr + "/hook?token=supersecret"}}
	al := alert.New(alert.Config{Sinks: []alert.Sink{counting}, Attempts: 3, Backoff: time.Millisecond})
	err = al.Alert(t.Context(), alert.FunctionError("plan", "r", errors.New("x")))
	var de *alert.DeliveryError
	require.ErrorAs(t, err, &de)
	require.True(t, de.Retryable)
	require.NotContains(t, err.Error(), "supersecret", "webhook URLs carry tokens")
	require.Equal(t, 3, counting.n)
}

type countingSink struct {
	alert.Sink
	n int
}

func (c *countingSink) Send(ctx context.Context, a alert.Alert) error {
	c.n++
	return c.Sink.Send(ctx, a)
}

func TestDedup(t *testing.T) {
	f := &flaky{}
	ts := httptest.NewServer(f)
	defer ts.Close()
	now := time.Date(2025, 3, 30, 2, 0, 0, 0, time.UTC)
	log := &memLog{}
	al := alert.New(alert.Config{
		Sinks: []alert.Sink{&alert.Webhook{URL: ts.URL}}, Audit: log, Period: 30 * time.Minute,
		Now: func() time.Time { return now },
	})
	stalled := func() alert.Alert {
		return alert.TaskStalled("1234", "cn-hangzhou", "mt-1", now.Add(-2*time.Hour), 2*time.Hour)
	}
	ctx := t.Context()
	require.NoError(t, al.Alert(ctx, stalled()))
	require.NoError(t, al.Alert(ctx, stalled()), "a duplicate is not an error")
	require.NoError(t, al.Alert(ctx, alert.FunctionError("migrate", "r", errors.New("x"))), "another key goes out")
	now = now.Add(31 * time.Minute)
	require.NoError(t, al.Alert(ctx, stalled()), "after the period the key goes out again")
	require.Equal(t, 3, f.calls)
	require.Equal(t, []string{alert.OutcomeSent, alert.OutcomeDuplicate, alert.OutcomeSent, alert.OutcomeSent}, log.outcomes())
}

// recordingDedup is an injected Dedup, as the run-state store would be.
type recordingDedup struct {
	*alert.MemoryDedup
	released []string
}

func (r *recordingDedup) Release(ctx context.Context, key string) error {
	r.released = append(r.released, key)
	return r.MemoryDedup.Release(ctx, key)
}

func TestFailedAlertReleasesKey(t *testing.T) {
	f := &flaky{statuses: []int{500}}
	ts := httptest.NewServer(f)
	defer ts.Close()
	d := &recordingDedup{MemoryDedup: alert.NewMemoryDedup()}
	al := alert.New(alert.Config{Sinks: []alert.Sink{&alert.Webhook{URL: ts.URL}}, Dedup: d, Attempts: 1})
	a := alert.RotationRestoreFailed("1234", "cn-hangzhou", "secret", "db-pass", "UpdateSecretRotationPolicy refused")
	require.Error(t, al.Alert(t.Context(), a))
	require.Equal(t, []string{a.Key}, d.released)
	require.NoError(t, al.Alert(t.Context(), a), "the released key is tried again")
	require.Len(t, f.bodies, 1)
}

func TestPartialDeliveryKeepsKey(t *testing.T) {
	ok := &flaky{}
	bad := &flaky{statuses: []int{404, 404}}
	okTS, badTS := httptest.NewServer(ok), httptest.NewServer(bad)
	defer okTS.Close()
	defer badTS.Close()
	log := &memLog{}
	al := alert.New(alert.Config{Sinks: []alert.Sink{&alert.Webhook{URL: okTS.URL}, &alert.Webhook{URL: badTS.URL}}, Audit: log})
	a := alert.FunctionError("migrate", "r", errors.New("x"))
	require.Error(t, al.Alert(t.Context(), a))
	require.NoError(t, al.Alert(t.Context(), a))
	require.Equal(t, 1, ok.calls)
	require.Equal(t, []string{alert.OutcomePartlySent, alert.OutcomeDuplicate}, log.outcomes())
}

func TestAlertScrubsSecrets(t *testing.T) {
	f := &flaky{}
	ts := httptest.NewServer(f)
	defer ts.Close()
	log := &memLog{}
	al := alert.New(alert.Config{Sinks: []alert.Sink{&alert.Webhook{URL: ts.URL}}, Audit: log})
	secret := "Xy7Kq2mNp9Rs4Tv6Wz8Bc1Df3Gh5Jk"
	a := alert.FunctionError("migrate", "r", errors.New("InvalidAccessKeySecret: secret="+secret))
	require.NoError(t, al.Alert(t.Context(), a))
	require.NotContains(t, f.bodies[0].Text, secret)
	require.NotContains(t, log.records[0].Message, secret)
}

func TestCancelledDuringBackoff(t *testing.T) {
	f := &flaky{statuses: []int{503, 503, 503}}
	ts := httptest.NewServer(f)
	defer ts.Close()
	al := alert.New(alert.Config{Sinks: []alert.Sink{&alert.Webhook{URL: ts.URL}}, Attempts: 10, Backoff: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	err := al.Alert(ctx, alert.FunctionError("migrate", "r", errors.New("x")))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, 1, f.calls)
}

func TestStalledAndOverrunAlerts(t *testing.T) {
	now := time.Date(2025, 3, 30, 4, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		a     alert.Alert
		key   string
		title string
		text  string
	}{
		{"stalled", alert.TaskStalled("a", "r", "t1", now.Add(-90*time.Minute), 90*time.Minute),
			"task-stalled/a/r/t1", "Migration task t1 has made no progress for 1h30m0s", "Last progress at 2025-03-30T02:30:00Z."},
		{"overrun", alert.WindowOverrun("a", "r", "b7", now.Add(-10*time.Minute), now),
			"window-overrun/a/r/b7", "Batch b7 overran its window by 10m0s", "The window ended at 2025-03-30T03:50:00Z."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.key, tt.a.Key)
			require.Equal(t, tt.title, tt.a.Title)
			require.Equal(t, tt.text, tt.a.Text)
			require.Equal(t, alert.Warning, tt.a.Severity)
			require.True(t, strings.HasPrefix(tt.a.Key, tt.a.Kind()+"/"))
		})
	}
}

func TestDingTalkSign(t *testing.T) {
	// Recomputed independently of the package, as the receiver does.
	ts := int64(1700000000000)
	mac := hmac.New(sha256.New, []byte("SECabc"))
	mac.Write([]byte("1700000000000\nSECabc"))
	require.Equal(t, base64.StdEncoding.EncodeToString(mac.Sum(nil)), alert.DingTalkSign("SECabc", ts))
}
