package fc_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/fc"
)

func TestBinarySyncInvokeSeesContextAndOnlyItsEnvironment(t *testing.T) {
	t.Setenv("KMSMIG_PARENT_SECRET", "must-not-leak")
	s, keys := newServer(t, fc.Config{})
	require.NoError(t, s.Deploy(binaryFunction("ctxfn")))

	before := time.Now()
	res, r := invoke(t, s, "ctxfn", map[string]any{
		"op":  "context",
		"env": []string{"GREETING", "KMSMIG_PARENT_SECRET", "FC_RUNTIME_API", "HOME", "TMPDIR", "PATH", "FC_FUNCTION_NAME"},
	})
	after := time.Now()
	c := r.Context
	require.NotNil(t, c)

	assert.Equal(t, res.RequestID, c.RequestID, "x-fc-request-id")
	assert.NotEmpty(t, res.RequestID)
	assert.Equal(t, "ctxfn", c.Function.Name)
	assert.Equal(t, "main", c.Function.Handler)
	assert.Equal(t, "256", c.Function.Memory)
	assert.Equal(t, 10, c.Function.Timeout, "x-fc-function-timeout in seconds")
	assert.Equal(t, "kmsmig-logs", c.Service.LogProject)
	assert.Equal(t, "fc", c.Service.LogStore)
	assert.Equal(t, testRegion, c.Region)
	assert.Equal(t, testAccount, c.AccountId)
	assert.Equal(t, 0, c.RetryCount)

	// x-fc-function-deadline is epoch milliseconds: the SDK's context
	// deadline is the invocation start plus the timeout.
	assert.GreaterOrEqual(t, r.DeadlineMS, before.Add(10*time.Second).UnixMilli()-1)
	assert.LessOrEqual(t, r.DeadlineMS, after.Add(10*time.Second).UnixMilli())

	// STS credentials of the function's role, minted by the keyring.
	require.True(t, strings.HasPrefix(c.Credentials.AccessKeyId, "STS."), "access key %q", c.Credentials.AccessKeyId)
	cred, ok := keys.Lookup(c.Credentials.AccessKeyId)
	require.True(t, ok, "credential not in keyring")
	assert.Equal(t, testRole, cred.Role)
	assert.Equal(t, testAccount, cred.AccountID)
	assert.Equal(t, cred.AccessKeySecret, c.Credentials.AccessKeySecret)
	assert.Equal(t, cred.SecurityToken, c.Credentials.SecurityToken)

	addr, err := s.RuntimeAddr("ctxfn")
	require.NoError(t, err)
	assert.Equal(t, "hello", r.Env["GREETING"])
	assert.Equal(t, addr, r.Env["FC_RUNTIME_API"])
	assert.Equal(t, "ctxfn", r.Env["FC_FUNCTION_NAME"])
	assert.NotContains(t, r.Env, "KMSMIG_PARENT_SECRET", "parent environment leaked")
	assert.NotEmpty(t, r.Env["PATH"])
	assert.NotEqual(t, t.TempDir(), r.Env["HOME"])
	assert.Equal(t, r.Env["HOME"], r.Env["TMPDIR"])

	// A second invocation gets fresh credentials and the same process.
	_, r2 := invoke(t, s, "ctxfn", map[string]any{"op": "context"})
	assert.NotEqual(t, c.Credentials.AccessKeyId, r2.Context.Credentials.AccessKeyId)
	assert.Equal(t, r.PID, r2.PID)

	starts := s.ColdStarts("ctxfn")
	require.Len(t, starts, 1)
	assert.Positive(t, starts[0].Ready)
	assert.GreaterOrEqual(t, starts[0].FirstServed, starts[0].Ready)
	t.Logf("cold start: process start → first GET next %v, → first invocation served %v", starts[0].Ready, starts[0].FirstServed)

	// The function's output reaches the log.
	var seen bool
	for _, l := range s.Logs("ctxfn") {
		if l.Stream == "stdout" && strings.Contains(l.Text, "handling context") {
			seen = true
		}
	}
	assert.True(t, seen, "function output not captured: %v", s.Logs("ctxfn"))
}

func TestBinaryFunctionErrors(t *testing.T) {
	s, _ := newServer(t, fc.Config{})
	fn := binaryFunction("errfn")
	fn.Timeout = 300 * time.Millisecond
	require.NoError(t, s.Deploy(fn))
	_, first := invoke(t, s, "errfn", map[string]any{"op": "echo"})

	tests := []struct {
		name     string
		ev       map[string]any
		wantType string
		wantMsg  string
	}{
		{"returned error", map[string]any{"op": "fail", "message": "no quota"}, "errorString", "no quota"},
		{"panic", map[string]any{"op": "panic", "message": "boom"}, "string", "boom"},
		{"unknown field refused by the handler", map[string]any{"op": "echo", "bogus": 1}, "", "unknown field"},
		{"timeout", map[string]any{"op": "sleep", "sleepMs": 3000}, fc.ErrorTypeTimeout, "timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.Invoke(t.Context(), "errfn", event(t, tt.ev))
			require.NoError(t, err)
			require.NotNil(t, res.Error, "want a function error, got %s", res.Payload)
			if tt.wantType != "" {
				assert.Equal(t, tt.wantType, res.Error.Type)
			}
			assert.Contains(t, res.Error.Message, tt.wantMsg)
			inv, ok := s.Invocation(res.RequestID)
			require.True(t, ok)
			assert.Equal(t, fc.StatusFailed, inv.Status)
			assert.Equal(t, res.Error.Type, inv.ErrorType)
		})
	}

	// None of these took the process down.
	_, after := invoke(t, s, "errfn", map[string]any{"op": "echo"})
	assert.Equal(t, first.PID, after.PID)
	assert.Len(t, s.ColdStarts("errfn"), 1)
}

func TestBinaryCrashFailsInFlightAndRestarts(t *testing.T) {
	s, _ := newServer(t, fc.Config{})
	require.NoError(t, s.Deploy(binaryFunction("crashfn")))
	_, before := invoke(t, s, "crashfn", map[string]any{"op": "echo"})

	res, err := s.Invoke(t.Context(), "crashfn", event(t, map[string]any{"op": "exit"}))
	require.NoError(t, err)
	require.NotNil(t, res.Error)
	assert.Equal(t, fc.ErrorTypeProcessExited, res.Error.Type)

	_, after := invoke(t, s, "crashfn", map[string]any{"op": "echo"})
	assert.NotEqual(t, before.PID, after.PID, "process was not restarted")

	// Killing it from outside is the same.
	require.NoError(t, s.Kill("crashfn"))
	_, again := invoke(t, s, "crashfn", map[string]any{"op": "echo"})
	assert.NotEqual(t, after.PID, again.PID)

	starts := s.ColdStarts("crashfn")
	require.Len(t, starts, 3)
	assert.Contains(t, starts[0].Exit, "exit status 3")
	assert.NotEmpty(t, starts[1].Exit)
	assert.Empty(t, starts[2].Exit)

	var stderr bool
	for _, l := range s.Logs("crashfn") {
		stderr = stderr || (l.Stream == "stderr" && strings.Contains(l.Text, "exiting on request"))
	}
	assert.True(t, stderr, "stderr not captured")
}

func TestDeployRefusals(t *testing.T) {
	s, _ := newServer(t, fc.Config{})
	tests := []struct {
		name string
		fn   fc.Function
		want string
	}{
		{"bad name", fc.Function{Name: "1x", Handler: nop}, "function name"},
		{"neither binary nor handler", fc.Function{Name: "x"}, "exactly one"},
		{"missing binary", fc.Function{Name: "x", Binary: "/nonexistent/main"}, "binary"},
		{"retries out of range", fc.Function{Name: "x", Handler: nop, AsyncInvokeConfig: fc.AsyncInvokeConfig{MaxAsyncRetryAttempts: fc.Retries(9)}}, "0..8"},
		{"bad destination", fc.Function{Name: "x", Handler: nop, AsyncInvokeConfig: fc.AsyncInvokeConfig{OnFailure: "acs:mns:cn-hangzhou:1:/queues/q"}}, "not a function ARN"},
		{"bad cron", fc.Function{Name: "x", Handler: nop, Triggers: []fc.Timer{{Name: "t", CronExpression: "every day", Enable: true}}}, "cron"},
		{"unknown role account", fc.Function{Name: "x", Handler: nop, Role: "acs:ram::999:role/r", AccountID: "999"}, "not in the keyring"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Deploy(tt.fn)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	_, err := s.Invoke(t.Context(), "nosuch", nil)
	require.ErrorIs(t, err, fc.ErrFunctionNotFound)
}

// TestStartHandlerWithLambdaHandlerFails pins a trap of fc-runtime-go-sdk
// v0.3.1: fc.StartHandler(lambda.NewHandlerWithOptions(...)) compiles (the
// two Handler interfaces match) but the SDK accepts only a func, so every
// invocation fails. The test binary's default wiring shows the fix.
func TestStartHandlerWithLambdaHandlerFails(t *testing.T) {
	s, _ := newServer(t, fc.Config{})
	fn := binaryFunction("direct")
	fn.Env = map[string]string{"FCFUNC_WIRING": "direct"}
	require.NoError(t, s.Deploy(fn))
	res, err := s.Invoke(t.Context(), "direct", event(t, map[string]any{"op": "echo"}))
	require.NoError(t, err)
	require.NotNil(t, res.Error)
	assert.Equal(t, "handler kind ptr is not func", res.Error.Message)
}

func TestBinaryServesConcurrentInvocations(t *testing.T) {
	s, _ := newServer(t, fc.Config{})
	require.NoError(t, s.Deploy(binaryFunction("busy")))
	const n = 6
	pids := make(chan int, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			res, err := s.Invoke(t.Context(), "busy", []byte(`{"op":"sleep","sleepMs":100}`))
			if err == nil && res.Error != nil {
				err = res.Error
			}
			errs <- err
			var r reply
			_ = json.Unmarshal(res.Payload, &r)
			pids <- r.PID
		}()
	}
	seen := map[int]bool{}
	for i := 0; i < n; i++ {
		require.NoError(t, <-errs)
		seen[<-pids] = true
	}
	assert.Len(t, seen, 1, "one instance")
	assert.Len(t, s.ColdStarts("busy"), 1)
}

func TestRedeployReplacesFunction(t *testing.T) {
	s, _ := newServer(t, fc.Config{})
	require.NoError(t, s.Deploy(binaryFunction("swap")))
	invoke(t, s, "swap", map[string]any{"op": "echo"})
	require.NoError(t, s.HandleFunc("swap", func(context.Context, []byte) ([]byte, error) { return []byte(`{"op":"v2"}`), nil }))
	_, r := invoke(t, s, "swap", map[string]any{})
	assert.Equal(t, "v2", r.Op)
	_, err := s.RuntimeAddr("swap")
	assert.Error(t, err, "an in-process function has no runtime endpoint")
}
