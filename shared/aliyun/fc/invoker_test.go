package fc_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/credentials-go/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/fc"
	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/twin/acs"
	fctwin "github.com/kmsmig/kmsmig/twin/fc"
)

const (
	account = "1234567890123456"
	region  = "cn-hangzhou"
)

// startFC starts the FC twin with one in-process function, "rotate", that
// records its events, and returns it with its address and the account's
// access key.
func startFC(t *testing.T) (*fctwin.Server, string, acs.Credential, func() [][]byte) {
	t.Helper()
	keys := acs.NewKeyring()
	root, err := keys.AddAccount(account, "", "")
	require.NoError(t, err)
	s := fctwin.New(fctwin.Config{Keyring: keys, Verifier: acs.NewVerifier(keys, acs.VerifierOptions{}), Region: region, AccountID: account})
	t.Cleanup(func() { _ = s.Close() })
	var mu sync.Mutex
	var events [][]byte
	require.NoError(t, s.HandleFunc("rotate", func(_ context.Context, event []byte) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, event)
		return []byte(`{}`), nil
	}))
	addr, err := s.Listen("127.0.0.1:0")
	require.NoError(t, err)
	return s, addr, root, func() [][]byte {
		mu.Lock()
		defer mu.Unlock()
		return append([][]byte(nil), events...)
	}
}

func credential(t *testing.T, c acs.Credential) credentials.Credential {
	t.Helper()
	typ := "access_key"
	cred, err := credentials.NewCredential(&credentials.Config{Type: &typ, AccessKeyId: &c.AccessKeyID, AccessKeySecret: &c.AccessKeySecret})
	require.NoError(t, err)
	return cred
}

func TestInvokeAsyncOncePerTaskID(t *testing.T) {
	s, addr, root, events := startFC(t)
	inv, err := fc.New(fc.Config{Endpoint: addr, Region: region, Insecure: true, Credential: credential(t, root)})
	require.NoError(t, err)
	ctx := t.Context()

	payload := []byte(`{"runId":"r1","batchId":"111/cn-hangzhou/b0001"}`)
	for range 3 {
		require.NoError(t, inv.InvokeAsync(ctx, "rotate", payload, "kmsmig_r1_b0001_restore"))
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, err := s.WaitFor(wctx, func(i fctwin.Invocation) bool { return i.TaskID == "kmsmig_r1_b0001_restore" && i.Final() })
	require.NoError(t, err)
	assert.Equal(t, fctwin.StatusSucceeded, got.Status)
	assert.Equal(t, fctwin.SourceAPI, got.Source)
	assert.Equal(t, fctwin.TypeAsync, got.Type)

	n := 0
	for _, i := range s.Invocations() {
		if i.Function == "rotate" {
			n++
		}
	}
	assert.Equal(t, 1, n, "one invocation for one task id")
	require.Len(t, events(), 1)
	assert.JSONEq(t, string(payload), string(events()[0]))

	// Without a task id every call is an invocation.
	require.NoError(t, inv.InvokeAsync(ctx, "rotate", []byte(`{}`), ""))
	require.NoError(t, inv.InvokeAsync(ctx, "rotate", []byte(`{}`), ""))
	_, err = s.WaitFor(wctx, func(fctwin.Invocation) bool { return len(events()) == 3 })
	require.NoError(t, err)
}

func TestInvokeAsyncRefusals(t *testing.T) {
	_, addr, root, _ := startFC(t)
	ctx := t.Context()
	tests := []struct {
		name string
		cred acs.Credential
		fn   string
		task string
		kind error
	}{
		{"unknown function", root, "nosuch", "t1", cloud.ErrNotFound},
		{"wrong secret", acs.Credential{AccessKeyID: root.AccessKeyID, AccessKeySecret: "wrong"}, "rotate", "t2", cloud.ErrDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := fc.New(fc.Config{Endpoint: addr, Region: region, Insecure: true, Credential: credential(t, tt.cred), MaxAttempts: 1})
			require.NoError(t, err)
			err = inv.InvokeAsync(ctx, tt.fn, []byte(`{}`), tt.task)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.kind)
			assert.False(t, cloud.Retryable(err))
		})
	}
	t.Run("bad task id", func(t *testing.T) {
		inv, err := fc.New(fc.Config{Endpoint: addr, Region: region, Insecure: true, Credential: credential(t, root)})
		require.NoError(t, err)
		err = inv.InvokeAsync(ctx, "rotate", []byte(`{}`), "9 lives")
		require.Error(t, err)
		assert.Equal(t, "InvalidArgument", cloud.Code(err))
	})
	t.Run("payload too large", func(t *testing.T) {
		inv, err := fc.New(fc.Config{Endpoint: addr, Region: region, Insecure: true, Credential: credential(t, root)})
		require.NoError(t, err)
		err = inv.InvokeAsync(ctx, "rotate", make([]byte, fc.MaxAsyncPayload+1), "")
		require.ErrorContains(t, err, "asynchronous limit")
	})
}

func TestConfig(t *testing.T) {
	_, err := fc.New(fc.Config{Account: account, Region: region})
	require.ErrorContains(t, err, "Credential")
	cred := credential(t, acs.Credential{AccessKeyID: "LTAIx", AccessKeySecret: "y"})
	_, err = fc.New(fc.Config{Credential: cred})
	require.ErrorContains(t, err, "Endpoint")
	_, err = fc.New(fc.Config{Credential: cred, Account: account, Region: region})
	require.NoError(t, err)
}
