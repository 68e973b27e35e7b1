package audit

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Logger writes the audit trail.
type Logger interface {
	// Log records r. It never blocks on I/O and never fails the caller:
	// a record that cannot be buffered is dropped and counted in Stats.
	// A cancelled ctx does not stop the record.
	Log(ctx context.Context, r Record)
	// Flush waits until every record logged before the call has been
	// delivered or has failed, or until ctx is done, whichever comes first;
	// it returns ctx.Err() unchanged in the latter case, with the
	// undelivered records counted in Stats().Pending. Failed deliveries are
	// not an error of Flush: they are counted in Stats().Failed.
	Flush(ctx context.Context) error
	// Stats returns the counters since the Logger was created.
	Stats() Stats
}

// Stats counts what happened to the records given to a Logger, so that an
// invocation's result can show whether its trail is complete.
type Stats struct {
	// Logged is every record accepted by Log.
	Logged int64 `json:"logged"`
	// Written is records the back-end confirmed.
	Written int64 `json:"written"`
	// Dropped is records refused on the hot path (buffer full, closed).
	Dropped int64 `json:"dropped"`
	// Failed is records the back-end gave up on after its retries.
	Failed int64 `json:"failed"`
	// Pending is records accepted and not yet written or failed.
	Pending int64 `json:"pending"`
	// Redacted is records the guard had to strip a value from.
	Redacted int64 `json:"redacted"`
}

// Add returns the field-wise sum of s and o.
func (s Stats) Add(o Stats) Stats {
	return Stats{Logged: s.Logged + o.Logged, Written: s.Written + o.Written, Dropped: s.Dropped + o.Dropped,
		Failed: s.Failed + o.Failed, Pending: s.Pending + o.Pending, Redacted: s.Redacted + o.Redacted}
}

// Complete reports whether every record logged so far was written.
func (s Stats) Complete() bool { return s.Dropped == 0 && s.Failed == 0 && s.Pending == 0 }

// Discard is a Logger that drops every record without counting it.
var Discard Logger = discard{}

type discard struct{}

func (discard) Log(context.Context, Record) {}
func (discard) Flush(context.Context) error { return nil }
func (discard) Stats() Stats                { return Stats{} }

var _ Logger = discard{}

// Counters are the shared bookkeeping of the sinks (this package's and
// the SLS adapter's): atomic counters plus a
// pending count whose return to zero wakes Flush.
type Counters struct {
	logged, written, dropped, failed, redacted atomic.Int64

	mu      sync.Mutex
	pending int64
	idle    chan struct{} // closed while pending == 0
}

func NewCounters() *Counters {
	c := &Counters{idle: make(chan struct{})}
	close(c.idle)
	return c
}

// Accept counts n records as logged and pending.
func (c *Counters) Accept(n int64) {
	c.logged.Add(n)
	c.mu.Lock()
	if c.pending == 0 {
		c.idle = make(chan struct{})
	}
	c.pending += n
	c.mu.Unlock()
}

// Outcome is what became of a pending record.
type Outcome int

const (
	Written Outcome = iota
	Failed
	Dropped
)

// Settle moves n records from pending to the counter of o.
func (c *Counters) Settle(n int64, o Outcome) {
	switch o {
	case Written:
		c.written.Add(n)
	case Failed:
		c.failed.Add(n)
	case Dropped:
		c.dropped.Add(n)
	}
	c.mu.Lock()
	c.pending -= n
	if c.pending <= 0 {
		c.pending = 0
		select {
		case <-c.idle:
		default:
			close(c.idle)
		}
	}
	c.mu.Unlock()
}

// Wait blocks until nothing is pending or ctx is done.
func (c *Counters) Wait(ctx context.Context) error {
	c.mu.Lock()
	idle := c.idle
	c.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns the counters now.
func (c *Counters) Stats() Stats {
	c.mu.Lock()
	pending := c.pending
	c.mu.Unlock()
	return Stats{Logged: c.logged.Load(), Written: c.written.Load(), Dropped: c.dropped.Load(),
		Failed: c.failed.Load(), Pending: pending, Redacted: c.redacted.Load()}
}

// Diagnostics report back-end trouble on a side channel (stderr by default),
// scrubbed by the guard and at most once per interval per kind, so a dead
// back-end does not flood it.
type Diagnostics struct {
	w     io.Writer
	guard *Guard
	every time.Duration

	mu   sync.Mutex
	last map[string]time.Time
}

func NewDiagnostics(w io.Writer, guard *Guard) *Diagnostics {
	return &Diagnostics{w: w, guard: guard, every: 10 * time.Second, last: map[string]time.Time{}}
}

func (d *Diagnostics) Printf(kind, format string, args ...any) {
	if d.w == nil {
		return
	}
	now := time.Now()
	d.mu.Lock()
	if t, ok := d.last[kind]; ok && now.Sub(t) < d.every {
		d.mu.Unlock()
		return
	}
	d.last[kind] = now
	d.mu.Unlock()
	msg, _ := d.guard.Scrub(fmt.Sprintf(format, args...))
	_, _ = fmt.Fprintf(d.w, "audit: %s\n", msg)
}

// Redacted counts n records the guard scrubbed.
func (c *Counters) Redacted(n int64) { c.redacted.Add(n) }

// Drop counts n records dropped before they were accepted (a full buffer).
func (c *Counters) Drop(n int64) { c.dropped.Add(n) }
