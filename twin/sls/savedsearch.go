package sls

import (
	"encoding/json"
	"net/http"
	"sort"
)

// Saved-search limits: a name of 3 to 63 characters (CreateSavedSearch);
// 100 per project and a configuration under 64 KiB, as the service answers
// (aliyun-log-java-sdk's SavedSearchTest: ExceedQuota "savedsearch quota
// exceed", PostBodyInvalid "The savedsearch configuration is too long.").
const (
	maxSavedSearches     = 100
	maxSavedSearchConfig = 64 << 10
)

// savedSearch is one saved search, in its wire form: the five fields
// GetSavedSearch answers with, and nothing else.
type savedSearch struct {
	Name        string `json:"savedsearchName"`
	SearchQuery string `json:"searchQuery"`
	Logstore    string `json:"logstore"`
	Topic       string `json:"topic"`
	DisplayName string `json:"displayName"`
}

func parseSavedSearch(body []byte) (savedSearch, *Error) {
	var ss savedSearch
	if len(body) >= maxSavedSearchConfig {
		return ss, errorf(http.StatusBadRequest, CodePostBodyInvalid, "The savedsearch configuration is too long.")
	}
	if err := json.Unmarshal(body, &ss); err != nil {
		return ss, errorf(http.StatusBadRequest, CodePostBodyInvalid, "invalid savedsearch body: %v", err)
	}
	switch {
	case len(ss.Name) < 3 || len(ss.Name) > 63:
		return ss, errorf(http.StatusBadRequest, CodeParameterInvalid, "savedsearchName %q must be 3 to 63 characters long", ss.Name)
	case ss.SearchQuery == "":
		return ss, errorf(http.StatusBadRequest, CodeParameterInvalid, "searchQuery is required")
	case ss.Logstore == "":
		return ss, errorf(http.StatusBadRequest, CodeParameterInvalid, "logstore is required")
	case ss.DisplayName == "":
		return ss, errorf(http.StatusBadRequest, CodeParameterInvalid, "displayName is required")
	}
	return ss, nil
}

func errSavedSearchNotExist() *Error {
	return errorf(http.StatusNotFound, CodeSavedSearchNotExist, "specified savedsearch does not exist")
}

func (s *Server) createSavedSearch(req *request) *Error {
	ss, e := parseSavedSearch(req.body)
	if e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projects[req.project]
	if _, ok := p.savedSearches[ss.Name]; ok {
		return errorf(http.StatusBadRequest, CodeSavedSearchAlreadyExist, "specified savedsearch already exists")
	}
	if len(p.savedSearches) >= maxSavedSearches {
		return errorf(http.StatusBadRequest, CodeExceedQuota, "savedsearch quota exceed")
	}
	p.savedSearches[ss.Name] = &ss
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) updateSavedSearch(req *request) *Error {
	ss, e := parseSavedSearch(req.body)
	if e != nil {
		return e
	}
	if ss.Name != req.name {
		return errorf(http.StatusBadRequest, CodeParameterInvalid, "savedsearchName %s in the body is not %s in the path", ss.Name, req.name)
	}
	return replaceNamed(s, req, &ss, savedSearchesOf, errSavedSearchNotExist)
}

func (s *Server) getSavedSearch(req *request) *Error {
	return getNamed(s, req, savedSearchesOf, errSavedSearchNotExist)
}

func (s *Server) deleteSavedSearch(req *request) *Error {
	return deleteNamed(s, req, savedSearchesOf, errSavedSearchNotExist)
}

// listSavedSearches answers ListSavedSearch: names in order, paged by the
// offset and size query parameters (size at most 500). The response
// carries the names and, as ListSavedSearchV2 reads them, name and display
// name pairs.
func (s *Server) listSavedSearches(req *request) *Error {
	offset, size, e := pageOf(req.r.URL.Query(), maxListSize, maxListSize)
	if e != nil {
		return e
	}
	type item struct {
		Name        string `json:"savedsearchName"`
		DisplayName string `json:"displayName"`
	}
	s.mu.Lock()
	var all []item
	for _, ss := range s.projects[req.project].savedSearches {
		all = append(all, item{ss.Name, ss.DisplayName})
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	page := pageSlice(all, offset, size)
	names := make([]string, len(page))
	for i, it := range page {
		names[i] = it.Name
	}
	writeJSON(req.w, map[string]any{"total": len(all), "count": len(page), "savedsearches": names, "savedsearchItems": page})
	return nil
}
