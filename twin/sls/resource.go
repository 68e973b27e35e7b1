package sls

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"time"
)

// alertResources are the built-in alert resources whose records the twin
// keeps ("Data structure of alert resource data"). Records belong to the
// caller's account, not to a project.
var alertResources = map[string]bool{
	"sls.common.user": true, "sls.common.user_group": true, "sls.alert.oncall_group": true,
	"sls.alert.action_webhook": true, "sls.alert.action_policy": true, "sls.alert.alert_policy": true,
	"sls.alert.content_template": true, "sls.alert.global_config": true,
}

// record is one alert resource record; value is a JSON document carried
// as a string, as on the wire.
type record struct {
	ID             string `json:"id"`
	Tag            string `json:"tag"`
	Value          string `json:"value"`
	CreateTime     int64  `json:"createTime"`
	LastModifyTime int64  `json:"lastModifyTime"`
}

// records returns the records of the request's resource in the caller's
// account, creating the maps; the caller holds s.mu.
func (s *Server) records(req *request) (map[string]*record, *Error) {
	if !alertResources[req.resource] {
		return nil, errorf(http.StatusNotFound, CodeResourceNotExist, "resource %s does not exist", req.resource)
	}
	byResource, ok := s.resources[req.caller.AccountID]
	if !ok {
		byResource = map[string]map[string]*record{}
		s.resources[req.caller.AccountID] = byResource
	}
	recs, ok := byResource[req.resource]
	if !ok {
		recs = map[string]*record{}
		byResource[req.resource] = recs
	}
	return recs, nil
}

func parseRecord(body []byte) (record, *Error) {
	var r record
	if err := json.Unmarshal(body, &r); err != nil {
		return r, errorf(http.StatusBadRequest, CodePostBodyInvalid, "invalid record body: %v", err)
	}
	if r.ID == "" {
		return r, errorf(http.StatusBadRequest, CodeParameterInvalid, "id is required")
	}
	if !json.Valid([]byte(r.Value)) {
		return r, errorf(http.StatusBadRequest, CodeParameterInvalid, "value of record %s is not a JSON document", r.ID)
	}
	return r, nil
}

func errRecordNotExist(resource, id string) *Error {
	return errorf(http.StatusNotFound, CodeResourceRecordNotExist, "record %s of resource %s does not exist", id, resource)
}

func (s *Server) createRecord(req *request) *Error {
	r, e := parseRecord(req.body)
	if e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	recs, e := s.records(req)
	if e != nil {
		return e
	}
	if _, ok := recs[r.ID]; ok {
		return errorf(http.StatusBadRequest, CodeResourceRecordAlreadyExist, "record %s of resource %s already exists", r.ID, req.resource)
	}
	now := s.now().Unix()
	r.CreateTime, r.LastModifyTime = now, now
	recs[r.ID] = &r
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) updateRecord(req *request) *Error {
	r, e := parseRecord(req.body)
	if e != nil {
		return e
	}
	if r.ID != req.name {
		return errorf(http.StatusBadRequest, CodeParameterInvalid, "id %s in the body is not %s in the path", r.ID, req.name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	recs, e := s.records(req)
	if e != nil {
		return e
	}
	old, ok := recs[r.ID]
	if !ok {
		return errRecordNotExist(req.resource, r.ID)
	}
	r.CreateTime, r.LastModifyTime = old.CreateTime, s.now().Unix()
	recs[r.ID] = &r
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getRecord(req *request) *Error {
	s.mu.Lock()
	recs, e := s.records(req)
	var out record
	if e == nil {
		if r, ok := recs[req.name]; ok {
			out = *r
		} else {
			e = errRecordNotExist(req.resource, req.name)
		}
	}
	s.mu.Unlock()
	if e != nil {
		return e
	}
	writeJSON(req.w, out)
	return nil
}

// deleteRecords answers DeleteResourceRecord: the records named in ids
// (comma-separated) are deleted; names without a record are ignored.
func (s *Server) deleteRecords(req *request) *Error {
	ids := req.r.URL.Query().Get("ids")
	if ids == "" {
		return errorf(http.StatusBadRequest, CodeParameterInvalid, "ids is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	recs, e := s.records(req)
	if e != nil {
		return e
	}
	for _, id := range strings.Split(ids, ",") {
		delete(recs, id)
	}
	req.w.WriteHeader(http.StatusOK)
	return nil
}

// listRecords answers ListResourceRecord: the resource's records by id,
// paged by offset and size (at most 500).
func (s *Server) listRecords(req *request) *Error {
	offset, size, e := pageOf(req.r.URL.Query(), maxListSize, maxListSize)
	if e != nil {
		return e
	}
	s.mu.Lock()
	recs, e := s.records(req)
	var all []record
	for _, r := range recs {
		all = append(all, *r)
	}
	s.mu.Unlock()
	if e != nil {
		return e
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	page := pageSlice(all, offset, size)
	if page == nil {
		page = []record{}
	}
	writeJSON(req.w, map[string]any{"total": len(all), "count": len(page), "items": page})
	return nil
}

// Record is one alert resource record as the twin holds it, for tests.
type Record struct {
	ID, Tag, Value string
	Modified       time.Time
}

// Records returns the records of an alert resource (e.g.
// "sls.alert.action_policy") in an account, sorted by id.
func (s *Server) Records(accountID, resource string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	for _, r := range s.resources[accountID][resource] {
		out = append(out, Record{ID: r.ID, Tag: r.Tag, Value: r.Value, Modified: time.Unix(r.LastModifyTime, 0)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
