package fc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
	"github.com/kmsmig/kmsmig/twin/acs"
)

// Source says what caused an invocation.
type Source string

// Sources of invocations.
const (
	SourceDirect      Source = "direct"      // Server.Invoke / InvokeAsync
	SourceAPI         Source = "api"         // InvokeFunction over HTTP
	SourceTimer       Source = "timer"       // a timer trigger
	SourceDestination Source = "destination" // an async destination
)

// Invocation types, as x-fc-invocation-type names them.
const (
	TypeSync  = "Sync"
	TypeAsync = "Async"
)

// Invocation statuses. Succeeded and Failed are final.
const (
	StatusEnqueued  = "Enqueued"
	StatusRunning   = "Running"
	StatusRetrying  = "Retrying"
	StatusSucceeded = "Succeeded"
	StatusFailed    = "Failed"
)

// Invocation is the twin's record of one invocation, across its retries.
type Invocation struct {
	RequestID string
	Function  string
	Type      string // TypeSync or TypeAsync
	TaskID    string // x-fc-async-task-id, if given
	Source    Source
	Status    string
	// Attempts counts runs of the function (1 + retries).
	Attempts int
	// ErrorType is the errorType of the last failed attempt.
	ErrorType string
	Event     []byte
	Response  []byte // the last attempt's payload or error JSON
	// Destination is the request id of the invocation dispatched to the
	// OnSuccess/OnFailure destination; DestinationError says why none was.
	Destination      string
	DestinationError string
	// Instance is the FC_INSTANCE_ID of the instance that ran the last
	// attempt, and PeakRSS the peak resident set (bytes) of its process
	// while that attempt ran (the twin's own figures; see Usage). Empty
	// and zero for in-process handlers, and for an attempt that got no
	// answer (timed out, process died).
	Instance string
	PeakRSS  int64
	// Enqueued and Finished are simulated times.
	Enqueued time.Time
	Finished time.Time
}

// Final reports whether the invocation has ended.
func (i Invocation) Final() bool { return i.Status == StatusSucceeded || i.Status == StatusFailed }

// Result is the outcome of one run of a function.
type Result struct {
	RequestID string
	// Payload is the function's response; nil when Error is set.
	Payload []byte
	// Error is the function error, nil on success.
	Error *FunctionError
	// Log is the function's output while it ran (last 4 KB; binaries only).
	Log string
	// Instance and PeakRSS are where the attempt ran and its process's
	// peak resident set while it ran (bytes); see Invocation.
	Instance string
	PeakRSS  int64
}

// FunctionError is a function's failure as the runtime reports it (the
// JSON the runtime SDK posts to .../error).
type FunctionError struct {
	Message    string          `json:"errorMessage"`
	Type       string          `json:"errorType"`
	StackTrace json.RawMessage `json:"stackTrace,omitempty"`
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("fc: function error %s: %s", e.Type, e.Message)
}

// JSON returns the error as FC returns it in a response body.
func (e *FunctionError) JSON() []byte {
	b, _ := json.Marshal(e)
	return b
}

func parseFunctionError(body []byte) *FunctionError {
	var e FunctionError
	if err := json.Unmarshal(body, &e); err != nil || (e.Type == "" && e.Message == "") {
		return &FunctionError{Type: "Runtime.Unknown", Message: string(body)}
	}
	return &e
}

// Invoke runs a function synchronously and returns its result; a function
// error is Result.Error, not err. err is a refusal: ErrFunctionNotFound,
// ErrPayloadTooLarge, or the server being closed.
func (s *Server) Invoke(ctx context.Context, name string, event []byte) (Result, error) {
	return s.invokeSync(ctx, name, acs.NewRequestID(), event, SourceDirect)
}

// InvokeAsync queues an asynchronous invocation and returns its request id.
// A non-empty taskID is accepted once per function; again it is refused
// with ErrTaskExists. Failed runs are retried per the function's
// AsyncInvokeConfig, then the destination is invoked.
func (s *Server) InvokeAsync(ctx context.Context, name string, event []byte, taskID string) (string, error) {
	return s.invokeAsync(ctx, name, event, taskID, SourceDirect)
}

func (s *Server) invokeSync(ctx context.Context, name, id string, event []byte, src Source) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	d, err := s.lookup(name)
	if err != nil {
		return Result{}, err
	}
	if len(event) > MaxSyncPayload {
		return Result{}, fmt.Errorf("fc: function %s: %d bytes: %w", name, len(event), ErrPayloadTooLarge)
	}
	s.addRecord(&Invocation{RequestID: id, Function: name, Type: TypeSync, Source: src, Status: StatusEnqueued, Attempts: 1, Event: event})
	r := s.attempt(d, id, event, 0)
	s.finishRecord(id, r)
	return r, nil
}

func (s *Server) invokeAsync(ctx context.Context, name string, event []byte, taskID string, src Source) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if _, err := s.lookup(name); err != nil {
		return "", err
	}
	if len(event) > MaxAsyncPayload {
		return "", fmt.Errorf("fc: function %s: %d bytes: %w", name, len(event), ErrPayloadTooLarge)
	}
	id := acs.NewRequestID()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return "", errClosed
	}
	if taskID != "" {
		key := name + "\x00" + taskID
		if prev, ok := s.tasks[key]; ok {
			s.mu.Unlock()
			return "", fmt.Errorf("fc: function %s: task %s (request %s): %w", name, taskID, prev, ErrTaskExists)
		}
		s.tasks[key] = id
	}
	s.addRecordLocked(&Invocation{RequestID: id, Function: name, Type: TypeAsync, TaskID: taskID, Source: src, Status: StatusEnqueued, Event: event})
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		s.runAsync(name, id, event)
	}()
	return id, nil
}

// runAsync runs an asynchronous invocation with its retries and hands the
// outcome to the destination.
func (s *Server) runAsync(name, id string, event []byte) {
	var (
		r       Result
		fn      Function
		backoff = s.cfg.RetryBackoff
	)
	for attempt := 0; ; attempt++ {
		d, err := s.lookup(name)
		if err != nil {
			r = Result{RequestID: id, Error: &FunctionError{Type: asAPIError(err).Code, Message: err.Error()}}
			break
		}
		fn = d.fn
		s.update(id, func(inv *Invocation) { inv.Attempts = attempt + 1 })
		r = s.attempt(d, id, event, attempt)
		if r.Error == nil || attempt >= fn.AsyncInvokeConfig.Retries() {
			break
		}
		s.update(id, func(inv *Invocation) { inv.Status = StatusRetrying; inv.ErrorType = r.Error.Type })
		if s.clock.Sleep(s.ctx, backoff) != nil {
			break
		}
		backoff = min(2*backoff, s.cfg.MaxRetryBackoff)
	}
	inv := s.finishRecord(id, r)
	dest := fn.AsyncInvokeConfig.OnSuccess
	if r.Error != nil {
		dest = fn.AsyncInvokeConfig.OnFailure
	}
	if dest == "" {
		return
	}
	destID, err := s.dispatchDestination(dest, fn, inv, r)
	s.update(id, func(inv *Invocation) {
		inv.Destination = destID
		if err != nil {
			inv.DestinationError = err.Error()
		}
	})
}

// DestinationEvent is what an async destination function receives. It
// approximates FC's destination event; see the package doc.
type DestinationEvent struct {
	Timestamp       int64                      `json:"timestamp"`
	RequestContext  DestinationRequestContext  `json:"requestContext"`
	RequestPayload  string                     `json:"requestPayload"`
	ResponseContext DestinationResponseContext `json:"responseContext"`
	ResponsePayload string                     `json:"responsePayload"`
}

// DestinationRequestContext describes the invocation a destination event
// reports on.
type DestinationRequestContext struct {
	RequestID              string `json:"requestId"`
	FunctionArn            string `json:"functionArn"`
	Condition              string `json:"condition"` // "Success" or "UnhandledInvocationError"
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

// DestinationResponseContext describes how the invocation ended.
type DestinationResponseContext struct {
	StatusCode    int    `json:"statusCode"`
	FunctionError string `json:"functionError"` // errorType of the last attempt
}

func (s *Server) dispatchDestination(arn string, fn Function, inv Invocation, r Result) (string, error) {
	_, _, name, err := ParseFunctionARN(arn)
	if err != nil {
		return "", err
	}
	ev := DestinationEvent{
		Timestamp: s.clock.Now().Unix(),
		RequestContext: DestinationRequestContext{
			RequestID:              inv.RequestID,
			FunctionArn:            fn.ARN(),
			Condition:              "Success",
			ApproximateInvokeCount: inv.Attempts,
		},
		RequestPayload:  string(inv.Event),
		ResponseContext: DestinationResponseContext{StatusCode: 200},
		ResponsePayload: string(r.Payload),
	}
	if r.Error != nil {
		ev.RequestContext.Condition = "UnhandledInvocationError"
		ev.ResponseContext.FunctionError = r.Error.Type
		ev.ResponsePayload = string(r.Error.JSON())
	}
	body, _ := json.Marshal(ev)
	id, err := s.invokeAsync(context.Background(), name, body, "", SourceDestination)
	if err != nil {
		s.logf(fn.Name, "destination %s: %v", arn, err)
	}
	return id, err
}

// attempt runs fn once on event and waits for the result, a timeout, or
// the server closing.
func (s *Server) attempt(d *deployed, id string, event []byte, retry int) Result {
	fn := d.fn
	// The invocation waits for a slot on an instance; its timeout runs from
	// the moment it has one, as FC's runs from the start of execution.
	slot, err := d.pool.acquire(s.ctx)
	if err != nil {
		return Result{RequestID: id, Error: &FunctionError{Type: ErrorTypeProcessExited, Message: "the function instance was stopped"}}
	}
	defer d.pool.release(slot)
	creds, err := s.credentials(fn)
	if err != nil {
		return Result{RequestID: id, Error: &FunctionError{Type: ErrorTypeCredentials, Message: err.Error()}}
	}
	c := newCall(id, event, retry, time.Now().Add(fn.Timeout), creds)
	inst := slot.inst
	if inst == nil {
		s.markRunning(id)
		go s.runInProcess(fn, c)
	} else if err := inst.submit(c); err != nil {
		c.finish(Result{Error: &FunctionError{Type: ErrorTypeProcessExited, Message: err.Error()}})
	}
	t := time.NewTimer(time.Until(c.deadline))
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		if inst != nil {
			inst.abandon(c)
		}
		c.finish(timeoutResult(fn))
	}
	<-c.done
	r := c.result
	if inst != nil {
		inst.mu.Lock()
		r.Instance, r.PeakRSS = c.instance, c.peakRSS
		inst.mu.Unlock()
	}
	return r
}

func timeoutResult(fn Function) Result {
	return Result{Error: &FunctionError{Type: ErrorTypeTimeout, Message: fmt.Sprintf("Function timed out after %s", fn.Timeout)}}
}

// credentials mints STS credentials of the function's role.
func (s *Server) credentials(fn Function) (acs.Credential, error) {
	if s.cfg.Keyring == nil || fn.Role == "" {
		return acs.Credential{}, nil
	}
	return s.cfg.Keyring.MintSTS(fn.AccountID, fn.Role, s.cfg.CredentialTTL, s.cfg.Now())
}

// runInProcess runs an in-process handler with the context the runtime SDK
// would build, recovering a panic into a function error.
func (s *Server) runInProcess(fn Function, c *call) {
	ctx, cancel := context.WithDeadline(s.ctx, c.deadline)
	defer cancel()
	ctx = fccontext.NewContext(ctx, &fccontext.FcContext{
		RequestID: c.id,
		Credentials: fccontext.Credentials{
			AccessKeyId:     c.creds.AccessKeyID,
			AccessKeySecret: c.creds.AccessKeySecret,
			SecurityToken:   c.creds.SecurityToken,
		},
		Function: fccontext.Function{
			Name:    fn.Name,
			Handler: fn.HandlerName,
			Memory:  fmt.Sprint(fn.MemoryMB),
			Timeout: int((fn.Timeout + time.Second - 1) / time.Second),
		},
		Service:    fccontext.Service{LogProject: fn.LogProject, LogStore: fn.LogStore, Qualifier: "LATEST"},
		Region:     fn.Region,
		AccountId:  fn.AccountID,
		RetryCount: c.retry,
	})
	defer func() {
		if v := recover(); v != nil {
			c.finish(Result{Error: &FunctionError{Type: typeName(v), Message: fmt.Sprint(v)}})
		}
	}()
	out, err := fn.Handler(ctx, c.payload)
	if err != nil && ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
		c.finish(timeoutResult(fn))
		return
	}
	if err != nil {
		c.finish(Result{Error: &FunctionError{Type: typeName(err), Message: err.Error()}})
		return
	}
	c.finish(Result{Payload: out})
}

// typeName names an error or panic value's type as the runtime SDK does.
func typeName(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return "nil"
	}
	if t.Kind() == reflect.Pointer {
		return t.Elem().Name()
	}
	return t.Name()
}

// Records.

func (s *Server) addRecord(inv *Invocation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addRecordLocked(inv)
}

func (s *Server) addRecordLocked(inv *Invocation) {
	inv.Enqueued = s.clock.Now()
	s.records[inv.RequestID] = inv
	s.order = append(s.order, inv.RequestID)
	s.notifyLocked()
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) update(id string, f func(*Invocation)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inv, ok := s.records[id]; ok {
		f(inv)
		s.notifyLocked()
	}
}

func (s *Server) markRunning(id string) {
	s.update(id, func(inv *Invocation) {
		if !inv.Final() {
			inv.Status = StatusRunning
		}
	})
}

func (s *Server) finishRecord(id string, r Result) Invocation {
	var out Invocation
	s.update(id, func(inv *Invocation) {
		inv.Finished = s.clock.Now()
		inv.Instance, inv.PeakRSS = r.Instance, r.PeakRSS
		if r.Error != nil {
			inv.Status = StatusFailed
			inv.ErrorType = r.Error.Type
			inv.Response = r.Error.JSON()
		} else {
			inv.Status = StatusSucceeded
			inv.Response = r.Payload
		}
		out = *inv
		out.Event = slices.Clone(inv.Event)
	})
	return out
}

// Invocations returns a copy of every invocation record, in arrival order.
func (s *Server) Invocations() []Invocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Invocation, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, *s.records[id])
	}
	return out
}

// Invocation returns the record of one request.
func (s *Server) Invocation(requestID string) (Invocation, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.records[requestID]
	if !ok {
		return Invocation{}, false
	}
	return *inv, true
}

// WaitFor blocks until a final invocation record satisfies match (and, for
// an asynchronous one, its destination has been dispatched) and returns it.
// It returns ctx.Err() unchanged if ctx ends first.
func (s *Server) WaitFor(ctx context.Context, match func(Invocation) bool) (Invocation, error) {
	for {
		s.mu.Lock()
		for _, id := range s.order {
			inv := s.records[id]
			if inv.Final() && match(*inv) && s.settledLocked(inv) {
				out := *inv
				s.mu.Unlock()
				return out, nil
			}
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Invocation{}, ctx.Err()
		}
	}
}

// settledLocked reports whether nothing more will happen to inv's record.
func (s *Server) settledLocked(inv *Invocation) bool {
	if inv.Type != TypeAsync || inv.Destination != "" || inv.DestinationError != "" {
		return true
	}
	d, ok := s.fns[inv.Function]
	if !ok {
		return true
	}
	cfg := d.fn.AsyncInvokeConfig
	if inv.Status == StatusSucceeded {
		return cfg.OnSuccess == ""
	}
	return cfg.OnFailure == ""
}

// Quiet is what Quiesce shows the function it runs.
type Quiet struct {
	// History is every invocation record, in arrival order.
	History []Invocation
	// Timers is the next firing of every enabled timer, earliest first
	// (as NextFirings).
	Timers []Firing
}

// Quiesce runs f while nothing is in flight: no invocation enqueued,
// running or waiting to retry, and every asynchronous one's destination
// dispatched. No invocation can begin while f runs (timers, the API and
// destinations wait for it), so f may move the clock (Clock.Jump) or change
// the world the functions see, knowing that none of them is looking. f
// must not call the Server. Quiesce reports whether f ran.
func (s *Server) Quiesce(f func(Quiet)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	q := Quiet{History: make([]Invocation, 0, len(s.order))}
	for _, id := range s.order {
		inv := s.records[id]
		if !inv.Final() || !s.settledLocked(inv) {
			return false
		}
		q.History = append(q.History, *inv)
	}
	q.Timers = s.firingsLocked()
	f(q)
	return true
}

// Wait blocks until the invocation requestID is final (see WaitFor).
func (s *Server) Wait(ctx context.Context, requestID string) (Invocation, error) {
	return s.WaitFor(ctx, func(inv Invocation) bool { return inv.RequestID == requestID })
}
