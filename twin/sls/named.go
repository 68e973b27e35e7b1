package sls

import "net/http"

// The project's named objects (saved searches, dashboards) share their
// Get, Update and Delete: look the name up under the lock, answer the
// object's own not-exist error, and reply 200 with no body (Get: the
// object as JSON).

// getNamed answers the Get of the object named in the path.
func getNamed[T any](s *Server, req *request, items func(*project) map[string]*T, notExist func() *Error) *Error {
	s.mu.Lock()
	v, ok := items(s.projects[req.project])[req.name]
	var out T
	if ok {
		out = *v
	}
	s.mu.Unlock()
	if !ok {
		return notExist()
	}
	writeJSON(req.w, out)
	return nil
}

// replaceNamed answers the Update of the object named in the path with v.
func replaceNamed[T any](s *Server, req *request, v *T, items func(*project) map[string]*T, notExist func() *Error) *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := items(s.projects[req.project])
	if _, ok := m[req.name]; !ok {
		return notExist()
	}
	m[req.name] = v
	req.w.WriteHeader(http.StatusOK)
	return nil
}

// deleteNamed answers the Delete of the object named in the path.
func deleteNamed[T any](s *Server, req *request, items func(*project) map[string]*T, notExist func() *Error) *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := items(s.projects[req.project])
	if _, ok := m[req.name]; !ok {
		return notExist()
	}
	delete(m, req.name)
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func dashboardsOf(p *project) map[string]*dashboard      { return p.dashboards }
func savedSearchesOf(p *project) map[string]*savedSearch { return p.savedSearches }
