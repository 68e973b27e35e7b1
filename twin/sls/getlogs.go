package sls

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/pierrec/lz4/v4"
)

// maxLines is the most logs one GetLogs call returns.
const maxLines = 100

type getLogsRequest struct {
	From    int64  `json:"from"`
	To      int64  `json:"to"`
	Topic   string `json:"topic"`
	Line    *int64 `json:"line"`
	Offset  int64  `json:"offset"`
	Reverse bool   `json:"reverse"`
	Query   string `json:"query"`
}

type getLogsResult struct {
	logs  []map[string]string
	count int
	keys  []string
	start time.Time
}

// search runs a GetLogs request against a logstore.
func (s *Server) search(req *request, q getLogsRequest) (getLogsResult, *Error) {
	res := getLogsResult{start: time.Now()}
	if q.From > q.To {
		return res, errorf(http.StatusBadRequest, CodeInvalidTimeRange, "from %d is later than to %d", q.From, q.To)
	}
	lines := int64(maxLines)
	if q.Line != nil {
		lines = *q.Line
	}
	if lines < 0 || lines > maxLines {
		return res, errorf(http.StatusBadRequest, CodeInvalidLine, "line %d must be between 0 and %d", lines, maxLines)
	}
	if q.Offset < 0 {
		return res, errorf(http.StatusBadRequest, CodeInvalidOffset, "offset %d must not be negative", q.Offset)
	}
	s.mu.Lock()
	ls, e := s.store(req)
	var index *indexConfig
	var stored []Log
	if e == nil {
		index = ls.index
		stored = ls.logs // append-only: the prefix seen here never changes
	}
	s.mu.Unlock()
	if e != nil {
		return res, e
	}
	if index == nil {
		return res, errorf(http.StatusBadRequest, CodeIndexConfigNotExist, "logstore without index config")
	}
	query := q.Query
	if q.Topic != "" {
		query = "__topic__:\"" + q.Topic + "\" and (" + orAll(query) + ")"
	}
	n, err := parseQuery(query, index)
	if err == errSQL {
		return res, errorf(http.StatusBadRequest, CodeNotSupported, "%v", err)
	}
	if err != nil {
		return res, errorf(http.StatusBadRequest, CodeParameterInvalid, "%v", err)
	}
	var hits []*Log
	for i := range stored {
		l := &stored[i]
		if t := l.Time.Unix(); t < q.From || t >= q.To {
			continue
		}
		if n.match(l) {
			hits = append(hits, l)
		}
	}
	sort.SliceStable(hits, func(i, j int) bool {
		if q.Reverse {
			return hits[i].Time.After(hits[j].Time)
		}
		return hits[i].Time.Before(hits[j].Time)
	})
	res.count = len(hits)
	if q.Offset >= int64(len(hits)) {
		hits = nil
	} else {
		hits = hits[q.Offset:]
	}
	if int64(len(hits)) > lines {
		hits = hits[:lines]
	}
	keys := map[string]bool{}
	for _, l := range hits {
		m := map[string]string{
			"__time__":   strconv.FormatInt(l.Time.Unix(), 10),
			"__topic__":  l.Topic,
			"__source__": l.Source,
		}
		for _, t := range l.Tags {
			m["__tag__:"+t.Key] = t.Value
		}
		for _, c := range l.Contents {
			m[c.Key] = c.Value
			keys[c.Key] = true
		}
		res.logs = append(res.logs, m)
	}
	for k := range keys {
		res.keys = append(res.keys, k)
	}
	sort.Strings(res.keys)
	return res, nil
}

func orAll(q string) string {
	if q == "" {
		return "*"
	}
	return q
}

// getLogsV3 serves POST /logstores/{logstore}/logs, which GetLogs,
// GetLogsV2/V3 and GetLogLines of the SDK send. The JSON answer is lz4
// compressed when the client accepts it, as the real service does.
func (s *Server) getLogsV3(req *request) *Error {
	var q getLogsRequest
	if err := json.Unmarshal(req.body, &q); err != nil {
		return errorf(http.StatusBadRequest, CodePostBodyInvalid, "invalid GetLogs body: %v", err)
	}
	res, e := s.search(req, q)
	if e != nil {
		return e
	}
	logs := res.logs
	if logs == nil {
		logs = []map[string]string{}
	}
	out := map[string]any{
		"meta": map[string]any{
			"progress":           "Complete",
			"count":              len(logs),
			"processedRows":      res.count,
			"elapsedMillisecond": time.Since(res.start).Milliseconds(),
			"hasSQL":             false,
			"whereQuery":         q.Query,
			"aggQuery":           "",
			"keys":               res.keys,
		},
		"data": logs,
	}
	b, err := json.Marshal(out)
	if err != nil {
		return errorf(http.StatusInternalServerError, CodeInternalServerError, "encode: %v", err)
	}
	h := req.w.Header()
	h.Set("Content-Type", "application/json")
	if req.r.Header.Get("Accept-Encoding") == "lz4" && len(b) > 0 {
		buf := make([]byte, lz4.CompressBlockBound(len(b)))
		n, err := lz4.CompressBlock(b, buf, nil)
		if err == nil && n > 0 {
			h.Set("x-log-compresstype", "lz4")
			h.Set("x-log-bodyrawsize", strconv.Itoa(len(b)))
			b = buf[:n]
		}
	}
	req.w.WriteHeader(http.StatusOK)
	_, _ = req.w.Write(b)
	return nil
}

// getLogsV2 serves the older GET /logstores/{logstore}?type=log form: a JSON
// array of logs, with progress and count in headers.
func (s *Server) getLogsV2(req *request) *Error {
	v := req.r.URL.Query()
	var q getLogsRequest
	var err error
	if q.From, err = strconv.ParseInt(v.Get("from"), 10, 64); err != nil {
		return errorf(http.StatusBadRequest, CodeInvalidTimeRange, "from %q is invalid", v.Get("from"))
	}
	if q.To, err = strconv.ParseInt(v.Get("to"), 10, 64); err != nil {
		return errorf(http.StatusBadRequest, CodeInvalidTimeRange, "to %q is invalid", v.Get("to"))
	}
	if l := v.Get("line"); l != "" {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil {
			return errorf(http.StatusBadRequest, CodeInvalidLine, "line %q is invalid", l)
		}
		q.Line = &n
	}
	if o := v.Get("offset"); o != "" {
		if q.Offset, err = strconv.ParseInt(o, 10, 64); err != nil {
			return errorf(http.StatusBadRequest, CodeInvalidOffset, "offset %q is invalid", o)
		}
	}
	q.Reverse = v.Get("reverse") == "true"
	q.Query, q.Topic = v.Get("query"), v.Get("topic")
	res, e := s.search(req, q)
	if e != nil {
		return e
	}
	logs := res.logs
	if logs == nil {
		logs = []map[string]string{}
	}
	info, _ := json.Marshal(map[string]any{"keys": res.keys})
	h := req.w.Header()
	h.Set("x-log-progress", "Complete")
	h.Set("x-log-count", strconv.Itoa(len(logs)))
	h.Set("x-log-processed-rows", strconv.Itoa(res.count))
	h.Set("x-log-elapsed-millisecond", strconv.FormatInt(time.Since(res.start).Milliseconds(), 10))
	h.Set("x-log-has-sql", "false")
	h.Set("x-log-query-info", string(info))
	writeJSON(req.w, logs)
	return nil
}
