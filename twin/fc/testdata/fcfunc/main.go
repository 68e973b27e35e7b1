// Command fcfunc is the FC twin's test function: a handler served by
// fc-runtime-go-sdk whose behaviour the event chooses.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
	"github.com/aws/aws-lambda-go/lambda"
)

type event struct {
	Op       string   `json:"op"`      // echo, context, fail, failUntil, panic, exit, sleep, alloc
	AllocMB  int      `json:"allocMb"` // alloc: touch this many MiB, then give them back to the OS
	Message  string   `json:"message"`
	SleepMS  int      `json:"sleepMs"`
	Attempts int      `json:"attempts"` // failUntil: succeed from this retry count on
	Env      []string `json:"env"`      // context: variables to report
	// A timer trigger's event.
	TriggerTime string `json:"triggerTime"`
	TriggerName string `json:"triggerName"`
	Payload     string `json:"payload"`
}

type reply struct {
	Op          string               `json:"op"`
	Message     string               `json:"message,omitempty"`
	PID         int                  `json:"pid"`
	Context     *fccontext.FcContext `json:"context,omitempty"`
	DeadlineMS  int64                `json:"deadlineMs,omitempty"`
	Env         map[string]string    `json:"env,omitempty"`
	TriggerName string               `json:"triggerName,omitempty"`
	TriggerTime string               `json:"triggerTime,omitempty"`
	// StartedNS and EndedNS bound the handler's run (Unix nanoseconds), so
	// that a test can see which invocations overlapped.
	StartedNS int64 `json:"startedNs"`
	EndedNS   int64 `json:"endedNs"`
}

func handle(ctx context.Context, ev event) (reply, error) {
	fmt.Println("handling", ev.Op, ev.Message)
	r := reply{Op: ev.Op, Message: ev.Message, PID: os.Getpid(), TriggerName: ev.TriggerName, TriggerTime: ev.TriggerTime, StartedNS: time.Now().UnixNano()}
	fcc, _ := fccontext.FromContext(ctx)
	switch ev.Op {
	case "", "echo":
	case "context":
		r.Context = fcc
		if d, ok := ctx.Deadline(); ok {
			r.DeadlineMS = d.UnixMilli()
		}
		r.Env = map[string]string{}
		for _, k := range ev.Env {
			if v, ok := os.LookupEnv(k); ok {
				r.Env[k] = v
			}
		}
	case "fail":
		return r, errors.New(ev.Message)
	case "failUntil":
		if fcc.RetryCount < ev.Attempts {
			return r, fmt.Errorf("retry %d < %d", fcc.RetryCount, ev.Attempts)
		}
	case "panic":
		panic(ev.Message)
	case "exit":
		fmt.Fprintln(os.Stderr, "exiting on request")
		os.Exit(3)
	case "sleep":
		time.Sleep(time.Duration(ev.SleepMS) * time.Millisecond)
	case "alloc":
		b := make([]byte, ev.AllocMB<<20)
		for i := range b {
			b[i] = 1
		}
		time.Sleep(time.Duration(ev.SleepMS) * time.Millisecond)
		runtime.KeepAlive(b)
		b = nil
		debug.FreeOSMemory()
	default:
		return r, fmt.Errorf("unknown op %q", ev.Op)
	}
	r.EndedNS = time.Now().UnixNano()
	return r, nil
}

// invoker lets fc.StartHandler serve a lambda.Handler. Passing the
// lambda.Handler itself type-checks, but fc-runtime-go-sdk v0.3.1 reflects on
// the value it is given, accepts only a func (every invocation otherwise
// fails with "handler kind ptr is not func"), and JSON-encodes the func's
// first result: so a func type, returning json.RawMessage.
type invoker func(context.Context, []byte) (json.RawMessage, error)

// Invoke makes invoker an fc.Handler.
func (f invoker) Invoke(ctx context.Context, payload []byte) ([]byte, error) { return f(ctx, payload) }

func main() {
	h := lambda.NewHandlerWithOptions(handle, lambda.WithDisallowUnknownFields(true))
	if os.Getenv("FCFUNC_WIRING") == "direct" {
		// The wiring the SDKs' types suggest; kept to show that it fails.
		fc.StartHandler(h)
	}
	fc.StartHandler(invoker(func(ctx context.Context, payload []byte) (json.RawMessage, error) {
		return h.Invoke(ctx, payload)
	}))
}
