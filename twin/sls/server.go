package sls

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kmsmig/kmsmig/twin/acs"
)

// MaxLogGroupBytes is the largest log group (uncompressed protobuf) PutLogs
// accepts, as in the real service.
const MaxLogGroupBytes = 5 << 20

// maxBodyBytes caps what the twin reads of any request body.
const maxBodyBytes = 32 << 20

// Server is the SLS twin. It is an http.Handler; it is safe for concurrent
// use. Create it with New.
type Server struct {
	keys   *acs.Keyring
	now    func() time.Time
	region string

	mu       sync.Mutex
	projects map[string]*project
	fault    func(op, project, logstore string) *Error
}

// Option configures a Server.
type Option func(*Server)

// WithClock makes the server read time from now (signature skew, project
// and logstore timestamps, STS expiry).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithRegion makes the server refuse V4 signatures scoped to another region.
// Without it any region in the credential scope is accepted.
func WithRegion(region string) Option { return func(s *Server) { s.region = region } }

// New returns an SLS twin that authenticates callers against keys.
func New(keys *acs.Keyring, opts ...Option) *Server {
	s := &Server{keys: keys, now: time.Now, projects: map[string]*project{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// SetFault installs f, consulted before every authenticated operation (op
// is the API name, e.g. "PutLogs", "GetLogs", "CreateLogStore"); a non-nil
// result is returned to the caller instead of performing the operation.
// nil removes the fault.
func (s *Server) SetFault(f func(op, project, logstore string) *Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// AddProject creates a project owned by accountID, as the console would. It
// is idempotent for the same owner and fails when another account owns the
// name.
func (s *Server) AddProject(accountID, name, description string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.projects[name]; ok {
		if p.owner != accountID {
			return errorf(http.StatusBadRequest, CodeProjectAlreadyExist, "Project %s already exist", name)
		}
		return nil
	}
	s.projects[name] = newProject(name, accountID, description, s.now())
	return nil
}

// Content is one key/value pair of a log or a log tag.
type Content struct {
	Key   string
	Value string
}

// Log is one stored log as the twin received it.
type Log struct {
	Time     time.Time
	Topic    string
	Source   string
	Tags     []Content
	Contents []Content
}

// Value returns the value of the first content named key.
func (l Log) Value(key string) (string, bool) {
	for _, c := range l.Contents {
		if c.Key == key {
			return c.Value, true
		}
	}
	return "", false
}

// Logs returns a copy of the logs stored in a logstore, in arrival order;
// nil when the project or logstore does not exist.
func (s *Server) Logs(projectName, logstore string) []Log {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.projects[projectName]
	if !ok {
		return nil
	}
	ls, ok := p.logstores[logstore]
	if !ok {
		return nil
	}
	out := make([]Log, len(ls.logs))
	copy(out, ls.logs)
	return out
}

// HTTPClient returns a client that sends every request to addr (host:port)
// whatever the URL's host says. The SDK addresses a project as
// "<project>.<endpoint>", which does not resolve when the endpoint is an IP
// address such as the twin's; the Host header still carries the project.
func HTTPClient(addr string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// projectFromHost takes the project from "<project>.<endpoint host>[:port]".
// A bare IP address or "localhost" names no project.
func projectFromHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" || net.ParseIP(host) != nil {
		return ""
	}
	name, _, ok := strings.Cut(host, ".")
	if !ok {
		return ""
	}
	return name
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

// request is one API call being served.
type request struct {
	r        *http.Request
	w        http.ResponseWriter
	body     []byte
	caller   acs.Caller
	project  string
	logstore string
}

// ServeHTTP serves the SLS REST API subset listed in the package doc.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-log-requestid", newRequestID())
	w.Header().Set("Server", "nginx")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		writeError(w, errorf(http.StatusRequestEntityTooLarge, CodePostBodyTooLarge, "body exceeds %d bytes", maxBodyBytes))
		return
	}
	op, logstore, ok := route(r.Method, r.URL.Path, r.URL.Query().Get("type"))
	if !ok {
		writeError(w, errorf(http.StatusNotFound, CodeNotSupported, "%s %s is not supported by the SLS twin", r.Method, r.URL.Path))
		return
	}
	caller, e := s.authenticate(r, body)
	if e != nil {
		writeError(w, e)
		return
	}
	req := &request{r: r, w: w, body: body, caller: caller, project: projectFromHost(r.Host), logstore: logstore}
	if req.project == "" {
		writeError(w, errorf(http.StatusBadRequest, CodeProjectNotExist, "The project name is missing from the Host header %q", r.Host))
		return
	}
	s.mu.Lock()
	fault := s.fault
	s.mu.Unlock()
	if fault != nil {
		if e := fault(op.name, req.project, logstore); e != nil {
			writeError(w, e)
			return
		}
	}
	if !op.createsProject {
		if e := s.authorize(req, op.name); e != nil {
			writeError(w, e)
			return
		}
	}
	if e := op.serve(s, req); e != nil {
		writeError(w, e)
	}
}

// authorize checks that the project exists and belongs to the caller's
// account.
func (s *Server) authorize(req *request, action string) *Error {
	s.mu.Lock()
	p, ok := s.projects[req.project]
	s.mu.Unlock()
	if !ok {
		return errorf(http.StatusNotFound, CodeProjectNotExist, "Project %s does not exist", req.project)
	}
	if p.owner != req.caller.AccountID {
		return errorf(http.StatusUnauthorized, CodeUnauthorized,
			"denied by sts or ram, action: log:%s, resource: acs:log:*:%s:project/%s", action, req.caller.AccountID, req.project)
	}
	return nil
}

type operation struct {
	name           string
	createsProject bool
	serve          func(*Server, *request) *Error
}

// route maps a method and path to an operation and the logstore it names.
func route(method, path, typ string) (operation, string, bool) {
	if path == "/" || path == "" {
		switch method {
		case http.MethodPost:
			return operation{name: "CreateProject", createsProject: true, serve: (*Server).createProject}, "", true
		case http.MethodGet:
			return operation{name: "GetProject", serve: (*Server).getProject}, "", true
		case http.MethodDelete:
			return operation{name: "DeleteProject", serve: (*Server).deleteProject}, "", true
		}
		return operation{}, "", false
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if parts[0] != "logstores" {
		return operation{}, "", false
	}
	switch len(parts) {
	case 1:
		switch method {
		case http.MethodPost:
			return operation{name: "CreateLogStore", serve: (*Server).createLogStore}, "", true
		case http.MethodGet:
			return operation{name: "ListLogStore", serve: (*Server).listLogStores}, "", true
		}
	case 2:
		ls := parts[1]
		switch {
		case method == http.MethodGet && typ == "log":
			return operation{name: "GetLogs", serve: (*Server).getLogsV2}, ls, true
		case method == http.MethodGet && typ == "":
			return operation{name: "GetLogStore", serve: (*Server).getLogStore}, ls, true
		case method == http.MethodPost:
			return operation{name: "PutLogs", serve: (*Server).putLogs}, ls, true
		case method == http.MethodDelete:
			return operation{name: "DeleteLogStore", serve: (*Server).deleteLogStore}, ls, true
		}
	case 3:
		ls := parts[1]
		switch {
		case parts[2] == "logs" && method == http.MethodPost:
			return operation{name: "GetLogs", serve: (*Server).getLogsV3}, ls, true
		case parts[2] == "index" && method == http.MethodPost:
			return operation{name: "CreateIndex", serve: (*Server).createIndex}, ls, true
		case parts[2] == "index" && method == http.MethodPut:
			return operation{name: "UpdateIndex", serve: (*Server).updateIndex}, ls, true
		case parts[2] == "index" && method == http.MethodGet:
			return operation{name: "GetIndex", serve: (*Server).getIndex}, ls, true
		case parts[2] == "index" && method == http.MethodDelete:
			return operation{name: "DeleteIndex", serve: (*Server).deleteIndex}, ls, true
		}
	case 4:
		ls := parts[1]
		if parts[2] == "shards" && (parts[3] == "lb" || parts[3] == "route") && method == http.MethodPost {
			return operation{name: "PutLogs", serve: (*Server).putLogs}, ls, true
		}
	}
	return operation{}, "", false
}
