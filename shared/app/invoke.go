package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/aliyun/fc"
	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/runstate"
)

// Deps are the adapters of one invocation, built from the configuration
// and the invocation's credentials.
type Deps struct {
	Config     Config
	Invocation Invocation
	Creds      Credentials
	KMS        *kms.Client
	Store      runstate.Store
	Audit      audit.Logger
	Alerter    *alert.Alerter
}

// Wire builds the adapters of one invocation.
func Wire(ctx context.Context, cfg Config, inv Invocation, logger audit.Logger) (*Deps, error) {
	creds, err := inv.Credentials(cfg)
	if err != nil {
		return nil, err
	}
	kmsClient, err := NewKMS(cfg, creds)
	if err != nil {
		return nil, err
	}
	store, err := OpenStore(ctx, cfg, creds.Base, inv.Region)
	if err != nil {
		return nil, fmt.Errorf("open run-state store: %w", err)
	}
	return &Deps{Config: cfg, Invocation: inv, Creds: creds, KMS: kmsClient, Store: store, Audit: logger,
		Alerter: cfg.Alerter(logger, store)}, nil
}

// Discoverer returns the discover step over d; a new plan kicks migrate
// through Function Compute unless chaining is off.
func (d *Deps) Discoverer() *Discoverer {
	check := func(account string) error { _, err := d.Creds.For(account); return err }
	disc := &Discoverer{Config: d.Config, Source: d.KMS, Store: d.Store, Account: d.Invocation.AccountID, Region: d.Invocation.Region,
		CheckAccount: check, Audit: d.Audit, Alerts: d.Alerter, Reports: RenderReports}
	if fn := d.Config.FunctionMigrate; fn != "-" && fn != "" {
		disc.Kick = func(ctx context.Context, runID string) error {
			inv, err := d.invoker()
			if err != nil {
				return err
			}
			payload, _ := json.Marshal(StepEvent{RunID: runID})
			return inv.InvokeAsync(ctx, fn, payload, migration.ChainTaskID(runID, "discover-"+d.Invocation.RequestID, "kick"))
		}
	}
	return disc
}

func (d *Deps) invoker() (*fc.Invoker, error) {
	inv, err := fc.New(fc.Config{Endpoint: d.Config.FCEndpoint, Account: d.Invocation.AccountID, Region: d.Invocation.Region,
		Insecure: d.Config.Insecure, Credential: d.Creds.Base})
	if err != nil {
		return nil, fmt.Errorf("function compute invoker: %w", err)
	}
	return inv, nil
}

// Executor returns the migrate/poll/rotate steps over d, chaining through
// Function Compute's InvokeFunction unless chaining is off.
func (d *Deps) Executor() (*Executor, error) {
	cfg := d.Config
	now := time.Now()
	eng := &migration.Engine{
		Store: d.Store, KMS: d.KMS, Audit: d.Audit, Config: cfg.EngineConfig(now),
		Tasks: d.KMS.Tasks(kms.TaskActions{Create: cfg.TaskActions[0], Describe: cfg.TaskActions[1], List: cfg.TaskActions[2]}),
	}
	if eng.Config.Functions != (migration.Functions{}) {
		inv, err := d.invoker()
		if err != nil {
			return nil, err
		}
		eng.Invoker = inv
	}
	return &Executor{Config: cfg, Engine: eng, Alerts: d.Alerter}, nil
}

// Invoke runs one invocation of a function: it refuses a bad
// configuration, opens the invocation's audit scope, bounds the work by the
// deadline (keeping reserve to record state and flush the trail), wires
// the adapters, runs step, raises a function-error alert on failure, and
// flushes the audit trail, whose counters setAudit puts in the result.
func Invoke[R any](ctx context.Context, obs *Observer, cfg Config, cfgErr error, inv Invocation, function string,
	step func(ctx context.Context, d *Deps) (R, error), setAudit func(*R, audit.Stats)) (res R, err error) {
	if cfgErr != nil {
		return res, cfgErr
	}
	ctx, logger := obs.Begin(ctx, inv, function)
	defer func() {
		stats := obs.End(ctx, inv)
		setAudit(&res, stats)
	}()
	start := time.Now()
	logger.Log(ctx, audit.Record{Action: "Invoke", Outcome: "started"})
	wctx, cancel := inv.Bounded(ctx, 15*time.Second)
	defer cancel()
	d, err := Wire(wctx, cfg, inv, logger)
	if err == nil {
		res, err = step(wctx, d)
	}
	r := audit.Record{Action: "Invoke", Outcome: "completed", DurationMS: time.Since(start).Milliseconds()}
	if err != nil {
		r.Level, r.Outcome, r.Message = audit.LevelError, "failed", err.Error()
		if d != nil {
			_ = d.Alerter.Alert(ctx, alert.FunctionError(function, inv.RequestID, err))
		}
	}
	logger.Log(ctx, r)
	return res, err
}
