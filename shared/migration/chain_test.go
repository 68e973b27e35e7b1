package migration_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/credentials-go/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/fc"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	"github.com/kmsmig/kmsmig/twin/acs"
	fctwin "github.com/kmsmig/kmsmig/twin/fc"
)

// The functions chain through FC: poll (driven here, as its timer would)
// invokes rotate when a task ends, rotate invokes migrate for the lane's
// next batch (once the rotation is back, and once verified). Only the first migrate and the polls are started by hand.
func TestChainingThroughFunctionCompute(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}})
	ctx := t.Context()

	const fcAccount = "1234567890123456"
	keys := acs.NewKeyring()
	root, err := keys.AddAccount(fcAccount, "", "")
	require.NoError(t, err)
	srv := fctwin.New(fctwin.Config{Keyring: keys, Verifier: acs.NewVerifier(keys, acs.VerifierOptions{}), Region: "cn-hangzhou", AccountID: fcAccount})
	t.Cleanup(func() { _ = srv.Close() })
	addr, err := srv.Listen("127.0.0.1:0")
	require.NoError(t, err)
	typ := "access_key"
	cred, err := credentials.NewCredential(&credentials.Config{Type: &typ, AccessKeyId: &root.AccessKeyID, AccessKeySecret: &root.AccessKeySecret})
	require.NoError(t, err)
	inv, err := fc.New(fc.Config{Endpoint: addr, Region: "cn-hangzhou", Insecure: true, Credential: cred})
	require.NoError(t, err)

	cfg := migration.Config{Functions: migration.Functions{Rotate: "rotate", Migrate: "migrate"}}
	engine := func() *migration.Engine {
		eng := e.engine(e.store, cfg)
		eng.Invoker = inv
		return eng
	}
	// Each handler is what the function's main would wire: decode, one
	// engine call.
	require.NoError(t, srv.HandleFunc("rotate", func(ctx context.Context, event []byte) ([]byte, error) {
		var ev migration.ChainEvent
		if err := json.Unmarshal(event, &ev); err != nil {
			return nil, err
		}
		res, err := engine().Restore(ctx, ev.RunID, ev.BatchID)
		if err != nil {
			return nil, err
		}
		return json.Marshal(res)
	}))
	require.NoError(t, srv.HandleFunc("migrate", func(ctx context.Context, event []byte) ([]byte, error) {
		var ev migration.ChainEvent
		if err := json.Unmarshal(event, &ev); err != nil {
			return nil, err
		}
		l, err := estate.ParseLane(ev.Lane)
		if err != nil {
			return nil, err
		}
		res, err := engine().MigrateLane(ctx, ev.RunID, l)
		if err != nil {
			return nil, err
		}
		return json.Marshal(res)
	}))

	poller := engine()
	_, err = poller.Migrate(ctx, runID)
	require.NoError(t, err)
	deadline, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		_, err := poller.PollRun(ctx, runID)
		require.NoError(t, err)
		settle(t, deadline, srv)
		p, err := poller.Status(ctx, runID)
		require.NoError(t, err)
		if p.Done() {
			break
		}
		require.NoError(t, deadline.Err(), "run not done: %v", p.Active)
	}

	var restores, migrates int
	for _, i := range srv.Invocations() {
		require.Equal(t, fctwin.StatusSucceeded, i.Status, "%s %s: %s", i.Function, i.TaskID, i.Response)
		assert.True(t, strings.HasPrefix(i.TaskID, "kmsmig_"), i.TaskID)
		switch i.Function {
		case "rotate":
			restores++
		case "migrate":
			migrates++
		}
	}
	assert.Equal(t, 4, restores, "one restore per batch")
	// With pipelining, rotate invokes migrate twice per batch: once the
	// batch's rotation is back (the batch after the running one may then
	// be prepared) and once it is verified.
	assert.Equal(t, 8, migrates, "two migrates after each batch")
	e.checkMigrated(t)
	e.checkOneTaskPerBatch(t)
	e.checkNoRotationLeftOff(t)
}

// settle waits until every invocation of the FC twin has ended.
func settle(t *testing.T, ctx context.Context, srv *fctwin.Server) {
	t.Helper()
	for {
		busy := false
		for _, i := range srv.Invocations() {
			busy = busy || !i.Final()
		}
		if !busy {
			return
		}
		select {
		case <-ctx.Done():
			require.Failf(t, "invocations did not settle", "%v", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}
