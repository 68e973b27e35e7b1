package fcruntime_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/fcruntime"
)

type event struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

type result struct {
	Greeting string `json:"greeting"`
	Count    int    `json:"count"`
	Request  string `json:"request,omitempty"`
}

var errRefused = errors.New("refused")

// greet is a typed handler as the functions write them; it answers with
// the request id it finds in ctx, to show ctx reaches it.
func greet(ctx context.Context, e event) (result, error) {
	if e.Name == "refuse" {
		return result{}, errRefused
	}
	return result{Greeting: "hello " + e.Name, Count: e.Count, Request: fcruntime.FromContext(ctx).RequestID}, nil
}

func TestHandler(t *testing.T) {
	tests := []struct {
		name    string
		handler func(context.Context, event) (result, error)
		ctx     context.Context
		payload string
		want    string // JSON result, when no error is expected
		wantErr string // substring of the error
		wantIs  error
	}{
		{name: "decodes the event and encodes the result", handler: greet, ctx: t.Context(),
			payload: `{"name":"lane","count":3}`, want: `{"greeting":"hello lane","count":3}`},
		{name: "ctx reaches the handler", handler: greet,
			ctx:     fccontext.NewContext(t.Context(), &fccontext.FcContext{RequestID: "req-1"}),
			payload: `{"name":"x"}`, want: `{"greeting":"hello x","count":0,"request":"req-1"}`},
		{name: "an unknown field is an error naming it", handler: greet, ctx: t.Context(),
			payload: `{"name":"lane","cuont":3}`, wantErr: `unknown field "cuont"`},
		{name: "malformed JSON is an error", handler: greet, ctx: t.Context(),
			payload: `{"name":`, wantErr: "unexpected EOF"},
		{name: "a wrongly typed field is an error", handler: greet, ctx: t.Context(),
			payload: `{"count":"three"}`, wantErr: "cannot unmarshal string"},
		{name: "the handler's error is returned", handler: greet, ctx: t.Context(),
			payload: `{"name":"refuse"}`, wantErr: "refused", wantIs: errRefused},
		{name: "a field name in another case is an error naming it", handler: greet, ctx: t.Context(),
			payload: `{"NAME":"lane"}`, wantErr: `unknown field "NAME" (field names are case-sensitive: "name")`},
		{name: "trailing data is an error", handler: greet, ctx: t.Context(),
			payload: `{"name":"lane"} {}`, wantErr: "unexpected data after the JSON value"},
		{name: "an empty event is an error", handler: greet, ctx: t.Context(),
			payload: ``, wantErr: "empty event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fcruntime.Handler(tt.handler)
			got, err := h.Invoke(tt.ctx, []byte(tt.payload))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				if tt.wantIs != nil {
					require.ErrorIs(t, err, tt.wantIs)
				}
				require.Nil(t, got)
				return
			}
			require.NoError(t, err)
			require.JSONEq(t, tt.want, string(got))
		})
	}
}

// fc-runtime-go-sdk v0.3.1 only serves a func value (see the package doc).
func TestHandlerIsAFunc(t *testing.T) {
	require.Equal(t, reflect.Func, reflect.TypeOf(fcruntime.Handler(greet)).Kind())
}

func fcContext() *fccontext.FcContext {
	return &fccontext.FcContext{
		RequestID:   "req-1",
		Credentials: fccontext.Credentials{AccessKeyId: "STS.id", AccessKeySecret: "sts-secret", SecurityToken: "token"},
		Function:    fccontext.Function{Name: "migrate", Timeout: 600},
		Service:     fccontext.Service{Name: "kmsmig", LogProject: "kmsmig-logs", LogStore: "audit"},
		Region:      "cn-hangzhou",
		AccountId:   "1234567890",
		RetryCount:  2,
	}
}

func TestInvocation(t *testing.T) {
	t.Run("everything the runtime passed", func(t *testing.T) {
		deadline := time.Date(2025, 3, 30, 1, 10, 0, 0, time.UTC)
		ctx, cancel := context.WithDeadline(fccontext.NewContext(t.Context(), fcContext()), deadline)
		defer cancel()
		inv := fcruntime.FromContext(ctx)
		require.Equal(t, "req-1", inv.RequestID)
		require.Equal(t, "migrate", inv.Function)
		require.Equal(t, "1234567890", inv.AccountID)
		require.Equal(t, "cn-hangzhou", inv.Region)
		require.Equal(t, "STS.id", inv.AccessKeyID)
		require.Equal(t, "sts-secret", inv.AccessKeySecret)
		require.Equal(t, "token", inv.SecurityToken)
		require.Equal(t, "kmsmig-logs", inv.LogProject)
		require.Equal(t, "audit", inv.LogStore)
		require.Equal(t, 2, inv.RetryCount)
		require.True(t, deadline.Equal(inv.Deadline), "the context's deadline wins: %v", inv.Deadline)
	})
	t.Run("deadline from the function timeout", func(t *testing.T) {
		before := time.Now()
		inv := fcruntime.FromContext(fccontext.NewContext(t.Context(), fcContext()))
		after := time.Now()
		require.False(t, inv.Deadline.Before(before.Add(600*time.Second)), "deadline %v", inv.Deadline)
		require.False(t, inv.Deadline.After(after.Add(600*time.Second)), "deadline %v", inv.Deadline)
	})
	t.Run("no deadline without a timeout", func(t *testing.T) {
		c := fcContext()
		c.Function.Timeout = 0
		inv := fcruntime.FromContext(fccontext.NewContext(t.Context(), c))
		require.Equal(t, "req-1", inv.RequestID)
		require.True(t, inv.Deadline.IsZero())
	})
	t.Run("zero outside Function Compute", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		require.Zero(t, fcruntime.FromContext(ctx))
	})
}
