// Command discover is the discover function of the KMS 1.0 → 3.0
// migration, served by the Function Compute Go runtime: it inventories
// every configured account and region, classifies every key and secret,
// plans the batches and stores it all in the run-state store. It only
// wires configuration and adapters; the logic lives in shared/.
package main

import (
	"context"
	"os"

	"github.com/kmsmig/kmsmig/shared/aliyun/fcruntime"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/audit"
)

func main() {
	// A bad configuration fails every invocation with one error naming
	// every bad setting, instead of crash-looping the instance.
	cfg, cfgErr := app.LoadConfig(os.Getenv)
	obs := app.NewObserver(cfg, os.Stdout)
	fcruntime.Serve(func(ctx context.Context, e app.DiscoverEvent) (app.DiscoverResult, error) {
		return app.Invoke(ctx, obs, cfg, cfgErr, fcruntime.Invocation(ctx), "discover",
			func(ctx context.Context, d *app.Deps) (app.DiscoverResult, error) {
				return d.Discoverer().Handle(ctx, e)
			},
			func(r *app.DiscoverResult, s audit.Stats) { r.Audit = &s })
	})
}
