package alert

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/cloud"
)

// Sink delivers an alert to one destination.
type Sink interface {
	// Name identifies the sink in errors and audit records.
	Name() string
	// Send delivers a once. It returns a *DeliveryError saying whether a
	// retry may help; ctx errors are returned unchanged.
	Send(ctx context.Context, a Alert) error
}

// Dedup is the memory of recently sent alert keys. The in-memory default is
// NewMemoryDedup; a deployment can keep it in the run-state store so that
// de-duplication holds across function instances.
type Dedup interface {
	// Claim reports whether key may be alerted at now: false when it was
	// claimed less than period before now. A true result records the claim.
	// It returns ctx errors unchanged.
	Claim(ctx context.Context, key string, now time.Time, period time.Duration) (bool, error)
	// Release forgets a claim so that the next Claim of key succeeds; used
	// when every sink failed. Releasing an unknown key is not an error.
	Release(ctx context.Context, key string) error
}

// DeliveryError is a failed delivery. Retryable is true for network
// errors and 5xx answers, false for 4xx and refusals in the body.
type DeliveryError struct {
	Sink      string
	Status    int // HTTP status, 0 for network errors
	Retryable bool
	Err       error
}

func (e *DeliveryError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("alert: %s: HTTP %d: %v", e.Sink, e.Status, e.Err)
	}
	return fmt.Sprintf("alert: %s: %v", e.Sink, e.Err)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// retryable reports whether err is worth another attempt.
func retryable(err error) bool {
	var d *DeliveryError
	if errors.As(err, &d) {
		return d.Retryable
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// Config configures an Alerter.
type Config struct {
	// Sinks receive every alert that is not a duplicate.
	Sinks []Sink
	// Audit receives one ALERT-level record per alert raised, sent or not;
	// audit.Discard when nil.
	Audit audit.Logger
	// Dedup remembers sent keys; an in-memory one when nil.
	Dedup Dedup
	// Period is how long a key stays silent after it was sent. Default 1h;
	// negative disables de-duplication.
	Period time.Duration
	// Attempts is the most deliveries tried per sink (first try included).
	// Default 4.
	Attempts int
	// Backoff is the wait before the first retry, doubled for each further
	// one up to MaxBackoff, with cloud.Backoff's jitter. Defaults 500ms and
	// 10s.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Guard scrubs titles, texts and fields before they leave the process;
	// heuristics only when nil.
	Guard *audit.Guard
	// Now reads the clock; time.Now when nil.
	Now func() time.Time
}

// Alerter raises alerts: it scrubs them, drops duplicates, delivers to
// every sink with retries and records each in the audit trail. It is safe
// for concurrent use. Create it with New.
type Alerter struct {
	cfg Config
}

// New returns an Alerter for cfg, filling in defaults.
func New(cfg Config) *Alerter {
	if cfg.Audit == nil {
		cfg.Audit = audit.Discard
	}
	if cfg.Dedup == nil {
		cfg.Dedup = NewMemoryDedup()
	}
	if cfg.Period == 0 {
		cfg.Period = time.Hour
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 4
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	if cfg.Guard == nil {
		cfg.Guard = &audit.Guard{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Alerter{cfg: cfg}
}

// Outcomes recorded in the audit trail for an alert.
const (
	OutcomeSent       = "sent"
	OutcomeDuplicate  = "duplicate"
	OutcomeFailed     = "failed"
	OutcomePartlySent = "partly-sent"
)

// Alert raises a. It returns nil when a was delivered to every sink or was
// a duplicate, ctx errors unchanged, and otherwise the joined delivery
// errors. When every sink failed the key is released, so raising the alert
// again retries it.
func (al *Alerter) Alert(ctx context.Context, a Alert) error {
	a = al.scrub(a)
	now := al.cfg.Now()
	if a.Key == "" {
		a.Key = a.Title
	}
	if al.cfg.Period > 0 {
		ok, err := al.cfg.Dedup.Claim(ctx, a.Key, now, al.cfg.Period)
		if err != nil {
			// Better a duplicate than a lost alert: send anyway.
			if ctx.Err() != nil {
				return ctx.Err()
			}
		} else if !ok {
			al.record(ctx, a, now, OutcomeDuplicate, nil)
			return nil
		}
	}
	var errs []error
	for _, s := range al.cfg.Sinks {
		if err := al.deliver(ctx, s, a); err != nil {
			errs = append(errs, err)
		}
	}
	outcome := OutcomeSent
	switch {
	case len(errs) == 0:
	case len(errs) == len(al.cfg.Sinks):
		outcome = OutcomeFailed
		if al.cfg.Period > 0 {
			_ = al.cfg.Dedup.Release(context.WithoutCancel(ctx), a.Key)
		}
	default:
		outcome = OutcomePartlySent
	}
	err := errors.Join(errs...)
	al.record(ctx, a, now, outcome, err)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// deliver sends a to s, retrying retryable failures with back-off.
func (al *Alerter) deliver(ctx context.Context, s Sink, a Alert) error {
	backoff := cloud.Backoff{Base: al.cfg.Backoff, Max: al.cfg.MaxBackoff}
	var err error
	for attempt := 1; ; attempt++ {
		err = s.Send(ctx, a)
		if err == nil || ctx.Err() != nil || !retryable(err) || attempt >= al.cfg.Attempts {
			return err
		}
		// On cancellation the send's error is kept: Alert reports ctx's.
		if cloud.Sleep(ctx, backoff.Delay(attempt-1)) != nil {
			return err
		}
	}
}

// scrub removes secret-looking values before the alert leaves the process.
func (al *Alerter) scrub(a Alert) Alert {
	g := al.cfg.Guard
	a.Key, _ = g.Scrub(a.Key)
	a.Title, _ = g.Scrub(a.Title)
	a.Text, _ = g.Scrub(a.Text)
	if len(a.Fields) > 0 {
		f := make(map[string]string, len(a.Fields))
		for k, v := range a.Fields {
			f[k], _ = g.Scrub(v)
		}
		a.Fields = f
	}
	return a
}

// record writes the alert to the audit trail at level ALERT.
func (al *Alerter) record(ctx context.Context, a Alert, now time.Time, outcome string, err error) {
	r := audit.Record{
		Time:         now,
		Level:        audit.LevelAlert,
		Account:      a.Fields["account"],
		Region:       a.Fields["region"],
		ResourceType: a.Fields["resource_type"],
		ResourceID:   a.Fields["resource_id"],
		BatchID:      a.Fields["batch_id"],
		TaskID:       a.Fields["task_id"],
		Function:     a.Fields["function"],
		RequestID:    a.Fields["request_id"],
		Action:       "Alert",
		Outcome:      outcome,
		ReasonCode:   a.Kind(),
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s", a.Severity, a.Title)
	if a.Text != "" {
		b.WriteString(": " + a.Text)
	}
	for _, k := range slices.Sorted(maps.Keys(a.Fields)) {
		fmt.Fprintf(&b, "; %s=%s", k, a.Fields[k])
	}
	fmt.Fprintf(&b, " (key %s)", a.Key)
	if err != nil {
		fmt.Fprintf(&b, "; delivery: %v", err)
	}
	r.Message = b.String()
	al.cfg.Audit.Log(ctx, r)
}

// MemoryDedup is the in-memory Dedup: good for one process, forgotten on
// restart. Create it with NewMemoryDedup.
type MemoryDedup struct {
	mu   sync.Mutex
	sent map[string]time.Time
}

// NewMemoryDedup returns an empty MemoryDedup.
func NewMemoryDedup() *MemoryDedup { return &MemoryDedup{sent: map[string]time.Time{}} }

// Claim implements Dedup.
func (m *MemoryDedup) Claim(_ context.Context, key string, now time.Time, period time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.sent[key]; ok && now.Sub(t) < period {
		return false, nil
	}
	m.sent[key] = now
	// Forget stale keys now and then so the map stays small.
	if len(m.sent) > 1024 {
		for k, t := range m.sent {
			if now.Sub(t) >= period {
				delete(m.sent, k)
			}
		}
	}
	return true, nil
}

// Release implements Dedup.
func (m *MemoryDedup) Release(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sent, key)
	return nil
}

var _ Dedup = (*MemoryDedup)(nil)
