package oss

import (
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
)

// Faults are failures injected in front of the twin's operations, as any
// network service shows them now and then: a request refused with a
// server error before it is served, and a request served (a write lands)
// whose reply never reaches the caller.
type Faults struct {
	// ErrorRate is the probability in [0, 1] that a request is answered
	// 500 InternalError without being served: nothing changes.
	ErrorRate float64
	// LostReplyRate is the probability in [0, 1] that a request is served,
	// its effect kept, and its connection then closed without a response:
	// the caller sees a transport error and cannot tell whether a write
	// landed.
	LostReplyRate float64
	// Seed seeds the RNG that picks the failing requests.
	Seed uint64
}

// validate refuses rates outside [0, 1] and rates summing above 1.
func (f Faults) validate() error {
	if f.ErrorRate < 0 || f.ErrorRate > 1 || f.LostReplyRate < 0 || f.LostReplyRate > 1 || f.ErrorRate+f.LostReplyRate > 1 {
		return fmt.Errorf("oss twin: faults: ErrorRate %v and LostReplyRate %v must be in [0, 1], their sum at most 1", f.ErrorRate, f.LostReplyRate)
	}
	return nil
}

// errInternal is OSS's InternalError (500, documented as retryable). The
// message is the usual object-storage wording; OSS's own was not verified.
var errInternal = errorf(http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")

// Faulty is an http.Handler serving a Server's buckets with Faults
// injected. The Server itself stays clean: another listener may serve it
// directly, for callers whose requests are not under test.
type Faulty struct {
	srv *Server

	mu     sync.Mutex
	faults Faults
	rng    *mrand.Rand

	refused, lost atomic.Int64
}

var _ http.Handler = (*Faulty)(nil)

// Faulty returns a handler over s without faults until SetFaults.
func (s *Server) Faulty() *Faulty { return &Faulty{srv: s} }

// SetFaults replaces the faults (the zero Faults: none), restarting the
// RNG from f.Seed. It refuses rates outside [0, 1] and changes nothing
// then.
func (h *Faulty) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults = f
	h.rng = mrand.New(mrand.NewPCG(f.Seed, f.Seed^0x05500fa17))
	return nil
}

// Counts returns how many requests were refused and how many replies were
// lost since the handler was made.
func (h *Faulty) Counts() (refused, lost int64) { return h.refused.Load(), h.lost.Load() }

// draw picks the request's fate: 0 served, 1 refused, 2 reply lost.
func (h *Faulty) draw() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.faults
	if f.ErrorRate <= 0 && f.LostReplyRate <= 0 {
		return 0
	}
	x := h.rng.Float64()
	switch {
	case x < f.ErrorRate:
		return 1
	case x < f.ErrorRate+f.LostReplyRate:
		return 2
	}
	return 0
}

// ServeHTTP serves r through the Server, or refuses it, or serves it and
// drops the connection.
func (h *Faulty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch h.draw() {
	case 1:
		h.refused.Add(1)
		id := newRequestID()
		hd := w.Header()
		hd.Set("x-oss-request-id", id)
		hd.Set("Server", "AliyunOSS")
		hd.Set("Date", h.srv.now().UTC().Format(http.TimeFormat))
		writeError(w, r, id, r.Host, errInternal)
	case 2:
		h.lost.Add(1)
		h.srv.ServeHTTP(&discard{header: http.Header{}}, r)
		// The server closes the connection without a response and logs
		// nothing for this panic.
		panic(http.ErrAbortHandler)
	default:
		h.srv.ServeHTTP(w, r)
	}
}

// discard is a ResponseWriter whose response is thrown away.
type discard struct{ header http.Header }

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}
