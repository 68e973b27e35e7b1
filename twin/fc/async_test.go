package fc_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/fc"
)

func nop(context.Context, []byte) ([]byte, error) { return []byte(`{}`), nil }

// sink is an in-process destination that keeps what it receives.
type sink struct {
	mu     sync.Mutex
	events []fc.DestinationEvent
}

func (s *sink) handle(_ context.Context, b []byte) ([]byte, error) {
	var ev fc.DestinationEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()
	return nil, nil
}

func (s *sink) got() []fc.DestinationEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]fc.DestinationEvent(nil), s.events...)
}

// fastClock makes a second of back-off a millisecond.
func fastClock() *fc.Clock { return fc.NewClock(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), 1000) }

func TestAsyncRetriesThenOnFailure(t *testing.T) {
	s, _ := newServer(t, fc.Config{Clock: fastClock()})
	dlq := &sink{}
	require.NoError(t, s.HandleFunc("dlq", dlq.handle))
	fn := binaryFunction("asyncfn")
	fn.AsyncInvokeConfig = fc.AsyncInvokeConfig{
		MaxAsyncRetryAttempts: fc.Retries(2),
		OnFailure:             fc.FunctionARN(testRegion, testAccount, "dlq"),
	}
	require.NoError(t, s.Deploy(fn))

	ev := event(t, map[string]any{"op": "fail", "message": "still broken"})
	id, err := s.InvokeAsync(t.Context(), "asyncfn", ev, "")
	require.NoError(t, err)
	inv, err := s.Wait(waitCtx(t), id)
	require.NoError(t, err)
	assert.Equal(t, fc.StatusFailed, inv.Status)
	assert.Equal(t, 3, inv.Attempts, "1 + MaxAsyncRetryAttempts")
	assert.Equal(t, "errorString", inv.ErrorType)
	require.NotEmpty(t, inv.Destination, "destination error: %s", inv.DestinationError)

	dest, err := s.Wait(waitCtx(t), inv.Destination)
	require.NoError(t, err)
	assert.Equal(t, fc.StatusSucceeded, dest.Status)
	assert.Equal(t, fc.SourceDestination, dest.Source)
	got := dlq.got()
	require.Len(t, got, 1)
	d := got[0]
	assert.Equal(t, id, d.RequestContext.RequestID)
	assert.Equal(t, "acs:fc:cn-hangzhou:"+testAccount+":functions/asyncfn", d.RequestContext.FunctionArn)
	assert.Equal(t, "UnhandledInvocationError", d.RequestContext.Condition)
	assert.Equal(t, 3, d.RequestContext.ApproximateInvokeCount)
	assert.Equal(t, string(ev), d.RequestPayload)
	assert.Equal(t, "errorString", d.ResponseContext.FunctionError)
	assert.JSONEq(t, `{"errorMessage":"still broken","errorType":"errorString"}`, d.ResponsePayload)
}

func TestAsyncRetrySucceedsThenOnSuccess(t *testing.T) {
	s, _ := newServer(t, fc.Config{Clock: fastClock()})
	done := &sink{}
	require.NoError(t, s.HandleFunc("done", done.handle))
	fn := binaryFunction("flaky")
	fn.AsyncInvokeConfig.OnSuccess = fc.FunctionARN(testRegion, testAccount, "done")
	require.NoError(t, s.Deploy(fn)) // default: 3 retries

	// The function fails until x-fc-retry-count reaches 2.
	id, err := s.InvokeAsync(t.Context(), "flaky", event(t, map[string]any{"op": "failUntil", "attempts": 2}), "")
	require.NoError(t, err)
	inv, err := s.Wait(waitCtx(t), id)
	require.NoError(t, err)
	assert.Equal(t, fc.StatusSucceeded, inv.Status)
	assert.Equal(t, 3, inv.Attempts)
	_, err = s.Wait(waitCtx(t), inv.Destination)
	require.NoError(t, err)
	got := done.got()
	require.Len(t, got, 1)
	assert.Equal(t, "Success", got[0].RequestContext.Condition)
	assert.Equal(t, 200, got[0].ResponseContext.StatusCode)
	assert.Contains(t, got[0].ResponsePayload, `"op":"failUntil"`)
}

func TestAsyncTaskIDIsAcceptedOnce(t *testing.T) {
	s, _ := newServer(t, fc.Config{})
	require.NoError(t, s.HandleFunc("once", nop))
	id, err := s.InvokeAsync(t.Context(), "once", []byte(`{}`), "task-1")
	require.NoError(t, err)
	_, err = s.InvokeAsync(t.Context(), "once", []byte(`{}`), "task-1")
	require.ErrorIs(t, err, fc.ErrTaskExists)
	_, err = s.Wait(waitCtx(t), id)
	require.NoError(t, err)

	var n int
	for _, inv := range s.Invocations() {
		if inv.TaskID == "task-1" {
			n++
			assert.Equal(t, fc.TypeAsync, inv.Type)
			assert.Equal(t, 1, inv.Attempts)
		}
	}
	assert.Equal(t, 1, n)

	// Another function may reuse the id.
	require.NoError(t, s.HandleFunc("other", nop))
	_, err = s.InvokeAsync(t.Context(), "other", []byte(`{}`), "task-1")
	require.NoError(t, err)

	_, err = s.InvokeAsync(t.Context(), "once", make([]byte, fc.MaxAsyncPayload+1), "")
	require.ErrorIs(t, err, fc.ErrPayloadTooLarge)
}

func TestInProcessHandler(t *testing.T) {
	s, keys := newServer(t, fc.Config{})
	var seen *fccontext.FcContext
	require.NoError(t, s.Deploy(fc.Function{
		Name: "inproc", Role: testRole, Timeout: 200 * time.Millisecond,
		Handler: func(ctx context.Context, ev []byte) ([]byte, error) {
			switch string(ev) {
			case "hi":
				seen, _ = fccontext.FromContext(ctx)
			case "panic":
				panic(errors.New("kaput"))
			case "fail":
				return nil, errors.New("nope")
			case "hang":
				<-ctx.Done()
				return nil, ctx.Err()
			}
			return append([]byte("echo:"), ev...), nil
		},
	}))

	res, err := s.Invoke(t.Context(), "inproc", []byte("hi"))
	require.NoError(t, err)
	require.Nil(t, res.Error)
	assert.Equal(t, "echo:hi", string(res.Payload))
	require.NotNil(t, seen)
	assert.Equal(t, res.RequestID, seen.RequestID)
	assert.Equal(t, testRegion, seen.Region)
	_, ok := keys.Lookup(seen.Credentials.AccessKeyId)
	assert.True(t, ok)

	for ev, want := range map[string]string{"panic": "errorString", "fail": "errorString", "hang": fc.ErrorTypeTimeout} {
		res, err := s.Invoke(t.Context(), "inproc", []byte(ev))
		require.NoError(t, err)
		require.NotNil(t, res.Error, ev)
		assert.Equal(t, want, res.Error.Type, ev)
	}
}

func TestDestinationEventGolden(t *testing.T) {
	golden := readTestdata(t, "destination_event.json")
	var ev fc.DestinationEvent
	require.NoError(t, json.Unmarshal(golden, &ev))
	out, err := json.Marshal(ev)
	require.NoError(t, err)
	assert.JSONEq(t, string(golden), string(out))
}
