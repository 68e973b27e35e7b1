package sls

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"time"
)

// job is one alert rule (an SLS job of type Alert). Its configuration and
// schedule are kept as sent and answered back unchanged.
type job struct {
	name, displayName, description string
	enabled                        bool
	configuration, schedule        json.RawMessage
	created, modified              time.Time
}

// jobBody is the body of CreateAlert and UpdateAlert, and what GetAlert
// answers with (plus the times).
type jobBody struct {
	Name          string          `json:"name"`
	DisplayName   string          `json:"displayName"`
	Description   string          `json:"description"`
	Type          string          `json:"type"`
	State         string          `json:"state,omitempty"`
	Status        string          `json:"status,omitempty"`
	Configuration json.RawMessage `json:"configuration"`
	Schedule      json.RawMessage `json:"schedule"`
	CreateTime    int64           `json:"createTime,omitempty"`
	LastModified  int64           `json:"lastModifiedTime,omitempty"`
}

func parseJob(body []byte) (jobBody, *Error) {
	var b jobBody
	if err := json.Unmarshal(body, &b); err != nil {
		return b, errorf(http.StatusBadRequest, CodePostBodyInvalid, "invalid job body: %v", err)
	}
	switch {
	case b.Name == "":
		return b, errorf(http.StatusBadRequest, CodeParameterInvalid, "name is required")
	case b.Type != "Alert":
		return b, errorf(http.StatusBadRequest, CodeParameterInvalid, "job type %q: the SLS twin serves Alert jobs only", b.Type)
	case b.DisplayName == "":
		return b, errorf(http.StatusBadRequest, CodeParameterInvalid, "displayName is required")
	case !isObject(b.Configuration):
		return b, errorf(http.StatusBadRequest, CodeParameterInvalid, "configuration is required")
	case !isObject(b.Schedule):
		return b, errorf(http.StatusBadRequest, CodeParameterInvalid, "schedule is required")
	}
	if _, ok := b.enabled(); !ok && (b.State != "" || b.Status != "") {
		return b, errorf(http.StatusBadRequest, CodeParameterInvalid, "state %q / status %q is neither enabled nor disabled", b.State, b.Status)
	}
	return b, nil
}

// enabled reads state ("Enabled", "Disabled") or status ("ENABLED",
// "DISABLED"); ok is false when neither says.
func (b jobBody) enabled() (enabled, ok bool) {
	for _, v := range []string{b.State, b.Status} {
		switch strings.ToLower(v) {
		case "enabled":
			return true, true
		case "disabled":
			return false, true
		}
	}
	return false, false
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

func errJobNotExist(name string) *Error {
	return errorf(http.StatusNotFound, CodeJobNotExist, "Job %s does not exist", name)
}

func (j *job) body() jobBody {
	state, status := "Disabled", "DISABLED"
	if j.enabled {
		state, status = "Enabled", "ENABLED"
	}
	return jobBody{Name: j.name, DisplayName: j.displayName, Description: j.description, Type: "Alert",
		State: state, Status: status, Configuration: j.configuration, Schedule: j.schedule,
		CreateTime: j.created.Unix(), LastModified: j.modified.Unix()}
}

func (s *Server) createAlert(req *request) *Error {
	b, e := parseJob(req.body)
	if e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projects[req.project]
	if _, ok := p.jobs[b.Name]; ok {
		return errorf(http.StatusBadRequest, CodeJobAlreadyExist, "Job %s already exists", b.Name)
	}
	enabled, ok := b.enabled()
	now := s.now()
	p.jobs[b.Name] = &job{name: b.Name, displayName: b.DisplayName, description: b.Description, enabled: enabled || !ok,
		configuration: b.Configuration, schedule: b.Schedule, created: now, modified: now}
	req.w.WriteHeader(http.StatusOK)
	return nil
}

// updateAlert replaces the rule's definition; a state or status in the
// body enables or disables it, and without one it stays as it was.
func (s *Server) updateAlert(req *request) *Error {
	b, e := parseJob(req.body)
	if e != nil {
		return e
	}
	if b.Name != req.name {
		return errorf(http.StatusBadRequest, CodeParameterInvalid, "name %s in the body is not %s in the path", b.Name, req.name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.projects[req.project].jobs[req.name]
	if !ok {
		return errJobNotExist(req.name)
	}
	j.displayName, j.description, j.configuration, j.schedule = b.DisplayName, b.Description, b.Configuration, b.Schedule
	if enabled, ok := b.enabled(); ok {
		j.enabled = enabled
	}
	j.modified = s.now()
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getAlert(req *request) *Error {
	s.mu.Lock()
	j, ok := s.projects[req.project].jobs[req.name]
	var out jobBody
	if ok {
		out = j.body()
	}
	s.mu.Unlock()
	if !ok {
		return errJobNotExist(req.name)
	}
	writeJSON(req.w, out)
	return nil
}

func (s *Server) deleteAlert(req *request) *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projects[req.project]
	if _, ok := p.jobs[req.name]; !ok {
		return errJobNotExist(req.name)
	}
	delete(p.jobs, req.name)
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) enableAlert(req *request) *Error  { return s.setAlertEnabled(req, true) }
func (s *Server) disableAlert(req *request) *Error { return s.setAlertEnabled(req, false) }

func (s *Server) setAlertEnabled(req *request, enabled bool) *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.projects[req.project].jobs[req.name]
	if !ok {
		return errJobNotExist(req.name)
	}
	j.enabled, j.modified = enabled, s.now()
	req.w.WriteHeader(http.StatusOK)
	return nil
}

// listAlerts answers ListAlert (GET /jobs?jobType=Alert): the rules whose
// name contains jobName and, with resourceProvider, that are attached to
// that dashboard; paged by offset and size (at most 500). A jobType other
// than Alert lists nothing: the twin keeps no other jobs.
func (s *Server) listAlerts(req *request) *Error {
	q := req.r.URL.Query()
	offset, size, e := pageOf(q, maxListSize, maxListSize)
	if e != nil {
		return e
	}
	var all []jobBody
	if t := q.Get("jobType"); t == "" || t == "Alert" {
		s.mu.Lock()
		for _, j := range s.projects[req.project].jobs {
			if !strings.Contains(j.name, q.Get("jobName")) {
				continue
			}
			if d := q.Get("resourceProvider"); d != "" {
				var c struct {
					Dashboard string `json:"dashboard"`
				}
				if json.Unmarshal(j.configuration, &c) != nil || c.Dashboard != d {
					continue
				}
			}
			all = append(all, j.body())
		}
		s.mu.Unlock()
	}
	sort.Slice(all, func(i, k int) bool { return all[i].Name < all[k].Name })
	page := pageSlice(all, offset, size)
	if page == nil {
		page = []jobBody{}
	}
	writeJSON(req.w, map[string]any{"total": len(all), "count": len(page), "results": page})
	return nil
}
