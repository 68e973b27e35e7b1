package audit

import (
	"context"
	"io"
	"os"
	"sync"
)

// DefaultJSONLinesBuffer is how many bytes of encoded records a JSONLines
// sink holds for its writer before it starts dropping.
const DefaultJSONLinesBuffer = 4 << 20

// JSONLinesOptions configures NewJSONLines. The zero value is usable.
type JSONLinesOptions struct {
	// MaxBuffer bounds the encoded records waiting for the writer;
	// DefaultJSONLinesBuffer when zero.
	MaxBuffer int
	// Guard scrubs records; heuristics only when nil.
	Guard *Guard
	// Diagnostics receives write failures; os.Stderr when nil.
	Diagnostics io.Writer
}

// JSONLines writes records as JSON lines to an io.Writer (os.Stdout in
// Function Compute, which ships it to the function's logstore). Log only
// encodes into a bounded buffer; a background goroutine does the writing,
// so a stalled writer costs dropped records, never a blocked caller. Create
// it with NewJSONLines; Close stops the goroutine.
type JSONLines struct {
	w     io.Writer
	max   int
	guard *Guard
	diag  *Diagnostics
	c     *Counters

	mu      sync.Mutex
	buf     []byte
	n       int64 // records in buf
	closed  bool
	wake    chan struct{}
	stopped chan struct{}
}

// NewJSONLines starts a sink writing to w (os.Stdout when nil).
func NewJSONLines(w io.Writer, o JSONLinesOptions) *JSONLines {
	if w == nil {
		w = os.Stdout
	}
	if o.MaxBuffer <= 0 {
		o.MaxBuffer = DefaultJSONLinesBuffer
	}
	if o.Guard == nil {
		o.Guard = &Guard{}
	}
	if o.Diagnostics == nil {
		o.Diagnostics = os.Stderr
	}
	j := &JSONLines{
		w: w, max: o.MaxBuffer, guard: o.Guard, diag: NewDiagnostics(o.Diagnostics, o.Guard), c: NewCounters(),
		wake: make(chan struct{}, 1), stopped: make(chan struct{}),
	}
	go j.run()
	return j
}

// Log implements Logger.
func (j *JSONLines) Log(_ context.Context, r Record) {
	if j.guard.ScrubRecord(&r) {
		j.c.Redacted(1)
	}
	j.mu.Lock()
	if j.closed || len(j.buf) >= j.max {
		j.mu.Unlock()
		j.c.logged.Add(1)
		j.c.Drop(1)
		return
	}
	j.buf = r.AppendJSON(j.buf)
	j.buf = append(j.buf, '\n')
	j.n++
	j.c.Accept(1)
	select { // under mu, so that Close cannot close wake in between
	case j.wake <- struct{}{}:
	default:
	}
	j.mu.Unlock()
}

// Flush implements Logger.
func (j *JSONLines) Flush(ctx context.Context) error { return j.c.Wait(ctx) }

// Stats implements Logger.
func (j *JSONLines) Stats() Stats { return j.c.Stats() }

// Close flushes within ctx and stops the writer goroutine; later records are
// dropped. It returns ctx.Err() when the flush did not finish.
func (j *JSONLines) Close(ctx context.Context) error {
	err := j.Flush(ctx)
	j.mu.Lock()
	if !j.closed {
		j.closed = true
		close(j.wake)
	}
	j.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case <-j.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (j *JSONLines) run() {
	defer close(j.stopped)
	var spare []byte
	for range j.wake {
		for {
			j.mu.Lock()
			buf, n := j.buf, j.n
			j.buf, j.n = spare[:0], 0
			j.mu.Unlock()
			if n == 0 {
				spare = buf
				break
			}
			_, err := j.w.Write(buf)
			if err != nil {
				j.diag.Printf("write", "writing %d records failed: %v", n, err)
			}
			o := Written
			if err != nil {
				o = Failed
			}
			j.c.Settle(n, o)
			spare = buf
		}
	}
}

var _ Logger = (*JSONLines)(nil)
