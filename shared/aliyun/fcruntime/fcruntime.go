package fcruntime

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/kmsmig/kmsmig/shared/eventjson"
)

// invoker is the func fc.StartHandler serves (see the package doc).
type invoker func(context.Context, []byte) (json.RawMessage, error)

// Invoke makes invoker an fc.Handler.
func (f invoker) Invoke(ctx context.Context, payload []byte) ([]byte, error) { return f(ctx, payload) }

// Handler returns the fc.Handler serving a typed handler through
// aws-lambda-go's typed handler adapter (the project's chosen one; its
// Handler interface is the FC loop's). Events are decoded by
// eventjson.Decode (exactly one JSON value, field names matched exactly, an
// unknown or repeated field an error naming it, unless the event type is
// eventjson.Lenient for that event): the whole payload is checked before
// the adapter sees it, because the adapter's own decoder reads the first
// JSON value and ignores what follows. Results are encoded by the adapter
// as JSON.
func Handler[E, R any](typed func(context.Context, E) (R, error)) fc.Handler {
	h := lambda.NewHandlerWithOptions(func(ctx context.Context, raw json.RawMessage) (R, error) {
		var e E
		if err := eventjson.Decode(raw, &e); err != nil {
			var zero R
			return zero, err
		}
		return typed(ctx, e)
	}, lambda.WithSetEscapeHTML(false))
	return invoker(func(ctx context.Context, payload []byte) (json.RawMessage, error) {
		var e E
		if err := eventjson.Decode(payload, &e); err != nil {
			return nil, err
		}
		return h.Invoke(ctx, payload)
	})
}

// Serve runs the Function Compute runtime loop with a typed handler. It
// does not return.
func Serve[E, R any](typed func(context.Context, E) (R, error)) { fc.StartHandler(Handler(typed)) }

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
