package fcruntime

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
	"github.com/aws/aws-lambda-go/lambda"
)

// invoker lets fc.StartHandler serve a lambda.Handler (see the package
// doc).
type invoker func(context.Context, []byte) (json.RawMessage, error)

// Invoke makes invoker an fc.Handler.
func (f invoker) Invoke(ctx context.Context, payload []byte) ([]byte, error) { return f(ctx, payload) }

// Handler returns the fc.Handler serving a typed handler
// func(context.Context, Event) (Result, error): events are decoded
// strictly (an unknown field is an error naming it) and results encoded
// as JSON.
func Handler(typed any) fc.Handler {
	h := lambda.NewHandlerWithOptions(typed, lambda.WithDisallowUnknownFields(true))
	return invoker(func(ctx context.Context, payload []byte) (json.RawMessage, error) {
		return h.Invoke(ctx, payload)
	})
}

// Serve runs the Function Compute runtime loop with a typed handler. It
// does not return.
func Serve(typed any) { fc.StartHandler(Handler(typed)) }

// FromContext reads what Function Compute passed with this invocation.
// Outside Function Compute (no runtime context) it returns the zero
// Invocation.
func FromContext(ctx context.Context) Invocation {
	fcc, ok := fccontext.FromContext(ctx)
	if !ok || fcc == nil {
		return Invocation{}
	}
	inv := Invocation{
		RequestID:       fcc.RequestID,
		Function:        fcc.Function.Name,
		AccountID:       fcc.AccountId,
		Region:          fcc.Region,
		AccessKeyID:     fcc.Credentials.AccessKeyId,
		AccessKeySecret: fcc.Credentials.AccessKeySecret,
		SecurityToken:   fcc.Credentials.SecurityToken,
		LogProject:      fcc.Service.LogProject,
		LogStore:        fcc.Service.LogStore,
		RetryCount:      fcc.RetryCount,
	}
	if d, ok := ctx.Deadline(); ok {
		inv.Deadline = d
	} else if fcc.Function.Timeout > 0 {
		inv.Deadline = time.Now().Add(time.Duration(fcc.Function.Timeout) * time.Second)
	}
	return inv
}
