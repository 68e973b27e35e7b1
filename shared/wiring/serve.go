package wiring

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kmsmig/kmsmig/shared/aliyun/fcruntime"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/audit"
)

// UseCase is what a function does with one event, given the adapters of
// the invocation.
type UseCase[E, R any] func(ctx context.Context, d *Deps, e E) (R, error)

// Audited is a use case's result, which carries the invocation's audit
// counters.
type Audited[R any] interface {
	*R
	SetAudit(audit.Stats)
}

// The four functions' use cases.
var (
	// Discover inventories, classifies and plans (shared/app.Discoverer).
	Discover UseCase[app.DiscoverEvent, app.DiscoverResult] = func(ctx context.Context, d *Deps, e app.DiscoverEvent) (app.DiscoverResult, error) {
		return d.Discoverer().Handle(ctx, e)
	}
	// Migrate prepares and submits the next batch of each lane.
	// An OSS event of its trigger on approvals prompts it to read the store.
	Migrate UseCase[app.MigrateEvent, app.StepResult] = func(ctx context.Context, d *Deps, e app.MigrateEvent) (app.StepResult, error) {
		x, err := d.Executor()
		if err != nil {
			return app.StepResult{}, err
		}
		return x.MigrateOn(ctx, e)
	}
	// Poll follows the tasks and chains rotate and migrate.
	Poll UseCase[app.StepEvent, app.StepResult] = func(ctx context.Context, d *Deps, e app.StepEvent) (app.StepResult, error) {
		x, err := d.Executor()
		if err != nil {
			return app.StepResult{}, err
		}
		return x.Poll(ctx, e)
	}
	// Rotate switches rotation off and back, sweeps, and raises the other
	// functions' asynchronous failures as alerts.
	Rotate UseCase[app.RotateEvent, app.StepResult] = func(ctx context.Context, d *Deps, e app.RotateEvent) (app.StepResult, error) {
		x, err := d.Executor()
		if err != nil {
			return app.StepResult{}, err
		}
		return x.Rotate(ctx, e)
	}
)

// Serve runs function's use case under the Function Compute runtime, with
// the configuration of the process environment. It does not return.
func Serve[E, R any, PR Audited[R]](function string, uc UseCase[E, R]) {
	fcruntime.Serve(Handler[E, R, PR](function, uc, os.Getenv, os.Stdout, os.Stderr))
}

// Handler returns the typed handler of function: the configuration is read
// once through getenv (a bad one fails every invocation with one error
// naming every bad setting, instead of crash-looping the instance), and
// the audit trail goes to stdout unless SLS is configured or known.
//
// A refused configuration is written once to stderr (the function's log)
// as one ERROR line naming every bad setting, scrubbed of the configured
// secrets; the alert path is then configured on its own
// (app.LoadAlertConfig), so that each invocation still records its
// failure and raises the function-error alert.
func Handler[E, R any, PR Audited[R]](function string, uc UseCase[E, R], getenv func(string) string, stdout, stderr io.Writer) func(context.Context, E) (R, error) {
	cfg, cfgErr := app.LoadConfig(getenv)
	obsCfg := cfg
	if cfgErr != nil {
		alertCfg, alertErr := app.LoadAlertConfig(getenv)
		obsCfg = alertCfg
		line := fmt.Sprintf("kmsmig: ERROR: %s: configuration refused, every invocation fails until it is fixed: %s", function, oneLine(cfgErr))
		if alertErr != nil {
			line += " (alerts go to stdout only)"
		}
		line, _ = Guard(alertCfg).Scrub(line)
		fmt.Fprintln(stderr, line)
	}
	obs := NewObserver(obsCfg, stdout)
	obs.stderr = obs.guard.Writer(stderr)
	return func(ctx context.Context, e E) (R, error) {
		return Invoke[R, PR](ctx, obs, cfg, cfgErr, fcruntime.FromContext(ctx), function,
			func(ctx context.Context, d *Deps) (R, error) { return uc(ctx, d, e) })
	}
}

// oneLine joins the lines of err's text with "; ".
func oneLine(err error) string {
	return strings.Join(strings.Split(strings.TrimSpace(err.Error()), "\n"), "; ")
}
