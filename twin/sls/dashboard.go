package sls

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
)

// maxCharts is the most charts a dashboard holds (ExceedQuota "You have
// too many charts in your dashboard" beyond it, as aliyun-log-java-sdk's
// DashboardTest finds).
const maxCharts = 200

// dashboardName is the name rule the twin applies: 2 to 128 letters,
// digits, hyphens and underscores (the service refuses names outside 2–128
// with InvalidDashboardName).
var dashboardName = regexp.MustCompile(`^[A-Za-z0-9_-]{2,128}$`)

// dashboard is one dashboard in its wire form; charts and attribute are
// kept as sent.
type dashboard struct {
	Name        string          `json:"dashboardName"`
	DisplayName string          `json:"displayName"`
	Description string          `json:"description"`
	Charts      json.RawMessage `json:"charts"`
	Attribute   json.RawMessage `json:"attribute,omitempty"`
}

func parseDashboard(body []byte) (dashboard, *Error) {
	var d dashboard
	if err := json.Unmarshal(body, &d); err != nil {
		return d, errorf(http.StatusBadRequest, CodePostBodyInvalid, "invalid dashboard body: %v", err)
	}
	if len(d.Name) > 128 {
		return d, errorf(http.StatusBadRequest, CodeInvalidDashboardName, "The length of dashboard name must be less than or equal to 128")
	}
	if !dashboardName.MatchString(d.Name) {
		return d, errorf(http.StatusBadRequest, CodeInvalidDashboardName, "The dashboard name is invalid: %s", d.Name)
	}
	var charts []struct {
		Title string `json:"title"`
	}
	if len(d.Charts) > 0 && string(d.Charts) != "null" {
		if err := json.Unmarshal(d.Charts, &charts); err != nil {
			return d, errorf(http.StatusBadRequest, CodePostBodyInvalid, "invalid charts: %v", err)
		}
	}
	if len(charts) > maxCharts {
		return d, errorf(http.StatusBadRequest, CodeExceedQuota, "You have too many charts in your dashboard")
	}
	seen := map[string]bool{}
	for _, c := range charts {
		if c.Title == "" {
			return d, errorf(http.StatusBadRequest, CodePostBodyInvalid, "a chart has no title")
		}
		if seen[c.Title] {
			return d, errorf(http.StatusBadRequest, CodePostBodyInvalid, "Duplicate chart title: %s", c.Title)
		}
		seen[c.Title] = true
	}
	if charts == nil {
		d.Charts = json.RawMessage("[]")
	}
	return d, nil
}

func errDashboardNotExist() *Error {
	return errorf(http.StatusNotFound, CodeDashboardNotExist, "specified dashboard does not exist")
}

func (s *Server) createDashboard(req *request) *Error {
	d, e := parseDashboard(req.body)
	if e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projects[req.project]
	if _, ok := p.dashboards[d.Name]; ok {
		// Not a DashboardAlreadyExist code: the service answers so.
		return errorf(http.StatusBadRequest, CodeParameterInvalid, "specified dashboard already exists")
	}
	p.dashboards[d.Name] = &d
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) updateDashboard(req *request) *Error {
	d, e := parseDashboard(req.body)
	if e != nil {
		return e
	}
	if d.Name != req.name {
		return errorf(http.StatusBadRequest, CodeParameterInvalid, "dashboardName %s in the body is not %s in the path", d.Name, req.name)
	}
	return replaceNamed(s, req, &d, dashboardsOf, errDashboardNotExist)
}

func (s *Server) getDashboard(req *request) *Error {
	return getNamed(s, req, dashboardsOf, errDashboardNotExist)
}

func (s *Server) deleteDashboard(req *request) *Error {
	return deleteNamed(s, req, dashboardsOf, errDashboardNotExist)
}

// listDashboards answers ListDashboard: the names containing the
// dashboardName query parameter, paged by offset and size (at most 500),
// with the name and display name pairs ListDashboardV2 reads.
func (s *Server) listDashboards(req *request) *Error {
	q := req.r.URL.Query()
	offset, size, e := pageOf(q, maxListSize, maxListSize)
	if e != nil {
		return e
	}
	type item struct {
		Name        string `json:"dashboardName"`
		DisplayName string `json:"displayName"`
	}
	s.mu.Lock()
	var all []item
	for _, d := range s.projects[req.project].dashboards {
		if strings.Contains(d.Name, q.Get("dashboardName")) {
			all = append(all, item{d.Name, d.DisplayName})
		}
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	page := pageSlice(all, offset, size)
	names := make([]string, len(page))
	for i, it := range page {
		names[i] = it.Name
	}
	writeJSON(req.w, map[string]any{"total": len(all), "count": len(page), "dashboards": names, "dashboardItems": page})
	return nil
}
