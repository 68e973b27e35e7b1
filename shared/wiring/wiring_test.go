package wiring_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/fcruntime"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/wiring"
)

// lines is an io.Writer safe for the audit writer's goroutine, read as
// JSON lines.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// records returns the JSON lines written so far.
func (l *lines) records(t *testing.T) []map[string]string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]string
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	for sc.Scan() {
		var r map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), sc.Text())
		m := map[string]string{}
		for k, v := range r {
			if s, ok := v.(string); ok {
				m[k] = s
			}
		}
		out = append(out, m)
	}
	return out
}

// actions lists the records as action/outcome.
func actions(rs []map[string]string) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r["action"]+"/"+r["outcome"])
	}
	return out
}

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// fcContext is what Function Compute passes with an invocation.
func fcContext(ctx context.Context, requestID, accessKeyID string) context.Context {
	fcc := &fccontext.FcContext{RequestID: requestID, AccountId: "1111", Region: "cn-hangzhou"}
	fcc.Function.Name = "kmsmig-migrate"
	fcc.Credentials.AccessKeyId, fcc.Credentials.AccessKeySecret, fcc.Credentials.SecurityToken = accessKeyID, "secret", "token"
	return fccontext.NewContext(ctx, fcc)
}

// A bad configuration fails every invocation with one error naming each
// bad variable, before anything is wired or written; the function's log
// gets one loud ERROR line naming them (once, at start), and the alert
// path, configured on its own, still records each failure and raises the
// function-error alert (de-duplicated in memory: once per period).
func TestHandlerRefusesBadConfiguration(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	out := &lines{}
	var stderr bytes.Buffer
	var hooked atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hooked.Add(1)
	}))
	defer hook.Close()
	ran := 0
	uc := func(context.Context, *wiring.Deps, app.StepEvent) (app.StepResult, error) {
		ran++
		return app.StepResult{}, nil
	}
	h := fcruntime.Handler(wiring.Handler("migrate", uc, getenv(map[string]string{
		"KMSMIG_STATE": "dir:" + state, "KMSMIG_AUDIT": "stdout", "KMSMIG_MAX_ATTEMPTS": "11", "KMSMIG_WINDOW": "2-6",
		"KMSMIG_ALERT_WEBHOOK": hook.URL + "/hook?key=hook-s3cret", "KMSMIG_INSECURE": "true",
	}), out, &stderr))
	for range 2 {
		_, err := h.Invoke(fcContext(t.Context(), "req-1", "AK"), []byte(`{}`))
		require.ErrorContains(t, err, "configuration: ")
		require.ErrorContains(t, err, "KMSMIG_MAX_ATTEMPTS")
		require.ErrorContains(t, err, "KMSMIG_WINDOW")
	}
	assert.Zero(t, ran, "the use case never runs")
	_, err := os.Stat(state)
	assert.True(t, os.IsNotExist(err), "the state directory is not created")

	log := stderr.String()
	require.Equal(t, 1, strings.Count(log, "\n"), "one line: %q", log)
	assert.True(t, strings.HasPrefix(log, "kmsmig: ERROR: migrate: configuration refused, every invocation fails until it is fixed: configuration: "), log)
	for _, want := range []string{`KMSMIG_MAX_ATTEMPTS: "11": must be a whole number from 1 to 10`, "KMSMIG_WINDOW: ",
		"KMSMIG_INSECURE: true sends plain HTTP"} {
		assert.Contains(t, log, want)
	}
	assert.NotContains(t, log, "hook-s3cret")

	assert.Equal(t, []string{"Invoke/started", "Alert/sent", "Invoke/failed", "Invoke/started", "Alert/duplicate", "Invoke/failed"},
		actions(out.records(t)), "each failure is recorded; the alert is raised once")
	assert.Equal(t, int64(1), hooked.Load(), "the webhook hears of it once per period")
}

// A panicking use case becomes the invocation's error; the invocation still
// records its start and end, raises the function-error alert, and sets the
// audit counters in its result.
func TestInvokeRecoversPanic(t *testing.T) {
	cfg, err := app.LoadConfig(getenv(map[string]string{"KMSMIG_AUDIT": "stdout", "KMSMIG_STATE": "dir:" + t.TempDir()}))
	require.NoError(t, err)
	out := &lines{}
	obs := wiring.NewObserver(cfg, out)
	inv := fcruntime.Invocation{RequestID: "req-panic", Function: "kmsmig-poll", AccountID: "1111", Region: "cn-hangzhou",
		AccessKeyID: "AK", AccessKeySecret: "secret", Deadline: time.Now().Add(time.Minute)}
	res, err := wiring.Invoke(t.Context(), obs, cfg, nil, inv, "poll", func(context.Context, *wiring.Deps) (app.StepResult, error) {
		var m map[string]int
		m["boom"]++ // a nil map: the kind of bug a panic is
		return app.StepResult{}, nil
	})
	require.EqualError(t, err, "internal error (panic): assignment to entry in nil map")
	rs := out.records(t)
	assert.Equal(t, []string{"Invoke/started", "Alert/sent", "Invoke/failed"}, actions(rs))
	for _, r := range rs {
		assert.Equal(t, "req-panic", r["request_id"])
		assert.Equal(t, "poll", r["function"])
	}
	assert.Contains(t, rs[2]["message"], "internal error (panic)")
	assert.Equal(t, "function-error", rs[1]["reason_code"])
	require.NotNil(t, res.Audit, "the counters are in the result")
	assert.Equal(t, int64(3), res.Audit.Logged)
	assert.True(t, res.Audit.Complete(), "%+v", *res.Audit)
}

// An invocation without credentials (a function without a role) fails
// naming the reason; nothing is wired, and the alert goes through the
// observer's own sinks.
func TestInvokeWithoutCredentials(t *testing.T) {
	cfg, err := app.LoadConfig(getenv(map[string]string{"KMSMIG_AUDIT": "stdout", "KMSMIG_STATE": "dir:" + t.TempDir()}))
	require.NoError(t, err)
	out := &lines{}
	h := fcruntime.Handler(wiring.Handler("migrate", wiring.Migrate, getenv(map[string]string{
		"KMSMIG_AUDIT": "stdout", "KMSMIG_STATE": cfg.State}), out, io.Discard))
	_, err = h.Invoke(fcContext(t.Context(), "req-nocreds", ""), []byte(`{}`))
	require.EqualError(t, err, "invocation req-nocreds carries no credentials (give the function a role: s.yaml role)")
	rs := out.records(t)
	assert.Equal(t, []string{"Invoke/started", "Alert/sent", "Invoke/failed"}, actions(rs))
	assert.Equal(t, "function-error", rs[1]["reason_code"])
	assert.Equal(t, "ERROR", strings.ToUpper(rs[2]["level"]))
}

// Through the whole boundary (decoding, configuration, wiring, the use
// case, encoding): without a current run, migrate, poll and rotate have
// nothing to do, and say so with their audit counters.
func TestHandlerServesTheStepUseCases(t *testing.T) {
	env := getenv(map[string]string{"KMSMIG_AUDIT": "stdout", "KMSMIG_STATE": "dir:" + t.TempDir(),
		"KMSMIG_FUNCTION_MIGRATE": "-", "KMSMIG_FUNCTION_ROTATE": "-"})
	for name, h := range map[string]func(out *lines) fc.Handler{
		"migrate": func(out *lines) fc.Handler {
			return fcruntime.Handler(wiring.Handler("migrate", wiring.Migrate, env, out, io.Discard))
		},
		"poll": func(out *lines) fc.Handler {
			return fcruntime.Handler(wiring.Handler("poll", wiring.Poll, env, out, io.Discard))
		},
		"rotate": func(out *lines) fc.Handler {
			return fcruntime.Handler(wiring.Handler("rotate", wiring.Rotate, env, out, io.Discard))
		},
	} {
		t.Run(name, func(t *testing.T) {
			out := &lines{}
			payload, err := h(out).Invoke(fcContext(t.Context(), "req-"+name, "AK"), []byte(`{"triggerName":"t","triggerTime":"2026-11-29T02:00:00Z"}`))
			require.NoError(t, err)
			var res app.StepResult
			require.NoError(t, json.Unmarshal(payload, &res))
			assert.True(t, res.Done)
			require.NotNil(t, res.Audit)
			assert.Equal(t, int64(2), res.Audit.Logged)
			assert.Equal(t, []string{"Invoke/started", "Invoke/completed"}, actions(out.records(t)))
		})
	}
}

// The audit trail goes where KMSMIG_AUDIT says: nowhere when off, JSON
// lines on stdout without a known logstore.
func TestObserverModes(t *testing.T) {
	inv := fcruntime.Invocation{RequestID: "req-1", AccessKeyID: "AK", AccessKeySecret: "secret"}
	for _, tt := range []struct {
		mode   string
		logged int
	}{{"off", 0}, {"auto", 1}, {"stdout", 1}} {
		t.Run(tt.mode, func(t *testing.T) {
			cfg, err := app.LoadConfig(getenv(map[string]string{"KMSMIG_AUDIT": tt.mode}))
			require.NoError(t, err)
			out := &lines{}
			obs := wiring.NewObserver(cfg, out)
			ctx, logger := obs.Begin(t.Context(), inv, "discover")
			logger.Log(ctx, audit.Record{Action: "Probe", Outcome: "ok"})
			obs.End(ctx, inv)
			assert.Len(t, out.records(t), tt.logged)
			if tt.logged > 0 {
				r := out.records(t)[0]
				assert.Equal(t, "discover", r["function"], "the invocation's scope enriches the record")
				assert.Equal(t, "req-1", r["request_id"])
			}
		})
	}
	// End before any Begin has nothing to flush.
	cfg, err := app.LoadConfig(getenv(nil))
	require.NoError(t, err)
	assert.Equal(t, audit.Stats{}, wiring.NewObserver(cfg, &lines{}).End(t.Context(), inv))
}

// A run-state store that cannot be reached fails the invocation, and the
// alert still goes out: the observer's sinks need no store.
func TestUnreachableStoreStillAlerts(t *testing.T) {
	var hooked atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		assert.Contains(t, string(body), "open run-state store")
		hooked.Add(1)
	}))
	defer hook.Close()
	out := &lines{}
	h := fcruntime.Handler(wiring.Handler("rotate", wiring.Rotate, getenv(map[string]string{
		"KMSMIG_AUDIT": "stdout", "KMSMIG_STATE": "oss://bucket/kmsmig", "KMSMIG_OSS_ENDPOINT": "127.0.0.1:1", "KMSMIG_INSECURE": "true",
		"KMSMIG_FUNCTION_MIGRATE": "-", "KMSMIG_FUNCTION_ROTATE": "-", "KMSMIG_ALERT_WEBHOOK": hook.URL,
	}), out, io.Discard))
	_, err := h.Invoke(fcContext(t.Context(), "req-nostore", "AK"), []byte(`{"triggerName":"daily"}`))
	require.ErrorContains(t, err, "open run-state store")
	assert.Equal(t, []string{"Invoke/started", "Alert/sent", "Invoke/failed"}, actions(out.records(t)))
	assert.Equal(t, int64(1), hooked.Load())
}
