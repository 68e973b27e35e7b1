package fc

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kmsmig/kmsmig/twin/acs"
)

// The runtime API as fc-runtime-go-sdk v0.3.1 speaks it.
const (
	runtimeAPIVersion = "2020-11-11"
	runtimePrefix     = "/" + runtimeAPIVersion + "/runtime"
)

// Headers of GET .../invocation/next that the runtime SDK reads.
const (
	hdrRequestID       = "x-fc-request-id"
	hdrDeadline        = "x-fc-function-deadline" // epoch milliseconds
	hdrTimeout         = "x-fc-function-timeout"  // whole seconds
	hdrAccessKeyID     = "x-fc-access-key-id"
	hdrAccessKeySecret = "x-fc-access-key-secret"
	hdrSecurityToken   = "x-fc-security-token"
	hdrFunctionName    = "x-fc-function-name"
	hdrFunctionHandler = "x-fc-function-handler"
	hdrFunctionMemory  = "x-fc-function-memory"
	hdrFunctionType    = "x-fc-function-type" // 0: handle an event
	hdrServiceName     = "x-fc-service-name"
	hdrLogProject      = "x-fc-service-logproject"
	hdrLogStore        = "x-fc-service-logstore"
	hdrQualifier       = "x-fc-qualifier"
	hdrVersionID       = "x-fc-version-id"
	hdrRegion          = "x-fc-region"
	hdrAccountID       = "x-fc-account-id"
	hdrRetryCount      = "x-fc-retry-count"
)

// call is one attempt at running a function on an event.
type call struct {
	id       string
	payload  []byte
	retry    int
	deadline time.Time // wall clock
	creds    acs.Credential

	once   sync.Once
	done   chan struct{}
	result Result

	logMu     sync.Mutex
	log       []byte // output of the instance while the call was in flight
	startSeen bool   // the runtime SDK logged "FC Invoke Start RequestId: <id>"
	endSeen   chan struct{}
	endOnce   sync.Once

	// instance and peakRSS: where the call ran and the peak resident set
	// of its process while it ran (set before done closes).
	instance string
	peakRSS  int64
}

func newCall(id string, payload []byte, retry int, deadline time.Time, creds acs.Credential) *call {
	return &call{id: id, payload: payload, retry: retry, deadline: deadline, creds: creds,
		done: make(chan struct{}), endSeen: make(chan struct{})}
}

// finish records r as the call's result unless one is already recorded.
func (c *call) finish(r Result) {
	c.once.Do(func() {
		r.RequestID = c.id
		c.logMu.Lock()
		r.Log = string(c.log)
		c.logMu.Unlock()
		c.result = r
		close(c.done)
	})
}

// appendLog keeps the last logTailBytes of output seen during the call and
// notes the runtime SDK's start and end lines for it.
func (c *call) appendLog(line string) {
	if strings.Contains(line, "FC Invoke End RequestId: "+c.id) {
		defer c.endOnce.Do(func() { close(c.endSeen) })
	}
	c.logMu.Lock()
	defer c.logMu.Unlock()
	if strings.Contains(line, "FC Invoke Start RequestId: "+c.id) {
		c.startSeen = true
	}
	c.log = append(c.log, line...)
	c.log = append(c.log, '\n')
	if over := len(c.log) - logTailBytes; over > 0 {
		c.log = append([]byte(nil), c.log[over:]...)
	}
}

// logTailBytes is how much log an x-fc-log-type: Tail invocation returns.
const logTailBytes = 4 << 10

// runtimeHeaders returns the headers the runtime SDK turns into an
// fccontext.FcContext.
func runtimeHeaders(fn Function, c *call) http.Header {
	h := http.Header{}
	set := func(k, v string) { h[http.CanonicalHeaderKey(k)] = []string{v} }
	set(hdrRequestID, c.id)
	set(hdrDeadline, strconv.FormatInt(c.deadline.UnixMilli(), 10))
	set(hdrTimeout, strconv.Itoa(int(math.Ceil(fn.Timeout.Seconds()))))
	set(hdrAccessKeyID, c.creds.AccessKeyID)
	set(hdrAccessKeySecret, c.creds.AccessKeySecret)
	set(hdrSecurityToken, c.creds.SecurityToken)
	set(hdrFunctionName, fn.Name)
	set(hdrFunctionHandler, fn.HandlerName)
	set(hdrFunctionMemory, strconv.Itoa(fn.MemoryMB))
	set(hdrFunctionType, "0")
	set(hdrServiceName, "")
	set(hdrLogProject, fn.LogProject)
	set(hdrLogStore, fn.LogStore)
	set(hdrQualifier, "LATEST")
	set(hdrVersionID, "")
	set(hdrRegion, fn.Region)
	set(hdrAccountID, fn.AccountID)
	set(hdrRetryCount, strconv.Itoa(c.retry))
	return h
}

// runtimeAPI serves one instance's runtime endpoint. It lives as long as the
// instance, across restarts of the process.
func (in *instance) runtimeAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+runtimePrefix+"/invocation/next", in.serveNext)
	mux.HandleFunc("POST "+runtimePrefix+"/invocation/{id}/response", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxSyncPayload+1))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		in.post(w, r.PathValue("id"), Result{Payload: body})
	})
	mux.HandleFunc("POST "+runtimePrefix+"/invocation/{id}/error", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		in.post(w, r.PathValue("id"), Result{Error: parseFunctionError(body)})
	})
	mux.HandleFunc("POST "+runtimePrefix+"/init/error", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		in.s.logf(in.fn.Name, "runtime init error: %s", body)
		writeRuntimeStatus(w, http.StatusOK, "OK")
	})
	return mux
}

func writeRuntimeStatus(w http.ResponseWriter, code int, status string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": status})
}

// serveNext blocks until an invocation is queued, then hands it to the
// process.
func (in *instance) serveNext(w http.ResponseWriter, r *http.Request) {
	for {
		in.mu.Lock()
		if in.stopped {
			in.mu.Unlock()
			writeRuntimeStatus(w, http.StatusServiceUnavailable, "instance stopped")
			return
		}
		if g, _ := r.Context().Value(connGenKey{}).(int); g != in.gen || in.dying {
			// A connection of a process that has died or is dying.
			in.mu.Unlock()
			writeRuntimeStatus(w, http.StatusGone, "process replaced")
			return
		}
		if len(in.queue) > 0 && r.Context().Err() == nil {
			c := in.queue[0]
			in.queue = in.queue[1:]
			// Alone on its process, the invocation's memory peak starts
			// from what the process holds now; beside others it is the
			// process's peak while they all ran.
			if len(in.inflight) == 0 && len(in.draining) == 0 && in.proc != nil {
				resetPeakRSS(in.proc.Pid)
			}
			in.inflight[c.id] = c
			in.handed++
			in.markReady()
			in.mu.Unlock()
			in.s.markRunning(c.id)
			h := w.Header()
			for k, v := range runtimeHeaders(in.fn, c) {
				h[k] = v
			}
			h.Set("Content-Type", "application/octet-stream")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(c.payload)
			return
		}
		wake := in.wake
		in.mu.Unlock()
		select {
		case <-wake:
		case <-r.Context().Done():
			return
		}
	}
}

// post completes an in-flight invocation with the process's answer.
func (in *instance) post(w http.ResponseWriter, id string, r Result) {
	in.mu.Lock()
	c, ok := in.inflight[id]
	if ok {
		delete(in.inflight, id)
		in.draining[id] = c
		in.markServed()
		if in.proc != nil {
			c.peakRSS = peakRSS(in.proc.Pid)
			in.peakRSS = max(in.peakRSS, c.peakRSS)
		}
		c.instance = in.id()
	}
	in.mu.Unlock()
	if !ok {
		// Timed out, or never dispatched: the answer has nowhere to go.
		writeRuntimeStatus(w, http.StatusBadRequest, "invocation "+id+" is not in flight")
		return
	}
	// The SDK logs its end line before it posts; the line travels through
	// a pipe, the post through HTTP. Wait briefly for the line so that the
	// log tail of the invocation is complete.
	// Whether the start line has reached us yet is itself a race, so wait
	// unless this process has already shown it prints no such lines.
	in.mu.Lock()
	silent := in.silentRuntime
	in.mu.Unlock()
	if !silent {
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-c.endSeen:
		case <-t.C:
			c.logMu.Lock()
			started := c.startSeen
			c.logMu.Unlock()
			if !started {
				in.mu.Lock()
				in.silentRuntime = true
				in.mu.Unlock()
			}
		}
		t.Stop()
	}
	in.mu.Lock()
	delete(in.draining, id)
	in.mu.Unlock()
	c.finish(r)
	writeRuntimeStatus(w, http.StatusOK, "OK")
}

// connGenKey keys the process generation of a runtime connection.
type connGenKey struct{}

// listenRuntime opens the instance's runtime endpoint on 127.0.0.1.
func (in *instance) listenRuntime() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	in.addr = ln.Addr().String()
	in.srv = &http.Server{
		Handler:     in.runtimeAPI(),
		BaseContext: func(net.Listener) context.Context { return in.ctx },
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			in.mu.Lock()
			defer in.mu.Unlock()
			return context.WithValue(ctx, connGenKey{}, in.gen)
		},
	}
	go func() { _ = in.srv.Serve(ln) }()
	return nil
}
