package sls

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

type project struct {
	name        string
	owner       string
	description string
	created     time.Time
	logstores   map[string]*logstore
	// The project's saved searches, alert rules (jobs) and dashboards, by
	// name.
	savedSearches map[string]*savedSearch
	jobs          map[string]*job
	dashboards    map[string]*dashboard
}

type logstore struct {
	name       string
	ttl        int
	shardCount int
	autoSplit  bool
	maxSplit   int
	created    time.Time
	modified   time.Time
	indexJSON  json.RawMessage // nil: no index
	index      *indexConfig
	logs       []Log
}

func newProject(name, owner, description string, now time.Time) *project {
	return &project{name: name, owner: owner, description: description, created: now, logstores: map[string]*logstore{},
		savedSearches: map[string]*savedSearch{}, jobs: map[string]*job{}, dashboards: map[string]*dashboard{}}
}

// Naming rules of the real service: projects 3-63 of [a-z0-9-], starting and
// ending with a letter or digit; logstores 2-63 of [a-z0-9_-].
var (
	projectName  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)
	logstoreName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,61}[a-z0-9]$`)
)

func (s *Server) createProject(req *request) *Error {
	var body struct {
		ProjectName string `json:"projectName"`
		Description string `json:"description"`
	}
	if err := json.Unmarshal(req.body, &body); err != nil {
		return errorf(http.StatusBadRequest, CodePostBodyInvalid, "invalid project body: %v", err)
	}
	if body.ProjectName != "" && body.ProjectName != req.project {
		return errorf(http.StatusBadRequest, CodeParameterInvalid, "projectName %s does not match the host's project %s", body.ProjectName, req.project)
	}
	if !projectName.MatchString(req.project) {
		return errorf(http.StatusBadRequest, CodeParameterInvalid, "project name %s is invalid", req.project)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.projects[req.project]; ok {
		return errorf(http.StatusBadRequest, CodeProjectAlreadyExist, "Project %s already exist", req.project)
	}
	s.projects[req.project] = newProject(req.project, req.caller.AccountID, body.Description, s.now())
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getProject(req *request) *Error {
	s.mu.Lock()
	p := s.projects[req.project]
	out := map[string]string{
		"projectName":    p.name,
		"description":    p.description,
		"status":         "Normal",
		"owner":          p.owner,
		"region":         s.region,
		"createTime":     strconv.FormatInt(p.created.Unix(), 10),
		"lastModifyTime": strconv.FormatInt(p.created.Unix(), 10),
	}
	s.mu.Unlock()
	writeJSON(req.w, out)
	return nil
}

func (s *Server) deleteProject(req *request) *Error {
	s.mu.Lock()
	delete(s.projects, req.project)
	s.mu.Unlock()
	req.w.WriteHeader(http.StatusOK)
	return nil
}

// store returns the named logstore of the request's project; the caller
// holds s.mu.
func (s *Server) store(req *request) (*logstore, *Error) {
	p, ok := s.projects[req.project]
	if !ok {
		return nil, errorf(http.StatusNotFound, CodeProjectNotExist, "Project %s does not exist", req.project)
	}
	ls, ok := p.logstores[req.logstore]
	if !ok {
		return nil, errorf(http.StatusNotFound, CodeLogStoreNotExist, "logstore %s does not exist", req.logstore)
	}
	return ls, nil
}

func (s *Server) createLogStore(req *request) *Error {
	var body struct {
		Name          string `json:"logstoreName"`
		TTL           int    `json:"ttl"`
		ShardCount    int    `json:"shardCount"`
		AutoSplit     bool   `json:"autoSplit"`
		MaxSplitShard int    `json:"maxSplitShard"`
	}
	if err := json.Unmarshal(req.body, &body); err != nil {
		return errorf(http.StatusBadRequest, CodePostBodyInvalid, "invalid logstore body: %v", err)
	}
	if !logstoreName.MatchString(body.Name) {
		return errorf(http.StatusBadRequest, CodeParameterInvalid, "logstore name %q is invalid", body.Name)
	}
	if body.TTL < 1 || body.TTL > 3650 {
		return errorf(http.StatusBadRequest, CodeParameterInvalid, "ttl %d must be between 1 and 3650", body.TTL)
	}
	if body.ShardCount < 1 || body.ShardCount > 256 {
		return errorf(http.StatusBadRequest, CodeParameterInvalid, "shardCount %d must be between 1 and 256", body.ShardCount)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projects[req.project]
	if _, ok := p.logstores[body.Name]; ok {
		return errorf(http.StatusBadRequest, CodeLogStoreAlreadyExist, "logstore %s already exists", body.Name)
	}
	now := s.now()
	p.logstores[body.Name] = &logstore{name: body.Name, ttl: body.TTL, shardCount: body.ShardCount,
		autoSplit: body.AutoSplit, maxSplit: body.MaxSplitShard, created: now, modified: now}
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getLogStore(req *request) *Error {
	s.mu.Lock()
	ls, e := s.store(req)
	if e != nil {
		s.mu.Unlock()
		return e
	}
	out := map[string]any{
		"logstoreName":    ls.name,
		"ttl":             ls.ttl,
		"shardCount":      ls.shardCount,
		"autoSplit":       ls.autoSplit,
		"maxSplitShard":   ls.maxSplit,
		"enable_tracking": false,
		"appendMeta":      false,
		"telemetryType":   "",
		"mode":            "standard",
		"createTime":      ls.created.Unix(),
		"lastModifyTime":  ls.modified.Unix(),
	}
	s.mu.Unlock()
	writeJSON(req.w, out)
	return nil
}

// ListLogStores paging, as documented: size defaults to 200 and may be at
// most 500.
const (
	defaultListSize = 200
	maxListSize     = 500
)

// listLogStores answers ListLogStores: the names containing logstoreName
// (the documented fuzzy match), sorted, from offset (default 0), at most
// size of them. An empty parameter takes its default, as @alicloud/log sends
// every parameter, empty when unset. total counts every match, which is
// what the Python SDK's list_more pages against.
func (s *Server) listLogStores(req *request) *Error {
	q := req.r.URL.Query()
	offset, size, e := pageOf(q, defaultListSize, maxListSize)
	if e != nil {
		return e
	}
	filter := q.Get("logstoreName")
	s.mu.Lock()
	p := s.projects[req.project]
	names := make([]string, 0, len(p.logstores))
	for n := range p.logstores {
		if strings.Contains(n, filter) {
			names = append(names, n)
		}
	}
	s.mu.Unlock()
	sort.Strings(names)
	page := pageSlice(names, offset, size)
	writeJSON(req.w, map[string]any{"count": len(page), "total": len(names), "logstores": page})
	return nil
}

// pageOf reads the offset (default 0) and size (default def, at most max)
// query parameters; an empty parameter takes its default.
func pageOf(q url.Values, def, max int) (offset, size int, e *Error) {
	size = def
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, 0, errorf(http.StatusBadRequest, CodeParameterInvalid, "Invalid parameter offset, [0, +inf)")
		}
		offset = n
	}
	if v := q.Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > max {
			return 0, 0, errorf(http.StatusBadRequest, CodeParameterInvalid, "Invalid parameter size, (0, %d]", max)
		}
		size = n
	}
	return offset, size, nil
}

// pageSlice returns items[offset:offset+size], clipped.
func pageSlice[T any](items []T, offset, size int) []T {
	start := min(offset, len(items))
	return items[start : start+min(size, len(items)-start)]
}

func (s *Server) deleteLogStore(req *request) *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, e := s.store(req); e != nil {
		return e
	}
	delete(s.projects[req.project].logstores, req.logstore)
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) createIndex(req *request) *Error { return s.putIndex(req, false) }
func (s *Server) updateIndex(req *request) *Error { return s.putIndex(req, true) }

func (s *Server) putIndex(req *request, update bool) *Error {
	cfg, err := parseIndex(req.body)
	if err != nil {
		return errorf(http.StatusBadRequest, CodePostBodyInvalid, "invalid index config: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ls, e := s.store(req)
	if e != nil {
		return e
	}
	switch {
	case !update && ls.index != nil:
		return errorf(http.StatusBadRequest, CodeIndexAlreadyExist, "log store index is already created")
	case update && ls.index == nil:
		return errorf(http.StatusBadRequest, CodeIndexConfigNotExist, "logstore without index config")
	}
	ls.indexJSON = append(json.RawMessage(nil), req.body...)
	ls.index = cfg
	ls.modified = s.now()
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getIndex(req *request) *Error {
	s.mu.Lock()
	ls, e := s.store(req)
	if e == nil && ls.index == nil {
		e = errorf(http.StatusBadRequest, CodeIndexConfigNotExist, "logstore without index config")
	}
	var raw json.RawMessage
	if e == nil {
		raw = ls.indexJSON
	}
	s.mu.Unlock()
	if e != nil {
		return e
	}
	writeJSON(req.w, raw)
	return nil
}

func (s *Server) deleteIndex(req *request) *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ls, e := s.store(req)
	if e != nil {
		return e
	}
	if ls.index == nil {
		return errorf(http.StatusBadRequest, CodeIndexConfigNotExist, "logstore without index config")
	}
	ls.index, ls.indexJSON = nil, nil
	req.w.WriteHeader(http.StatusOK)
	return nil
}
