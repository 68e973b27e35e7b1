package fc

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/kmsmig/kmsmig/twin/acs"
)

// APIVersion is the FC OpenAPI version the twin serves.
const APIVersion = "2023-03-30"

// Headers of InvokeFunction (FC 2023-03-30).
const (
	HeaderInvocationType = "x-fc-invocation-type" // Sync (default) or Async
	HeaderAsyncTaskID    = "x-fc-async-task-id"
	HeaderLogType        = "x-fc-log-type" // None (default) or Tail
	HeaderRequestID      = "x-fc-request-id"
	HeaderErrorType      = "x-fc-error-type"
	HeaderLogResult      = "x-fc-log-result"
)

// ErrorTypeUnhandled is the x-fc-error-type of a failed synchronous
// invocation.
const ErrorTypeUnhandled = "UnhandledInvocationError"

// ROAVerifier authenticates a V3-signed (ACS3-HMAC-SHA256) ROA request whose
// body the caller has already read, and names the caller. Refusals are
// *acs.Error values. *acs.Verifier implements it.
type ROAVerifier interface {
	VerifyROA(r *http.Request, body []byte) (acs.Caller, error)
}

var _ ROAVerifier = (*acs.Verifier)(nil)

var taskIDPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,127}$`)

func (s *Server) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /"+APIVersion+"/functions/{functionName}/invocations", s.serveInvoke)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, r, acs.NewRequestID(), acs.Errorf(http.StatusNotFound, "PathNotSupported", "%s %s is not supported", r.Method, r.URL.Path))
	})
	return mux
}

// serveInvoke is InvokeFunction: POST /2023-03-30/functions/{name}/invocations.
func (s *Server) serveInvoke(w http.ResponseWriter, r *http.Request) {
	id := acs.NewRequestID()
	fail := func(err error) { writeAPIError(w, r, id, asAPIError(err)) }
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxSyncPayload+1))
	if err != nil {
		fail(acs.Errorf(http.StatusBadRequest, "InvalidArgument", "reading the request body: %v", err))
		return
	}
	var caller acs.Caller
	if s.cfg.Verifier != nil {
		if caller, err = s.cfg.Verifier.VerifyROA(r, body); err != nil {
			fail(err)
			return
		}
	}
	name := r.PathValue("functionName")
	fn, ok := s.Function(name)
	if !ok || (caller.AccountID != "" && fn.AccountID != "" && caller.AccountID != fn.AccountID) {
		// A function of another account does not exist for this caller.
		fail(fmt.Errorf("fc: function %s: %w", name, ErrFunctionNotFound))
		return
	}
	if q := r.URL.Query().Get("qualifier"); q != "" && q != "LATEST" {
		fail(acs.Errorf(http.StatusBadRequest, "InvalidArgument", "qualifier %q: the twin serves LATEST only", q))
		return
	}
	invType, err := headerChoice(r, HeaderInvocationType, TypeSync, TypeAsync)
	if err != nil {
		fail(err)
		return
	}
	logType, err := headerChoice(r, HeaderLogType, "None", "Tail")
	if err != nil {
		fail(err)
		return
	}
	taskID := headerValue(r, HeaderAsyncTaskID)
	if taskID != "" && !taskIDPattern.MatchString(taskID) {
		fail(acs.Errorf(http.StatusBadRequest, "InvalidArgument", "%s %q: want a letter or underscore, then letters, digits, underscores or hyphens, at most 128", HeaderAsyncTaskID, taskID))
		return
	}

	if invType == TypeAsync {
		reqID, err := s.invokeAsync(r.Context(), name, body, taskID, SourceAPI)
		if err != nil {
			fail(err)
			return
		}
		w.Header().Set(HeaderRequestID, reqID)
		w.Header().Set("x-acs-request-id", reqID)
		if taskID != "" {
			w.Header().Set(HeaderAsyncTaskID, taskID)
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}

	res, err := s.invokeSync(r.Context(), name, id, body, SourceAPI)
	if err != nil {
		fail(err)
		return
	}
	h := w.Header()
	h.Set(HeaderRequestID, id)
	h.Set("x-acs-request-id", id)
	if logType == "Tail" {
		h.Set(HeaderLogResult, base64.StdEncoding.EncodeToString([]byte(res.Log)))
	}
	payload := res.Payload
	if res.Error != nil {
		h.Set(HeaderErrorType, ErrorTypeUnhandled)
		h.Set("Content-Type", "application/json")
		payload = res.Error.JSON()
	} else {
		h.Set("Content-Type", "application/octet-stream")
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(payload)
}

// headerValue reads a header, tolerating the JSON quoting some SDK
// languages put around string header values.
func headerValue(r *http.Request, name string) string {
	v := strings.TrimSpace(r.Header.Get(name))
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	return v
}

// headerChoice reads a header whose value must be one of choices
// (case-insensitively); empty means the first.
func headerChoice(r *http.Request, name string, choices ...string) (string, error) {
	v := headerValue(r, name)
	if v == "" {
		return choices[0], nil
	}
	for _, c := range choices {
		if strings.EqualFold(v, c) {
			return c, nil
		}
	}
	return "", acs.Errorf(http.StatusBadRequest, "InvalidArgument", "%s %q: want one of %s", name, v, strings.Join(choices, ", "))
}

func writeAPIError(w http.ResponseWriter, r *http.Request, id string, e *acs.Error) {
	if errors.Is(e, ErrTaskExists) {
		w.Header().Set(HeaderAsyncTaskID, headerValue(r, HeaderAsyncTaskID))
	}
	w.Header().Set(HeaderRequestID, id)
	acs.WriteProductError(w, "FC", id, r.Host, e)
}
