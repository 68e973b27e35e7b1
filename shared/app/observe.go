package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/aliyun/sls"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/runstate"
)

// Observer owns a process's audit trail and alerting. Function Compute
// keeps an instance's process alive across invocations, so the SLS
// producer is opened once, on the first invocation that needs it, and
// signs every request with the credentials of the latest invocation.
type Observer struct {
	cfg    Config
	stdout io.Writer

	mu     sync.Mutex
	inv    Invocation // latest invocation: credentials for the SLS sink
	sink   audit.Logger
	logger audit.Logger
	opened bool
}

// NewObserver returns an Observer for cfg writing JSON lines to stdout when
// no SLS logstore is configured or known.
func NewObserver(cfg Config, stdout io.Writer) *Observer {
	return &Observer{cfg: cfg, stdout: stdout}
}

// Begin prepares the audit trail for one invocation: it records the
// invocation's credentials for the SLS sink, opens the sink on first use,
// and returns ctx carrying the invocation's audit scope with the logger to
// use. A sink that cannot be opened falls back to stdout and says so on
// stderr; it never fails the invocation.
func (o *Observer) Begin(ctx context.Context, inv Invocation, function string) (context.Context, audit.Logger) {
	o.mu.Lock()
	o.inv = inv
	if !o.opened {
		o.opened = true
		o.sink = o.open(inv)
		o.logger = audit.Enrich(o.sink)
	}
	logger := o.logger
	o.mu.Unlock()
	ctx = audit.WithScope(ctx, audit.Scope{RequestID: inv.RequestID, Function: function})
	return ctx, logger
}

func (o *Observer) open(inv Invocation) audit.Logger {
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
		return audit.NewJSONLines(o.stdout, audit.JSONLinesOptions{})
	}
	endpoint := o.cfg.SLSEndpoint
	if endpoint == "" {
		endpoint = inv.Region + ".log.aliyuncs.com"
	}
	sc := sls.Config{
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
		fmt.Fprintf(stderrOf(o.stdout), "kmsmig: audit: SLS sink unavailable (%v); writing the audit trail to stdout\n", err)
		return audit.NewJSONLines(o.stdout, audit.JSONLinesOptions{})
	}
	return s
}

// End flushes the trail within the invocation's remaining time (keeping a
// little for the runtime to answer) and returns the counters for the
// invocation's result.
func (o *Observer) End(ctx context.Context, inv Invocation) audit.Stats {
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

// Alerter returns the alerter cfg configures, delivering to the webhook
// and DingTalk sinks, de-duplicated through the run-state store (so that
// every instance of every function shares one memory), with every alert
// also an ALERT record of logger.
func (cfg Config) Alerter(logger audit.Logger, store runstate.Store) *alert.Alerter {
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
	return alert.New(alert.Config{Sinks: sinks, Audit: logger, Dedup: dedup, Period: cfg.AlertPeriod})
}

// StoreDedup is alert de-duplication kept in the run-state store under
// alerts/, shared by every function instance.
type StoreDedup struct{ Store runstate.Store }

var _ alert.Dedup = StoreDedup{}

type dedupEntry struct {
	Sent time.Time `json:"sent"`
}

func dedupKey(key string) string {
	r := strings.NewReplacer("/", "~", ":", "~", " ", "_")
	return "alerts/" + r.Replace(key)
}

// Claim records key as sent at now unless it was sent less than period
// ago; compare-and-swap makes concurrent claims of one key yield one true.
func (d StoreDedup) Claim(ctx context.Context, key string, now time.Time, period time.Duration) (bool, error) {
	claimed := false
	_, err := runstate.MutateJSON(ctx, d.Store, dedupKey(key), func(e *dedupEntry, exists bool) error {
		claimed = !exists || now.Sub(e.Sent) >= period
		if claimed {
			e.Sent = now
		}
		return nil
	})
	return claimed, err
}

// Release forgets key.
func (d StoreDedup) Release(ctx context.Context, key string) error {
	obj, err := d.Store.Get(ctx, dedupKey(key))
	if errors.Is(err, runstate.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	err = d.Store.Delete(ctx, dedupKey(key), obj.Version)
	if errors.Is(err, runstate.ErrNotFound) || errors.Is(err, runstate.ErrConflict) {
		return nil
	}
	return err
}

// stderrOf returns where diagnostics go when stdout is the trail.
func stderrOf(io.Writer) io.Writer { return stderrWriter }
