package acs

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Handler is one RPC action of a twin. It returns the response object (any
// value that marshals to a JSON object, or nil for an empty one; the frame
// adds "RequestId") or an error: an *Error anywhere in the chain is answered
// with its status and code, any other error with 500 InternalError.
type Handler func(ctx context.Context, call *Call) (any, error)

// RPCConfig configures an RPCServer.
type RPCConfig struct {
	// Product names the product in error bodies' Recommend link, e.g. "Kms".
	Product string
	// Version is the only API version served, e.g. "2016-01-20"; other
	// versions are refused with InvalidVersion.
	Version string
	// Region is the region this instance serves; every call carries it.
	Region string
	// Host is the HostId of error bodies; empty means
	// "<lower(product)>.<region>.aliyuncs.com".
	Host string
	// Verifier authenticates every request. Required.
	Verifier *Verifier
	// Limiter, when set, throttles calls per (account, Region, group).
	// Servers of several regions may share one.
	Limiter *Limiter
	// Faults are the initial faults; SetFaults changes them.
	Faults Faults
}

// RPCServer is the frame of an RPC-style OpenAPI twin for one region, an
// http.Handler serving POST/GET "/" calls. For each request it assigns a
// request id, verifies the signature, checks the Version, finds the action,
// counts the call, applies the limiter and the faults, runs the action and
// writes its JSON response with "RequestId" added, or the OpenAPI error.
// Actions may be registered at any time; an RPCServer is safe for
// concurrent use.
type RPCServer struct {
	product, version, region, host string
	verifier                       *Verifier
	limiter                        *Limiter
	faults                         atomic.Pointer[faultState]

	mu      sync.Mutex                            // serialises Handle
	actions atomic.Pointer[map[string]*rpcAction] // copy on write
}

var _ http.Handler = (*RPCServer)(nil)

type rpcAction struct {
	group string
	fn    Handler
	calls atomic.Int64
}

// NewRPCServer returns a server with no action registered. It panics when
// cfg.Verifier is nil, a programming error.
func NewRPCServer(cfg RPCConfig) *RPCServer {
	if cfg.Verifier == nil {
		panic("acs: NewRPCServer without a Verifier")
	}
	s := &RPCServer{product: cfg.Product, version: cfg.Version, region: cfg.Region, host: cfg.Host,
		verifier: cfg.Verifier, limiter: cfg.Limiter}
	if s.host == "" {
		s.host = strings.ToLower(cfg.Product) + ".aliyuncs.com"
		if cfg.Region != "" {
			s.host = strings.ToLower(cfg.Product) + "." + cfg.Region + ".aliyuncs.com"
		}
	}
	s.faults.Store(newFaultState(cfg.Faults))
	empty := map[string]*rpcAction{}
	s.actions.Store(&empty)
	return s
}

// Handle registers fn as action, throttled under the limiter's group
// (whose QPS the Limiter holds; "" or a group without quota is unlimited).
// Registering an action again replaces it and resets its call counter.
func (s *RPCServer) Handle(action, group string, fn Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := maps.Clone(*s.actions.Load())
	next[action] = &rpcAction{group: group, fn: fn}
	s.actions.Store(&next)
}

// SetFaults replaces the faults applied in front of the actions; the zero
// Faults turns fault injection off. The RNG restarts from f.Seed.
func (s *RPCServer) SetFaults(f Faults) { s.faults.Store(newFaultState(f)) }

// Region returns the region the server serves.
func (s *RPCServer) Region() string { return s.region }

// Verifier returns the verifier the server authenticates with.
func (s *RPCServer) Verifier() *Verifier { return s.verifier }

// Calls returns a snapshot of the call counter of every registered action
// (zero included). A call is counted once it is authenticated, names a
// registered action of the served version and before throttling and
// faults: it counts what callers attempted, whether or not it was served.
func (s *RPCServer) Calls() map[string]int64 {
	acts := *s.actions.Load()
	out := make(map[string]int64, len(acts))
	for name, a := range acts {
		out[name] = a.calls.Load()
	}
	return out
}

// CallCount returns the call counter of action (see Calls); 0 when the
// action is not registered.
func (s *RPCServer) CallCount(action string) int64 {
	if a := (*s.actions.Load())[action]; a != nil {
		return a.calls.Load()
	}
	return 0
}

// ServeHTTP serves one RPC call.
func (s *RPCServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := NewRequestID()
	caller, params, err := s.verifier.VerifyRPC(r)
	if err != nil {
		s.writeError(w, reqID, err)
		return
	}
	if params.Get("Version") != s.version {
		s.writeError(w, reqID, ErrInvalidVersion)
		return
	}
	name := params.Get("Action")
	a := (*s.actions.Load())[name]
	if a == nil {
		s.writeError(w, reqID, ErrActionNotFound)
		return
	}
	a.calls.Add(1)
	if s.limiter != nil && !s.limiter.Allow(caller.AccountID, s.region, a.group) {
		s.writeError(w, reqID, ErrThrottled)
		return
	}
	ctx := r.Context()
	if err := s.faults.Load().apply(ctx, name); err != nil {
		if ctx.Err() != nil {
			return // the caller is gone
		}
		s.writeError(w, reqID, err)
		return
	}
	call := &Call{Action: name, Region: s.region, RequestID: reqID, Caller: caller, Params: params}
	result, err := invoke(ctx, a.fn, call)
	if err != nil {
		s.writeError(w, reqID, err)
		return
	}
	body, err := responseBody(reqID, result)
	if err != nil {
		s.writeError(w, reqID, err)
		return
	}
	h := w.Header()
	h["Content-Type"] = []string{"application/json;charset=utf-8"}
	h["X-Acs-Request-Id"] = []string{reqID}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// invoke runs fn, turning a panic into InternalError: a broken action must
// not take the twin down.
func invoke(ctx context.Context, fn Handler, call *Call) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			result, err = nil, ErrInternal
		}
	}()
	return fn(ctx, call)
}

// responseBody marshals result and splices "RequestId" in as its first
// member.
func responseBody(reqID string, result any) ([]byte, error) {
	var raw []byte
	if result != nil {
		var err error
		if raw, err = json.Marshal(result); err != nil {
			return nil, errors.Join(ErrInternal, err)
		}
	}
	if string(raw) == "null" {
		raw = nil
	}
	if len(raw) > 0 && raw[0] != '{' {
		return nil, ErrInternal
	}
	out := make([]byte, 0, len(raw)+len(reqID)+16)
	out = append(out, `{"RequestId":"`...)
	out = append(out, reqID...)
	out = append(out, '"')
	if len(raw) > 2 {
		out = append(out, ',')
		out = append(out, raw[1:]...)
	} else {
		out = append(out, '}')
	}
	return out, nil
}

func (s *RPCServer) writeError(w http.ResponseWriter, reqID string, err error) {
	WriteProductError(w, s.product, reqID, s.host, AsError(err))
}
