package fcruntime

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/kmsmig/kmsmig/shared/eventjson"
)

// invoker is the func fc.StartHandler serves (see the package doc).
type invoker func(context.Context, []byte) (json.RawMessage, error)

// Invoke makes invoker an fc.Handler.
func (f invoker) Invoke(ctx context.Context, payload []byte) ([]byte, error) { return f(ctx, payload) }

// Handler returns the fc.Handler serving a typed handler: events are
// decoded by eventjson.Decode (exactly one JSON value, field names matched
// exactly, an unknown or repeated field an error naming it, unless the
// event type is eventjson.Lenient for that event) and results encoded as
// JSON.
func Handler[E, R any](typed func(context.Context, E) (R, error)) fc.Handler {
	return invoker(func(ctx context.Context, payload []byte) (json.RawMessage, error) {
		var e E
		if err := eventjson.Decode(payload, &e); err != nil {
			return nil, err
		}
		res, err := typed(ctx, e)
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(res); err != nil {
			return nil, err
		}
		return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
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
