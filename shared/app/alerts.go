package app

import (
	"context"
	"errors"
	"time"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// Alerter returns the alerter cfg configures, delivering to the webhook
// and DingTalk sinks, de-duplicated through the run-state store (so that
// every instance of every function shares one memory), with every alert
// also an ALERT record of logger. now is the clock de-duplication and the
// alerts' times read (nil: the wall clock). guard scrubs every alert before
// it is sent or recorded (heuristics only when nil); the caller registers
// the webhook URLs, the DingTalk secret and the credentials with it.
func (cfg Config) Alerter(logger audit.Logger, store runstate.Store, now func() time.Time, guard *audit.Guard) *alert.Alerter {
	var sinks []alert.Sink
	if cfg.AlertWebhook != "" {
		sinks = append(sinks, &alert.Webhook{URL: cfg.AlertWebhook})
	}
	if cfg.DingTalkWebhook != "" {
		sinks = append(sinks, &alert.DingTalk{Webhook: cfg.DingTalkWebhook, Secret: cfg.DingTalkSecret})
	}
	var dedup alert.Dedup
	if store != nil {
		dedup = StoreDedup{Store: store}
	}
	return alert.New(alert.Config{Sinks: sinks, Audit: logger, Dedup: dedup, Period: cfg.AlertPeriod, Now: now, Guard: guard})
}

// StoreDedup is alert de-duplication kept in the run-state store under
// alerts/, shared by every function instance.
type StoreDedup struct{ Store runstate.Store }

var _ alert.Dedup = StoreDedup{}

type dedupEntry struct {
	Key  string    `json:"key"`
	Sent time.Time `json:"sent"`
}

// Claim records key as sent at now unless it was sent less than period
// ago; compare-and-swap makes concurrent claims of one key yield one true.
func (d StoreDedup) Claim(ctx context.Context, key string, now time.Time, period time.Duration) (bool, error) {
	claimed := false
	_, err := runstate.MutateJSON(ctx, d.Store, statekeys.Alert(key), func(e *dedupEntry, exists bool) error {
		claimed = !exists || now.Sub(e.Sent) >= period
		if claimed {
			e.Key, e.Sent = key, now
		}
		return nil
	})
	return claimed, err
}

// Release forgets key.
func (d StoreDedup) Release(ctx context.Context, key string) error {
	obj, err := d.Store.Get(ctx, statekeys.Alert(key))
	if errors.Is(err, runstate.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	err = d.Store.Delete(ctx, statekeys.Alert(key), obj.Version)
	if errors.Is(err, runstate.ErrNotFound) || errors.Is(err, runstate.ErrConflict) {
		return nil
	}
	return err
}
