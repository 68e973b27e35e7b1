package wiring

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aliyun/credentials-go/credentials"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/aliyun/fc"
	"github.com/kmsmig/kmsmig/shared/aliyun/fcruntime"
	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/aliyun/oss"
	"github.com/kmsmig/kmsmig/shared/aliyun/ram"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/approval"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/runstate"
)

// Deps are the adapters of one invocation, built from the configuration
// and the invocation's credentials.
type Deps struct {
	Config     app.Config
	Invocation fcruntime.Invocation
	Creds      ram.Credentials
	KMS        *kms.Client
	Store      runstate.Store
	Audit      audit.Logger
	Alerter    *alert.Alerter
	// Now is the clock every decision reads (NewClock): the wall clock, or
	// a rehearsal's simulated one.
	Now func() time.Time
}

// Wire builds the adapters of one invocation; the store writes through a
// Guard that knows cfg's secrets and the invocation's credentials.
func Wire(ctx context.Context, cfg app.Config, inv fcruntime.Invocation, logger audit.Logger) (*Deps, error) {
	g := Guard(cfg)
	g.Add(inv.AccessKeyID, inv.AccessKeySecret, inv.SecurityToken)
	return wire(ctx, cfg, inv, logger, g)
}

// wire is Wire with the Guard of the caller (the Observer's, which also
// scrubs the trail, stderr and the returned error).
func wire(ctx context.Context, cfg app.Config, inv fcruntime.Invocation, logger audit.Logger, guard *audit.Guard) (*Deps, error) {
	now, err := NewClock(cfg)
	if err != nil {
		return nil, err
	}
	creds, err := Credentials(cfg, inv)
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
	store = ScrubStore(store, guard)
	return &Deps{Config: cfg, Invocation: inv, Creds: creds, KMS: kmsClient, Store: store, Audit: logger,
		Alerter: cfg.Alerter(logger, store, now, guard), Now: now}, nil
}

// Credentials builds the credential set of an invocation: its STS
// credential for its own account, RAM roles from cfg for the others.
func Credentials(cfg app.Config, inv fcruntime.Invocation) (ram.Credentials, error) {
	if inv.AccessKeyID == "" {
		return ram.Credentials{}, fmt.Errorf("invocation %s carries no credentials (give the function a role: s.yaml role)", inv.RequestID)
	}
	base, err := ram.Static(inv.AccessKeyID, inv.AccessKeySecret, inv.SecurityToken)
	if err != nil {
		return ram.Credentials{}, err
	}
	return ram.Credentials{Home: inv.AccountID, Base: base, RoleArns: cfg.RoleArns, STSEndpoint: cfg.STSEndpoint, SessionName: "kmsmig-" + inv.Function}, nil
}

// NewKMS builds the KMS adapter for cfg.
func NewKMS(cfg app.Config, creds ram.Credentials) (*kms.Client, error) {
	quotas := kms.DefaultQuotas()
	for g, n := range cfg.QPS {
		quotas[kms.Group(g)] = n
	}
	return kms.New(kms.Config{Endpoints: cfg.KMSEndpoints, Insecure: cfg.Insecure, Credentials: creds.For, Quotas: quotas})
}

// OpenStore opens the run-state store cfg.State names, using cred for OSS
// and region as the default OSS region. An OSS store is checked first (see
// oss.Open): a missing or versioned bucket, missing permissions and state
// of the earlier layout are refused here, before anything else runs.
func OpenStore(ctx context.Context, cfg app.Config, cred credentials.Credential, region string) (runstate.Store, error) {
	switch {
	case strings.HasPrefix(cfg.State, "dir:"):
		return runstate.OpenDir(strings.TrimPrefix(cfg.State, "dir:"))
	case strings.HasPrefix(cfg.State, "oss://"):
		if cred == nil {
			return nil, fmt.Errorf("KMSMIG_STATE %s: no credential for OSS", cfg.State)
		}
		ossRegion := cfg.OSSRegion
		if ossRegion == "" {
			ossRegion = region
		}
		return oss.Open(ctx, oss.Location{URL: cfg.State, Region: ossRegion, Endpoint: cfg.OSSEndpoint, Insecure: cfg.Insecure, Credential: cred})
	}
	return nil, fmt.Errorf("KMSMIG_STATE %q: want dir:<path> or oss://<bucket>[/<prefix>]", cfg.State)
}

// Discoverer returns the discover use case over d; a new plan kicks
// migrate through Function Compute unless chaining is off.
func (d *Deps) Discoverer() *app.Discoverer {
	check := func(account string) error { _, err := d.Creds.For(account); return err }
	disc := &app.Discoverer{Config: d.Config, Source: d.KMS, Store: d.Store, Account: d.Invocation.AccountID, Region: d.Invocation.Region,
		CheckAccount: check, Audit: d.Audit, Alerts: d.Alerter, Reports: app.RenderReports, Now: d.Now, TaskAPI: d.tasks()}
	if fn := d.Config.FunctionMigrate; fn != "-" && fn != "" {
		disc.Kick = func(ctx context.Context, runID string) error {
			inv, err := d.invoker()
			if err != nil {
				return err
			}
			payload, _ := json.Marshal(app.StepEvent{RunID: runID})
			return inv.InvokeAsync(ctx, fn, payload, migration.ChainTaskID(runID, "discover-"+d.Invocation.RequestID, "kick"))
		}
	}
	if fn := d.Config.FunctionDiscover; d.Config.DiscoverLanesPerInvocation > 0 && fn != "-" && fn != "" {
		// The task id names this invocation and the group: an FC retry of
		// this coordinator hands each group on once; a later coordinator
		// (the next timer) hands on again what is still not done.
		disc.Dispatch = func(ctx context.Context, runID string, g int) error {
			inv, err := d.invoker()
			if err != nil {
				return err
			}
			payload, _ := json.Marshal(app.DiscoverOptions{RunID: runID, FanoutGroup: &g})
			return inv.InvokeAsync(ctx, fn, payload, migration.ChainTaskID(runID, "discover-"+d.Invocation.RequestID, fmt.Sprintf("group-%d", g)))
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

// Executor returns the migrate/poll/rotate use cases over d, chaining
// through Function Compute's InvokeFunction unless chaining is off.
func (d *Deps) Executor() (*app.Executor, error) {
	cfg := d.Config
	now := d.Now
	if now == nil {
		now = time.Now
	}
	eng := &migration.Engine{
		Store: d.Store, KMS: d.KMS, Audit: d.Audit, Clock: clockFunc(now), Config: cfg.EngineConfig(now()),
		Tasks: d.tasks(),
	}
	if cfg.ApprovalRequired() {
		eng.Approvals = approval.Gate{Store: d.Store}
	}
	if eng.Config.Functions != (migration.Functions{}) {
		inv, err := d.invoker()
		if err != nil {
			return nil, err
		}
		eng.Invoker = inv
	}
	x := &app.Executor{Config: cfg, Engine: eng, Alerts: d.Alerter, Now: now}
	if cfg.StepLanesPerInvocation > 0 {
		// As discover's groups: the task id names this invocation and the
		// group, so an FC retry of this coordinator hands each group on
		// once, while the next timer's coordinator hands them on anew.
		x.Dispatch = func(ctx context.Context, fn, runID string, g int, payload []byte) error {
			inv, err := d.invoker()
			if err != nil {
				return err
			}
			return inv.InvokeAsync(ctx, fn, payload, migration.ChainTaskID(runID, fn+"-"+d.Invocation.RequestID, fmt.Sprintf("group-%d", g)))
		}
	}
	return x, nil
}

// tasks is the provider's task API with the configured action names.
func (d *Deps) tasks() *kms.Tasks {
	a := d.Config.TaskActions
	return d.KMS.Tasks(kms.TaskActions{Create: a[0], Describe: a[1], List: a[2]})
}

// clockFunc makes a func a migration.Clock.
type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }
