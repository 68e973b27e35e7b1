package app_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/aliyun/credentials-go/credentials"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/verdict"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
	"github.com/kmsmig/kmsmig/twin/stack"
)

// demo starts the twins on the demo estate and returns a Discoverer wired
// to them with a directory store.
func demo(t *testing.T) (*stack.Stack, *app.Discoverer) {
	t.Helper()
	st, err := stack.Start(stack.Options{Inventory: kmstwin.DemoInventory(), Unthrottled: true})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	keys := map[string]stack.Account{}
	var accounts []string
	for _, a := range st.Ready().Accounts {
		keys[a.ID] = a
		accounts = append(accounts, a.ID)
	}
	c, err := kms.New(kms.Config{Endpoints: st.Ready().KMS, Insecure: true,
		Credentials: func(account string) (credentials.Credential, error) {
			a, ok := keys[account]
			if !ok {
				return nil, errors.New("unknown account")
			}
			typ := "access_key"
			return credentials.NewCredential(&credentials.Config{Type: &typ, AccessKeyId: &a.AccessKeyID, AccessKeySecret: &a.AccessKeySecret})
		}})
	require.NoError(t, err)
	store, err := runstate.OpenDir(t.TempDir())
	require.NoError(t, err)
	cfg, err := app.LoadConfig(func(string) string { return "" })
	require.NoError(t, err)
	cfg.Accounts = accounts
	return st, &app.Discoverer{Config: cfg, Source: c, Store: store, Region: "cn-hangzhou",
		Now: func() time.Time { return time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC) }}
}

func TestDiscoverPersistsRun(t *testing.T) {
	st, d := demo(t)
	ctx := t.Context()
	ev, err := app.DecodeDiscoverEvent([]byte(`{"triggerTime":"2026-11-29T01:00:00Z","triggerName":"nightly","payload":""}`))
	require.NoError(t, err)
	res, err := d.Handle(ctx, ev)
	require.NoError(t, err)
	require.Equal(t, "run-20261129", res.RunID)
	require.Equal(t, 9, res.Lanes)
	require.Positive(t, res.Batches)
	require.Positive(t, res.Counts.ByVerdict[verdict.Blocked])
	require.Empty(t, res.Incomplete)

	// The result stays compact: references, not inventories.
	b, err := json.Marshal(res)
	require.NoError(t, err)
	require.Less(t, len(b), 4096)

	p, _, err := runstate.GetJSON[plan.Plan](ctx, d.Store, res.Plan)
	require.NoError(t, err)
	require.Equal(t, res.Batches, p.BatchCount())
	cur, _, err := runstate.GetJSON[app.CurrentRun](ctx, d.Store, app.CurrentRunKey)
	require.NoError(t, err)
	require.Equal(t, res.RunID, cur.RunID)

	// Running again re-plans the same run and keeps its batch ids.
	again, err := d.Handle(ctx, ev)
	require.NoError(t, err)
	require.True(t, again.Replanned)
	p2, _, err := runstate.GetJSON[plan.Plan](ctx, d.Store, res.Plan)
	require.NoError(t, err)
	require.Equal(t, p, p2)
	require.Zero(t, st.KMS.CallCounts()["GetSecretValue"])
}

func TestDiscoverDryRunWritesNothing(t *testing.T) {
	_, d := demo(t)
	res, err := d.Handle(t.Context(), app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "trial", DryRun: true}})
	require.NoError(t, err)
	require.True(t, res.DryRun)
	keys, err := d.Store.List(t.Context(), "")
	require.NoError(t, err)
	require.Empty(t, keys)
}

func TestDiscoverRejectsBadEvents(t *testing.T) {
	_, d := demo(t)
	tests := []struct {
		name, event, want string
	}{
		{"unknown field", `{"runName":"x"}`, `unknown field "runName"`},
		{"bad run id", `{"runId":"Bad Run"}`, `runId "Bad Run"`},
		{"bad payload", `{"triggerName":"t","payload":"{\"dryRunNow\":true}"}`, `payload`},
		{"bad trigger time", `{"triggerName":"t","triggerTime":"yesterday"}`, `triggerTime`},
		{"unknown account", `{"accounts":["999"]}`, `accounts: "999" is not configured`},
		{"bad filter", `{"include":["owner:bob"]}`, `include[0]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := app.DecodeDiscoverEvent([]byte(tt.event))
			if err == nil {
				_, err = d.Handle(t.Context(), ev)
			}
			require.ErrorContains(t, err, tt.want)
			keys, lerr := d.Store.List(t.Context(), "")
			require.NoError(t, lerr)
			require.Empty(t, keys, "bad input changes nothing")
		})
	}
}
