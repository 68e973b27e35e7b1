package wiring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/aliyun/fcruntime"
	"github.com/kmsmig/kmsmig/shared/aliyun/sls"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/audit"
)

// Observer owns a process's audit trail and alerting. Function Compute
// keeps an instance's process alive across invocations, so the SLS
// producer is opened once, on the first invocation that needs it, and
// signs every request with the credentials of the latest invocation.
type Observer struct {
	cfg    app.Config
	stdout io.Writer
	stderr io.Writer // diagnostics that must not mix with the trail
	// guard scrubs every record of the trail; it knows the configured
	// alert endpoints' secrets besides its heuristics.
	guard *audit.Guard

	mu     sync.Mutex
	inv    fcruntime.Invocation // latest invocation: credentials for the SLS sink
	sink   audit.Logger
	logger audit.Logger
	opened bool
	// alerter raises what fails before anything is wired, through cfg's
	// sinks and the trail, de-duplicated in this process's memory.
	alerter *alert.Alerter
}

// Alert raises a through the observer's own alerter: cfg's webhook and
// DingTalk sinks and an ALERT record of the trail, de-duplicated in memory
// for KMSMIG_ALERT_PERIOD (no store is needed, so an invocation that could
// not wire one still alerts). Call it after Begin.
func (o *Observer) Alert(ctx context.Context, a alert.Alert) error {
	o.mu.Lock()
	if o.alerter == nil {
		logger := o.logger
		if logger == nil {
			logger = audit.Discard
		}
		o.alerter = o.cfg.Alerter(logger, nil, nil, o.guard)
	}
	al := o.alerter
	o.mu.Unlock()
	return al.Alert(ctx, a)
}

// NewObserver returns an Observer for cfg writing JSON lines to stdout when
// no SLS logstore is configured or known.
func NewObserver(cfg app.Config, stdout io.Writer) *Observer {
	g := Guard(cfg)
	return &Observer{cfg: cfg, stdout: stdout, stderr: g.Writer(os.Stderr), guard: g}
}

// Guard returns a redaction guard that knows the secrets cfg holds: the
// webhook URLs (their paths and queries carry tokens) and the DingTalk
// signing secret. It is the process's one scrubbing path: the audit trail,
// the run-state store's payloads (ScrubStore), the errors an invocation
// returns, stderr and the alerts all pass it; Begin adds each invocation's
// credentials to it.
func Guard(cfg app.Config) *audit.Guard {
	g := &audit.Guard{}
	g.Add(cfg.AlertWebhook, cfg.DingTalkWebhook, cfg.DingTalkSecret)
	return g
}

// Begin prepares the audit trail for one invocation: it records the
// invocation's credentials for the SLS sink, opens the sink on first use,
// and returns ctx carrying the invocation's audit scope with the logger to
// use. A sink that cannot be opened falls back to stdout and says so on
// stderr; it never fails the invocation.
func (o *Observer) Begin(ctx context.Context, inv fcruntime.Invocation, function string) (context.Context, audit.Logger) {
	o.guard.Add(inv.AccessKeyID, inv.AccessKeySecret, inv.SecurityToken)
	o.mu.Lock()
	o.inv = inv
	if !o.opened {
		o.opened = true
		o.sink = o.open(inv)
		o.logger = audit.Enrich(o.sink)
		if o.cfg.Clock != "" {
			o.logger = wallTime{o.logger}
		}
	}
	logger := o.logger
	o.mu.Unlock()
	ctx = audit.WithScope(ctx, audit.Scope{RequestID: inv.RequestID, Function: function})
	return ctx, logger
}

func (o *Observer) open(inv fcruntime.Invocation) audit.Logger {
	mode := o.cfg.Audit
	project, logstore := o.cfg.SLSProject, o.cfg.SLSLogstore
	if project == "" {
		project = inv.LogProject
	}
	if logstore == "" {
		logstore = inv.LogStore
	}
	useSLS := mode == "sls" || (mode == "auto" && project != "" && logstore != "")
	switch {
	case mode == "off":
		return audit.Discard
	case !useSLS:
		return audit.NewJSONLines(o.stdout, audit.JSONLinesOptions{Guard: o.guard})
	}
	endpoint := o.cfg.SLSEndpoint
	if endpoint == "" {
		endpoint = inv.Region + ".log.aliyuncs.com"
	}
	sc := sls.Config{
		Guard:    o.guard,
		Endpoint: endpoint, Project: project, Logstore: logstore, Topic: "kmsmig",
		CredentialsFunc: func() (sls.Credentials, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			if o.inv.AccessKeyID == "" {
				return sls.Credentials{}, errors.New("no invocation credentials for SLS")
			}
			return sls.Credentials{AccessKeyID: o.inv.AccessKeyID, AccessKeySecret: o.inv.AccessKeySecret, SecurityToken: o.inv.SecurityToken}, nil
		},
	}
	if host, port, err := net.SplitHostPort(endpoint); err == nil && port != "" && (host == "127.0.0.1" || host == "localhost") {
		// An offline twin: the SDK addresses <project>.<endpoint>, which
		// does not resolve, so dial the twin directly.
		sc.DialAddr = endpoint
	}
	s, err := sls.NewSink(sc)
	if err != nil {
		fmt.Fprintf(o.stderr, "kmsmig: audit: SLS sink unavailable (%v); writing the audit trail to stdout\n", err)
		return audit.NewJSONLines(o.stdout, audit.JSONLinesOptions{Guard: o.guard})
	}
	return s
}

// End flushes the trail within the invocation's remaining time (keeping a
// little for the runtime to answer) and returns the counters for the
// invocation's result.
func (o *Observer) End(ctx context.Context, inv fcruntime.Invocation) audit.Stats {
	o.mu.Lock()
	logger := o.logger
	o.mu.Unlock()
	if logger == nil {
		return audit.Stats{}
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	if !inv.Deadline.IsZero() {
		cancel()
		fctx, cancel = context.WithDeadline(context.WithoutCancel(ctx), inv.Deadline.Add(-time.Second))
	}
	defer cancel()
	_ = logger.Flush(fctx)
	return logger.Stats()
}
