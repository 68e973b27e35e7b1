// Command discover is the discover function of the KMS 1.0 → 3.0
// migration, served by the Function Compute Go runtime: it inventories
// every configured account and region, classifies every key and secret,
// plans the batches and stores it all in the run-state store. It only
// wires configuration and adapters; the logic lives in shared/.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/aliyun/fcruntime"
	"github.com/kmsmig/kmsmig/shared/app"
)

func main() {
	// A bad configuration fails every invocation with one error naming
	// every bad setting, instead of crash-looping the instance.
	cfg, cfgErr := app.LoadConfig(os.Getenv)
	obs := app.NewObserver(cfg, os.Stdout)
	fcruntime.Serve(func(ctx context.Context, e app.DiscoverEvent) (res app.DiscoverResult, err error) {
		if cfgErr != nil {
			return app.DiscoverResult{}, cfgErr
		}
		inv := fcruntime.Invocation(ctx)
		ctx, logger := obs.Begin(ctx, inv, "discover")
		defer func() {
			stats := obs.End(ctx, inv)
			res.Audit = &stats
		}()
		ctx, cancel := inv.Bounded(ctx, 15*time.Second)
		defer cancel()
		creds, err := inv.Credentials(cfg)
		if err != nil {
			return app.DiscoverResult{}, err
		}
		kmsClient, err := app.NewKMS(cfg, creds)
		if err != nil {
			return app.DiscoverResult{}, err
		}
		store, err := app.OpenStore(ctx, cfg, creds.Base, inv.Region)
		if err != nil {
			return app.DiscoverResult{}, fmt.Errorf("open run-state store: %w", err)
		}
		alerter := cfg.Alerter(logger, store)
		check := func(account string) error { _, err := creds.For(account); return err }
		d := &app.Discoverer{Config: cfg, Source: kmsClient, Store: store, Account: inv.AccountID, Region: inv.Region, CheckAccount: check,
			Audit: logger, Alerts: alerter, Reports: app.RenderReports}
		res, err = d.Handle(ctx, e)
		if err != nil {
			_ = alerter.Alert(ctx, alert.FunctionError("discover", inv.RequestID, err))
		}
		return res, err
	})
}
