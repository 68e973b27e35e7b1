package sls

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Error is a refusal in the shape SLS answers with: an HTTP status and the
// body {"errorCode", "errorMessage"}; the request id travels in the
// x-log-requestid header. The official client turns it into *sls.Error.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error codes the twin answers with; the names are the real service's.
const (
	CodeSignatureNotMatch       = "SignatureNotMatch"
	CodeUnauthorized            = "Unauthorized"
	CodeRequestTimeTooSkewed    = "RequestTimeTooSkewed"
	CodeInvalidDateFormat       = "InvalidDateFormat"
	CodeMissingDate             = "MissingDate"
	CodeProjectNotExist         = "ProjectNotExist"
	CodeProjectAlreadyExist     = "ProjectAlreadyExist"
	CodeLogStoreNotExist        = "LogStoreNotExist"
	CodeLogStoreAlreadyExist    = "LogStoreAlreadyExist"
	CodeIndexConfigNotExist     = "IndexConfigNotExist"
	CodeIndexAlreadyExist       = "IndexAlreadyExist"
	CodePostBodyInvalid         = "PostBodyInvalid"
	CodePostBodyTooLarge        = "PostBodyTooLarge"
	CodePostBodyUncompressError = "PostBodyUncompressError"
	CodeInvalidCompressType     = "InvalidCompressType"
	CodeMissingBodyRawSize      = "MissingBodyRawSize"
	CodeInvalidBodyRawSize      = "InvalidBodyRawSize"
	CodeInvalidContentType      = "InvalidContentType"
	CodeParameterInvalid        = "ParameterInvalid"
	CodeInvalidTimeRange        = "InvalidTimeRange"
	CodeInvalidQueryString      = "InvalidQueryString"
	CodeInvalidLine             = "InvalidLine"
	CodeInvalidOffset           = "InvalidOffset"
	CodeNotSupported            = "NotSupported"
	CodeExceedQuota             = "ExceedQuota"

	// Saved searches, alert rules (jobs), dashboards and alert resource
	// records. SavedSearchAlreadyExist and ResourceRecordAlreadyExist are
	// not documented: see the package doc.
	CodeSavedSearchNotExist        = "SavedSearchNotExist"
	CodeSavedSearchAlreadyExist    = "SavedSearchAlreadyExist"
	CodeJobNotExist                = "JobNotExist"
	CodeJobAlreadyExist            = "JobAlreadyExist"
	CodeDashboardNotExist          = "DashboardNotExist"
	CodeInvalidDashboardName       = "InvalidDashboardName"
	CodeResourceNotExist           = "ResourceNotExist"
	CodeResourceRecordNotExist     = "ResourceRecordNotExist"
	CodeResourceRecordAlreadyExist = "ResourceRecordAlreadyExist"
	CodeInternalServerError        = "InternalServerError"
	CodeServerBusy                 = "ServerBusy"
)

type errorBody struct {
	Code    string `json:"errorCode"`
	Message string `json:"errorMessage"`
}

func writeError(w http.ResponseWriter, e *Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(errorBody{Code: e.Code, Message: e.Message})
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, errorf(http.StatusInternalServerError, CodeInternalServerError, "encode response: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}
