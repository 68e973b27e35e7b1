package sls

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/url"
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
	// resources holds the alert resource records: account, resource name,
	// record id.
	resources map[string]map[string]map[string]*record
	fault     func(op, project, logstore string) *Error
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
	s := &Server{keys: keys, now: time.Now, projects: map[string]*project{}, resources: map[string]map[string]map[string]*record{}}
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
	// name is the saved search, alert, dashboard or resource record the
	// path names; resource is the alert resource of /resources paths.
	name     string
	resource string
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
	rt, ok := route(r.Method, r.URL.Path, r.URL.Query())
	if !ok {
		writeError(w, errorf(http.StatusNotFound, CodeNotSupported, "%s %s is not supported by the SLS twin", r.Method, r.URL.Path))
		return
	}
	op := rt.op
	caller, e := s.authenticate(r, body)
	if e != nil {
		writeError(w, e)
		return
	}
	req := &request{r: r, w: w, body: body, caller: caller, logstore: rt.logstore, name: rt.name, resource: rt.resource}
	if !op.account {
		// Account-level operations (alert resources) are addressed to the
		// bare endpoint; every other one to "<project>.<endpoint>".
		req.project = projectFromHost(r.Host)
		if req.project == "" {
			writeError(w, errorf(http.StatusBadRequest, CodeProjectNotExist, "The project name is missing from the Host header %q", r.Host))
			return
		}
	}
	s.mu.Lock()
	fault := s.fault
	s.mu.Unlock()
	if fault != nil {
		if e := fault(op.name, req.project, rt.logstore); e != nil {
			writeError(w, e)
			return
		}
	}
	if !op.createsProject && !op.account {
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
	// account marks the account-level operations, which name no project.
	account bool
	serve   func(*Server, *request) *Error
}

// routed is what a method and path select: the operation and the names in
// the path.
type routed struct {
	op                       operation
	logstore, name, resource string
}

// route maps a method and path to an operation and the names the path
// carries.
func route(method, path string, q url.Values) (routed, bool) {
	op := func(name string, serve func(*Server, *request) *Error) operation {
		return operation{name: name, serve: serve}
	}
	if path == "/" || path == "" {
		switch method {
		case http.MethodPost:
			return routed{op: operation{name: "CreateProject", createsProject: true, serve: (*Server).createProject}}, true
		case http.MethodGet:
			return routed{op: op("GetProject", (*Server).getProject)}, true
		case http.MethodDelete:
			return routed{op: op("DeleteProject", (*Server).deleteProject)}, true
		}
		return routed{}, false
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch parts[0] {
	case "logstores":
		return routeLogstores(method, parts, q.Get("type"))
	case "savedsearches":
		return routeNamed(method, parts, named{
			create: op("CreateSavedSearch", (*Server).createSavedSearch), list: op("ListSavedSearch", (*Server).listSavedSearches),
			get: op("GetSavedSearch", (*Server).getSavedSearch), update: op("UpdateSavedSearch", (*Server).updateSavedSearch),
			remove: op("DeleteSavedSearch", (*Server).deleteSavedSearch),
		})
	case "jobs":
		if len(parts) == 2 && method == http.MethodPut {
			switch q.Get("action") {
			case "enable":
				return routed{op: op("EnableAlert", (*Server).enableAlert), name: parts[1]}, true
			case "disable":
				return routed{op: op("DisableAlert", (*Server).disableAlert), name: parts[1]}, true
			}
		}
		return routeNamed(method, parts, named{
			create: op("CreateAlert", (*Server).createAlert), list: op("ListAlert", (*Server).listAlerts),
			get: op("GetAlert", (*Server).getAlert), update: op("UpdateAlert", (*Server).updateAlert),
			remove: op("DeleteAlert", (*Server).deleteAlert),
		})
	case "dashboards":
		return routeNamed(method, parts, named{
			create: op("CreateDashboard", (*Server).createDashboard), list: op("ListDashboard", (*Server).listDashboards),
			get: op("GetDashboard", (*Server).getDashboard), update: op("UpdateDashboard", (*Server).updateDashboard),
			remove: op("DeleteDashboard", (*Server).deleteDashboard),
		})
	case "resources":
		return routeRecords(method, parts)
	}
	return routed{}, false
}

// named lists the operations of a collection of named objects:
// POST /c, GET /c, GET|PUT|DELETE /c/{name}.
type named struct{ create, list, get, update, remove operation }

func routeNamed(method string, parts []string, n named) (routed, bool) {
	switch {
	case len(parts) == 1 && method == http.MethodPost:
		return routed{op: n.create}, true
	case len(parts) == 1 && method == http.MethodGet:
		return routed{op: n.list}, true
	case len(parts) == 2 && parts[1] != "":
		switch method {
		case http.MethodGet:
			return routed{op: n.get, name: parts[1]}, true
		case http.MethodPut:
			return routed{op: n.update, name: parts[1]}, true
		case http.MethodDelete:
			return routed{op: n.remove, name: parts[1]}, true
		}
	}
	return routed{}, false
}

// routeRecords maps /resources/{resource}/records[/{id}], the
// account-level alert resource records.
func routeRecords(method string, parts []string) (routed, bool) {
	if len(parts) < 3 || len(parts) > 4 || parts[1] == "" || parts[2] != "records" {
		return routed{}, false
	}
	op := func(name string, serve func(*Server, *request) *Error, id string) (routed, bool) {
		return routed{op: operation{name: name, account: true, serve: serve}, resource: parts[1], name: id}, true
	}
	if len(parts) == 3 {
		switch method {
		case http.MethodPost:
			return op("CreateResourceRecord", (*Server).createRecord, "")
		case http.MethodGet:
			return op("ListResourceRecord", (*Server).listRecords, "")
		case http.MethodDelete: // the records are named in ?ids=
			return op("DeleteResourceRecord", (*Server).deleteRecords, "")
		}
		return routed{}, false
	}
	if parts[3] == "" {
		return routed{}, false
	}
	switch method {
	case http.MethodGet:
		return op("GetResourceRecord", (*Server).getRecord, parts[3])
	case http.MethodPut:
		return op("UpdateResourceRecord", (*Server).updateRecord, parts[3])
	}
	return routed{}, false
}

// routeLogstores maps /logstores paths.
func routeLogstores(method string, parts []string, typ string) (routed, bool) {
	op := func(name string, serve func(*Server, *request) *Error, ls string) (routed, bool) {
		return routed{op: operation{name: name, serve: serve}, logstore: ls}, true
	}
	switch len(parts) {
	case 1:
		switch method {
		case http.MethodPost:
			return op("CreateLogStore", (*Server).createLogStore, "")
		case http.MethodGet:
			return op("ListLogStore", (*Server).listLogStores, "")
		}
	case 2:
		ls := parts[1]
		switch {
		case method == http.MethodGet && typ == "log":
			return op("GetLogs", (*Server).getLogsV2, ls)
		case method == http.MethodGet && typ == "":
			return op("GetLogStore", (*Server).getLogStore, ls)
		case method == http.MethodPost:
			return op("PutLogs", (*Server).putLogs, ls)
		case method == http.MethodDelete:
			return op("DeleteLogStore", (*Server).deleteLogStore, ls)
		}
	case 3:
		ls := parts[1]
		switch {
		case parts[2] == "logs" && method == http.MethodPost:
			return op("GetLogs", (*Server).getLogsV3, ls)
		case parts[2] == "index" && method == http.MethodPost:
			return op("CreateIndex", (*Server).createIndex, ls)
		case parts[2] == "index" && method == http.MethodPut:
			return op("UpdateIndex", (*Server).updateIndex, ls)
		case parts[2] == "index" && method == http.MethodGet:
			return op("GetIndex", (*Server).getIndex, ls)
		case parts[2] == "index" && method == http.MethodDelete:
			return op("DeleteIndex", (*Server).deleteIndex, ls)
		}
	case 4:
		ls := parts[1]
		if parts[2] == "shards" && (parts[3] == "lb" || parts[3] == "route") && method == http.MethodPost {
			return op("PutLogs", (*Server).putLogs, ls)
		}
	}
	return routed{}, false
}
