package acs

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Error is a refusal in the shape of the OpenAPI error body:
// {"RequestId", "HostId", "Code", "Message", "Recommend"} with an HTTP status.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Errorf builds an Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Common refusals shared by the twins.
var (
	ErrThrottled   = &Error{Status: http.StatusTooManyRequests, Code: "Rejected.Throttling", Message: "QPS Limit Exceeded"}
	ErrUnavailable = &Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Message: "The request has failed due to a temporary failure of the server."}
)

// ErrorBody is the JSON body of an OpenAPI error response.
type ErrorBody struct {
	RequestID string `json:"RequestId"`
	HostID    string `json:"HostId"`
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	Recommend string `json:"Recommend"`
}

// WriteError writes e as an OpenAPI JSON error response. host is the host
// name the service answers as (HostId).
func WriteError(w http.ResponseWriter, requestID, host string, e *Error) {
	body := ErrorBody{
		RequestID: requestID,
		HostID:    host,
		Code:      e.Code,
		Message:   e.Message,
		Recommend: "https://api.aliyun.com/troubleshoot?q=" + e.Code + "&product=Kms&requestId=" + requestID,
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.Header().Set("x-acs-request-id", requestID)
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(body)
}
