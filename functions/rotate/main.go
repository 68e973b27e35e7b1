// Command rotate is the rotate function of the KMS 1.0 → 3.0 migration,
// served by the Function Compute Go runtime: it switches automatic
// rotation off before a batch moves, gives it back exactly as it was
// afterwards, sweeps daily for anything left off, and turns the other
// functions' asynchronous failures into alerts. It only wires
// configuration and adapters; the logic lives in shared/migration and
// shared/app.
package main

import (
	"context"
	"os"

	"github.com/kmsmig/kmsmig/shared/aliyun/fcruntime"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/audit"
)

func main() {
	cfg, cfgErr := app.LoadConfig(os.Getenv)
	obs := app.NewObserver(cfg, os.Stdout)
	fcruntime.Serve(func(ctx context.Context, e app.RotateEvent) (app.StepResult, error) {
		return app.Invoke(ctx, obs, cfg, cfgErr, fcruntime.Invocation(ctx), "rotate",
			func(ctx context.Context, d *app.Deps) (app.StepResult, error) {
				x, err := d.Executor()
				if err != nil {
					return app.StepResult{}, err
				}
				return x.Rotate(ctx, e)
			},
			func(r *app.StepResult, s audit.Stats) { r.Audit = &s })
	})
}
