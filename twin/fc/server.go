package fc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/kmsmig/kmsmig/twin/acs"
)

// Refusals of the twin, as FC answers them. Errors returned by Server wrap
// one of these; errors.As(err, new(*acs.Error)) recovers status and code.
var (
	ErrFunctionNotFound = &acs.Error{Status: http.StatusNotFound, Code: "FunctionNotFound", Message: "function not found"}
	ErrTaskExists       = &acs.Error{Status: http.StatusConflict, Code: "AsyncTaskAlreadyExist", Message: "async task id already exists"}
	ErrPayloadTooLarge  = &acs.Error{Status: http.StatusRequestEntityTooLarge, Code: "EntityTooLarge", Message: "payload size exceeds maximum allowed size"}
	errClosed           = &acs.Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Message: "the FC twin is closed"}
)

// Function error types the twin itself reports (besides those the runtime
// SDK posts, which carry the Go type name of the error or panic value).
const (
	ErrorTypeTimeout       = "FunctionTimeoutError"
	ErrorTypeProcessExited = "FunctionProcessExited"
	ErrorTypeStart         = "FunctionStartError"
	ErrorTypeCredentials   = "FunctionCredentialsError"
)

// Config configures a Server. The zero value serves functions without
// credentials on a wall-clock Clock.
type Config struct {
	// Keyring mints the STS credentials of a function's role for each
	// invocation; nil means functions get empty credentials.
	Keyring *acs.Keyring
	// CredentialTTL is how long minted credentials last; zero means 1 h.
	CredentialTTL time.Duration
	// Clock schedules timers and retry back-off; nil means RealClock().
	Clock *Clock
	// RetryBackoff is the simulated delay before the first retry of a
	// failed asynchronous invocation; it doubles per retry up to
	// MaxRetryBackoff. Zero means 1 s and 5 min.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
	// Region and AccountID are used for functions that leave theirs empty.
	Region    string
	AccountID string
	// Log receives every line the functions write and the twin's own notes
	// about them (Stream "twin"). It is called from many goroutines.
	Log func(LogLine)
	// Verifier checks the signature of each InvokeFunction request; nil
	// means requests are not verified. A caller may invoke only functions
	// of its own account.
	Verifier ROAVerifier
	// Now is the wall clock credentials are minted against; nil means the
	// Verifier's Now when it has one (*acs.Verifier does), else time.Now.
	Now func() time.Time
}

// LogLine is one line of a function's output.
type LogLine struct {
	Time     time.Time // simulated
	Function string
	Stream   string // "stdout", "stderr" or "twin"
	Text     string
}

// Server is the FC twin: deployed functions, their instances, timers,
// asynchronous queue and the InvokeFunction API. It is safe for concurrent
// use.
type Server struct {
	cfg   Config
	clock *Clock

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	fns     map[string]*deployed
	records map[string]*Invocation
	order   []string          // request ids in arrival order
	tasks   map[string]string // function + "\x00" + task id → request id
	changed chan struct{}     // closed and replaced when a record changes
	logs    map[string][]LogLine
	api     *http.Server
	// next is each enabled timer's next firing (function + "\x00" +
	// trigger name), as its goroutine waits for it.
	next     map[string]timerNext
	timerSeq uint64
}

// timerNext is the next firing of one timer goroutine (owner), which
// alone may remove it.
type timerNext struct {
	Firing
	owner uint64
}

type deployed struct {
	fn         Function
	pool       *pool
	stopTimers context.CancelFunc
}

func (d *deployed) stop() {
	d.stopTimers()
	d.pool.stop()
}

// New returns a Server with no functions. Close releases it.
func New(cfg Config) *Server {
	if cfg.Clock == nil {
		cfg.Clock = RealClock()
	}
	if cfg.CredentialTTL <= 0 {
		cfg.CredentialTTL = time.Hour
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = time.Second
	}
	if cfg.Now == nil {
		if n, ok := cfg.Verifier.(interface{ Now() time.Time }); ok {
			cfg.Now = n.Now
		} else {
			cfg.Now = time.Now
		}
	}
	if cfg.MaxRetryBackoff <= 0 {
		cfg.MaxRetryBackoff = 5 * time.Minute
	}
	s := &Server{
		cfg:     cfg,
		clock:   cfg.Clock,
		fns:     map[string]*deployed{},
		records: map[string]*Invocation{},
		tasks:   map[string]string{},
		changed: make(chan struct{}),
		logs:    map[string][]LogLine{},
		next:    map[string]timerNext{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Clock returns the server's clock.
func (s *Server) Clock() *Clock { return s.clock }

// Deploy creates or replaces a function. A replaced function's process is
// stopped (its queued and in-flight invocations fail) and its timers end.
// A binary function's process starts on its first invocation. Deploy fails
// on an invalid Function, a Binary that is not a file, or a Role whose
// account the Keyring does not know.
func (s *Server) Deploy(fn Function) error {
	if fn.Region == "" {
		fn.Region = s.cfg.Region
	}
	if fn.AccountID == "" {
		fn.AccountID = s.cfg.AccountID
	}
	fn, err := fn.withDefaults()
	if err != nil {
		return err
	}
	if s.cfg.Keyring != nil && fn.Role != "" {
		if _, ok := s.cfg.Keyring.Account(fn.AccountID); !ok {
			return fmt.Errorf("fc: function %s: role %s: account %q is not in the keyring", fn.Name, fn.Role, fn.AccountID)
		}
	}
	d := &deployed{fn: fn}
	if fn.Binary != "" {
		st, err := os.Stat(fn.Binary)
		if err != nil {
			return fmt.Errorf("fc: function %s: binary: %w", fn.Name, err)
		}
		if st.IsDir() {
			return fmt.Errorf("fc: function %s: binary %s is a directory", fn.Name, fn.Binary)
		}
	}
	if d.pool, err = newPool(s, fn); err != nil {
		return err
	}
	tctx, cancel := context.WithCancel(s.ctx)
	d.stopTimers = cancel
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		d.stop()
		return errClosed
	}
	old := s.fns[fn.Name]
	s.fns[fn.Name] = d
	for _, t := range fn.Triggers {
		if t.Enable {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.runTimer(tctx, fn.Name, t)
			}()
		}
	}
	s.mu.Unlock()
	if old != nil {
		old.stop()
	}
	return nil
}

// HandleFunc deploys an in-process function named name with the server's
// default region and account and the default timeout.
func (s *Server) HandleFunc(name string, h HandlerFunc) error {
	return s.Deploy(Function{Name: name, Handler: h})
}

// Function returns the deployed function named name.
func (s *Server) Function(name string) (Function, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.fns[name]
	if !ok {
		return Function{}, false
	}
	return d.fn, true
}

func (s *Server) lookup(name string) (*deployed, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	d, ok := s.fns[name]
	if !ok {
		return nil, fmt.Errorf("fc: function %s: %w", name, ErrFunctionNotFound)
	}
	return d, nil
}

// RuntimeAddr returns the host:port of a binary function's runtime API
// endpoint (what its process gets as FC_RUNTIME_API).
func (s *Server) RuntimeAddr(name string) (string, error) {
	d, err := s.lookup(name)
	if err != nil {
		return "", err
	}
	if !d.pool.binary() {
		return "", fmt.Errorf("fc: function %s runs in-process", name)
	}
	return d.pool.processes()[0].addr, nil
}

// ColdStarts returns every start of a binary function's processes (of
// every instance), oldest first.
func (s *Server) ColdStarts(name string) []ColdStart {
	d, err := s.lookup(name)
	if err != nil {
		return nil
	}
	return d.pool.coldStarts()
}

// Kill ends a binary function's running processes (every instance's) as
// a crash would: their in-flight invocations fail and the twin restarts
// them.
func (s *Server) Kill(name string) error {
	d, err := s.lookup(name)
	if err != nil {
		return err
	}
	if !d.pool.binary() {
		return fmt.Errorf("fc: function %s runs in-process", name)
	}
	return d.pool.kill()
}

// Handler returns the InvokeFunction API (FC 2023-03-30) as an
// http.Handler.
func (s *Server) Handler() http.Handler { return s.apiHandler() }

// Listen serves the InvokeFunction API on addr ("127.0.0.1:0" for any free
// port) until Close, and returns the address it listens on.
func (s *Server) Listen(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("fc: listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s.apiHandler(), ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	if s.closed || s.api != nil {
		s.mu.Unlock()
		ln.Close()
		if s.closed {
			return "", errClosed
		}
		return "", fmt.Errorf("fc: already listening")
	}
	s.api = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), nil
}

// Close stops the timers, the API listener and every function process,
// fails whatever is queued, and waits for the asynchronous queue to drain.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	fns := s.fns
	api := s.api
	s.mu.Unlock()
	s.cancel()
	if api != nil {
		_ = api.Close()
	}
	for _, d := range fns {
		d.stop()
	}
	s.wg.Wait()
	return nil
}

// Logs returns the last lines (at most 500) logged by or about a function.
func (s *Server) Logs(name string) []LogLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.logs[name])
}

const keepLogLines = 500

func (s *Server) emit(l LogLine) {
	l.Time = s.clock.Now()
	s.mu.Lock()
	ls := append(s.logs[l.Function], l)
	if len(ls) > keepLogLines {
		ls = slices.Clone(ls[len(ls)-keepLogLines:])
	}
	s.logs[l.Function] = ls
	s.mu.Unlock()
	if s.cfg.Log != nil {
		s.cfg.Log(l)
	}
}

func (s *Server) logf(fn, format string, args ...any) {
	s.emit(LogLine{Function: fn, Stream: "twin", Text: fmt.Sprintf(format, args...)})
}

// asAPIError recovers the refusal behind err.
func asAPIError(err error) *acs.Error {
	var e *acs.Error
	if errors.As(err, &e) {
		return &acs.Error{Status: e.Status, Code: e.Code, Message: err.Error()}
	}
	return &acs.Error{Status: http.StatusInternalServerError, Code: "InternalError", Message: err.Error()}
}
