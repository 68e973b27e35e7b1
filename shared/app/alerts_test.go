package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

func dirStore(t *testing.T) runstate.Store {
	t.Helper()
	store, err := runstate.OpenDir(t.TempDir())
	require.NoError(t, err)
	return store
}

func TestStoreDedupClaim(t *testing.T) {
	ctx := t.Context()
	store := dirStore(t)
	d := app.StoreDedup{Store: store}
	const key = "task-stalled/1111/cn-hangzhou/mt 1:x"
	t0 := time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)

	for _, step := range []struct {
		name string
		at   time.Time
		want bool
	}{
		{"first claim", t0, true},
		{"within the period", t0.Add(59 * time.Minute), false},
		{"a period later", t0.Add(time.Hour), true},
		{"within the new period", t0.Add(90 * time.Minute), false},
	} {
		ok, err := d.Claim(ctx, key, step.at, time.Hour)
		require.NoError(t, err, step.name)
		assert.Equal(t, step.want, ok, step.name)
	}
	keys, err := store.List(ctx, "alerts/")
	require.NoError(t, err)
	assert.Equal(t, []string{statekeys.Alert(key)}, keys, "one fixed-length key per alert key")
	entry, err := store.Get(ctx, keys[0])
	require.NoError(t, err)
	assert.Contains(t, string(entry.Data), key, "the entry names its alert key")

	require.NoError(t, d.Release(ctx, key))
	ok, err := d.Claim(ctx, key, t0.Add(90*time.Minute), time.Hour)
	require.NoError(t, err)
	assert.True(t, ok, "a released key may be claimed again at once")
	require.NoError(t, d.Release(ctx, "never-claimed"), "releasing an unknown key is not an error")
}

// Concurrent claims of one key (function instances racing) yield one true.
func TestStoreDedupConcurrentClaims(t *testing.T) {
	d := app.StoreDedup{Store: dirStore(t)}
	now := time.Now()
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			ok, err := d.Claim(t.Context(), "k", now, time.Hour)
			assert.NoError(t, err)
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), wins.Load())
}

// faultyStore fails Get or Delete with the given errors.
type faultyStore struct {
	runstate.Store
	get, del error
}

func (s faultyStore) Get(ctx context.Context, key string) (runstate.Object, error) {
	if s.get != nil {
		return runstate.Object{}, s.get
	}
	return s.Store.Get(ctx, key)
}

func (s faultyStore) Delete(ctx context.Context, key string, v runstate.Version) error {
	if s.del != nil {
		return s.del
	}
	return s.Store.Delete(ctx, key, v)
}

func TestStoreDedupReleaseErrors(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name     string
		get, del error
		want     error
	}{
		{name: "read fails", get: boom, want: boom},
		{name: "delete fails", del: boom, want: boom},
		{name: "another instance released it", del: runstate.ErrNotFound},
		{name: "another instance claimed it again", del: runstate.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := dirStore(t)
			_, err := app.StoreDedup{Store: store}.Claim(t.Context(), "k", time.Now(), time.Hour)
			require.NoError(t, err)
			err = app.StoreDedup{Store: faultyStore{Store: store, get: tt.get, del: tt.del}}.Release(t.Context(), "k")
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
				return
			}
			require.NoError(t, err)
		})
	}
}

// records is an audit.Logger keeping what it is given.
type records struct {
	mu sync.Mutex
	rs []audit.Record
}

func (l *records) Log(_ context.Context, r audit.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rs = append(l.rs, r)
}
func (l *records) Flush(context.Context) error { return nil }
func (l *records) Stats() audit.Stats          { return audit.Stats{} }

func (l *records) outcomes(action string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.rs {
		if r.Action == action {
			out = append(out, r.Outcome)
		}
	}
	return out
}

// The configured alerter delivers to the webhook and to DingTalk (signed),
// de-duplicates through the store, and records every alert in the trail.
func TestConfigAlerter(t *testing.T) {
	var hooked, dinged atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p alert.WebhookPayload
		assert.NoError(t, json.NewDecoder(r.Body).Decode(&p))
		assert.Equal(t, "function-error/kmsmig-poll", p.Key)
		hooked.Add(1)
	}))
	defer hook.Close()
	ding := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.NotEmpty(t, r.URL.Query().Get("sign"), "signed with the secret")
		assert.NotEmpty(t, r.URL.Query().Get("timestamp"))
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte(`{"errcode":0,"errmsg":"ok"}`))
		dinged.Add(1)
	}))
	defer ding.Close()

	cfg, err := app.LoadConfig(func(k string) string {
		return map[string]string{"KMSMIG_ALERT_WEBHOOK": hook.URL, "KMSMIG_DINGTALK_WEBHOOK": ding.URL + "/robot/send?access_token=t",
			"KMSMIG_DINGTALK_SECRET": "SEC1", "KMSMIG_ALERT_PERIOD": "30m",
			// httptest servers speak plain HTTP on loopback: allowed only so.
			"KMSMIG_INSECURE": "true", "KMSMIG_FUNCTION_MIGRATE": "-", "KMSMIG_FUNCTION_ROTATE": "-"}[k]
	})
	require.NoError(t, err)
	store := dirStore(t)
	trail := &records{}
	al := cfg.Alerter(trail, store, nil, nil)
	a := alert.FunctionError("kmsmig-poll", "req-1", errors.New("boom"))
	require.NoError(t, al.Alert(t.Context(), a))
	require.NoError(t, al.Alert(t.Context(), a))

	assert.Equal(t, int32(1), hooked.Load())
	assert.Equal(t, int32(1), dinged.Load())
	assert.Equal(t, []string{alert.OutcomeSent, alert.OutcomeDuplicate}, trail.outcomes("Alert"))
	keys, err := store.List(t.Context(), "alerts/")
	require.NoError(t, err)
	assert.Len(t, keys, 1, "the claim lives in the store, shared by every instance")

	// A second alerter over the same store (another instance) stays silent.
	require.NoError(t, cfg.Alerter(trail, store, nil, nil).Alert(t.Context(), a))
	assert.Equal(t, int32(1), hooked.Load())
}

// Without sinks or a store, alerts are only ALERT records, de-duplicated in
// memory.
func TestConfigAlerterWithoutSinks(t *testing.T) {
	cfg, err := app.LoadConfig(func(string) string { return "" })
	require.NoError(t, err)
	trail := &records{}
	al := cfg.Alerter(trail, nil, nil, nil)
	a := alert.FunctionError("kmsmig-rotate", "req-2", errors.New("boom"))
	require.NoError(t, al.Alert(t.Context(), a))
	require.NoError(t, al.Alert(t.Context(), a))
	assert.Equal(t, []string{alert.OutcomeSent, alert.OutcomeDuplicate}, trail.outcomes("Alert"))
}
