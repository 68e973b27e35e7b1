package wiring

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/aliyun/fcruntime"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/audit"
)

// reserve is kept from the invocation's deadline to record state and flush
// the audit trail before Function Compute stops the instance.
const reserve = 15 * time.Second

// Invoke runs one invocation of a function: it opens the invocation's
// audit scope, fails at once on a bad configuration (cfgErr), bounds the work by the
// deadline (keeping reserve), wires the adapters, runs step (a panic
// becomes the invocation's error), raises a function-error alert on
// failure (through the observer's sinks when nothing could be wired), and
// flushes the audit trail, whose counters go in the result. The error and
// the result it returns (Function Compute logs them and hands them to the
// asynchronous destinations) are scrubbed by the observer's Guard: the
// result's text fields as a stored payload's are (scrubResult).
func Invoke[R any, PR Audited[R]](ctx context.Context, obs *Observer, cfg app.Config, cfgErr error, inv fcruntime.Invocation, function string,
	step func(ctx context.Context, d *Deps) (R, error)) (res R, err error) {
	defer func() {
		err = obs.guard.ScrubError(err)
		res = scrubResult(obs.guard, res)
	}()
	ctx, logger := obs.Begin(ctx, inv, function)
	defer func() { PR(&res).SetAudit(obs.End(ctx, inv)) }()
	start := time.Now()
	logger.Log(ctx, audit.Record{Action: "Invoke", Outcome: "started"})
	var d *Deps
	err = cfgErr
	if err == nil {
		wctx, cancel := inv.Bounded(ctx, reserve)
		defer cancel()
		if d, err = wire(wctx, cfg, inv, logger, obs.guard); err == nil {
			res, err = protect(wctx, d, step, obs.stderr)
		}
	}
	r := audit.Record{Action: "Invoke", Outcome: "completed", DurationMS: time.Since(start).Milliseconds()}
	if err != nil {
		r.Level, r.Outcome, r.Message = audit.LevelError, "failed", err.Error()
		a := alert.FunctionError(function, inv.RequestID, err)
		switch {
		case app.IsEventError(err):
			// A refused event is the caller's: returned and recorded,
			// never paged (see app.EventError).
		case d != nil:
			_ = d.Alerter.Alert(ctx, a)
		default:
			// Nothing was wired (a refused configuration, an unreachable
			// store, no credentials): the alert goes through the
			// observer's own sinks, de-duplicated in memory.
			_ = obs.Alert(ctx, a)
		}
	}
	logger.Log(ctx, r)
	return res, err
}

// protect runs step, turning a panic into an error (its stack goes to
// stderr, the function's log) so that the invocation still records its
// end, alerts and flushes its trail.
func protect[R any](ctx context.Context, d *Deps, step func(ctx context.Context, d *Deps) (R, error), stderr io.Writer) (res R, err error) {
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(stderr, "kmsmig: panic: %v\n%s", p, debug.Stack())
			err = fmt.Errorf("internal error (panic): %v", p)
		}
	}()
	return step(ctx, d)
}

// scrubResult returns res with the text fields of its JSON form scrubbed
// (audit.Guard.ScrubStored), or res itself when nothing needs it. Function
// Compute sends the JSON form on, so a result that does not survive the
// round trip is returned as it is.
func scrubResult[R any](g *audit.Guard, res R) R {
	b, err := json.Marshal(res)
	if err != nil {
		return res
	}
	out, changed := g.ScrubStored("result.json", b)
	if !changed {
		return res
	}
	var clean R
	if json.Unmarshal(out, &clean) != nil {
		return res
	}
	return clean
}
