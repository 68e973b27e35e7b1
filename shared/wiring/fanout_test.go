package wiring_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/wiring"
	fctwin "github.com/kmsmig/kmsmig/twin/fc"
)

// A discover of three lanes at one lane per invocation, end to end: the
// coordinator hands the groups to the discover function through
// InvokeFunction (the FC twin, running up to two instances of it at
// once), the groups discover their lanes, and the last to finish plans the
// run, which becomes current.
func TestDiscoverFansOutThroughFunctionCompute(t *testing.T) {
	st := startStack(t)
	ready := st.Ready()
	home := homeAccount(t, st)
	var endpoints []string
	for r, a := range ready.KMS {
		endpoints = append(endpoints, r+"="+a)
	}
	state := t.TempDir()
	cfg, err := app.LoadConfig(getenv(map[string]string{
		"KMSMIG_KMS_ENDPOINTS": strings.Join(endpoints, ","), "KMSMIG_INSECURE": "true", "KMSMIG_STATE": "dir:" + state,
		"KMSMIG_REGIONS": "cn-beijing,cn-hangzhou,cn-shanghai", "KMSMIG_FC_ENDPOINT": ready.FC, "KMSMIG_AUDIT": "off",
		"KMSMIG_DISCOVER_LANES_PER_INVOCATION": "1",
	}))
	require.NoError(t, err)
	discover := func(ctx context.Context, requestID string, ev app.DiscoverEvent) (app.DiscoverResult, error) {
		inv := invocation(t, st, "discover")
		inv.RequestID = requestID
		return wiring.Invoke(ctx, wiring.NewObserver(cfg, &lines{}), cfg, nil, inv, "discover",
			func(ctx context.Context, d *wiring.Deps) (app.DiscoverResult, error) {
				return wiring.Discover(ctx, d, ev)
			})
	}
	var groups atomic.Int64
	require.NoError(t, st.FC.Deploy(fctwin.Function{Name: "kmsmig-discover", AccountID: home.ID, Region: "cn-hangzhou",
		Timeout: time.Minute, InstanceConcurrency: 1, MaxInstances: 2,
		Handler: func(ctx context.Context, event []byte) ([]byte, error) {
			var ev app.DiscoverEvent
			if err := json.Unmarshal(event, &ev); err != nil {
				return nil, err
			}
			groups.Add(1)
			fcc, _ := fccontext.FromContext(ctx)
			res, err := discover(ctx, fcc.RequestID, ev)
			if err != nil {
				return nil, err
			}
			return json.Marshal(res)
		}}))

	coord, err := discover(t.Context(), "req-coordinator", app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "fanned"}})
	require.NoError(t, err)
	assert.Equal(t, 3, coord.Lanes)
	assert.Equal(t, 3, coord.FanoutGroups)
	assert.Equal(t, 3, coord.Dispatched)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	store, err := runstate.OpenDir(state)
	require.NoError(t, err)
	for {
		f, _, err := runstate.GetJSON[app.Fanout](ctx, store, statekeys.DiscoveryFanout("fanned"))
		require.NoError(t, err)
		if f.Planned {
			break
		}
		select {
		case <-ctx.Done():
			require.FailNow(t, "the fan-out was never planned", "%+v; invocations %+v", f, st.FC.Invocations())
		case <-time.After(20 * time.Millisecond):
		}
	}
	for _, inv := range st.FC.Invocations() {
		if inv.Function == "kmsmig-discover" {
			_, err := st.FC.Wait(ctx, inv.RequestID)
			require.NoError(t, err)
		}
	}
	var failed []string
	for _, inv := range st.FC.Invocations() {
		if inv.Function == "kmsmig-discover" && inv.Status != fctwin.StatusSucceeded {
			failed = append(failed, string(inv.Response))
		}
	}
	require.Empty(t, failed)
	assert.Equal(t, int64(3), groups.Load(), "one invocation per group")
	inv, _, err := runstate.GetJSON[estate.Inventory](ctx, store, statekeys.Inventory("fanned"))
	require.NoError(t, err)
	assert.Len(t, inv.Lanes, 3)
	cur, _, err := runstate.GetJSON[migration.CurrentRun](ctx, store, statekeys.Current)
	require.NoError(t, err)
	assert.Equal(t, "fanned", cur.RunID)

	// The coordinator again (a timer, or FC retrying it): nothing to do.
	again, err := discover(t.Context(), "req-coordinator", app.DiscoverEvent{DiscoverOptions: app.DiscoverOptions{RunID: "fanned"}})
	require.NoError(t, err)
	assert.Zero(t, again.Dispatched)
}
