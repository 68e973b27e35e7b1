package acs

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Error is a refusal in the shape of the OpenAPI error body:
// {"RequestId", "HostId", "Code", "Message", "Recommend"} with an HTTP status.
// Errors compare equal under errors.Is when their Code matches, so
// errors.Is(err, ErrThrottled) holds for any Rejected.Throttling refusal.
type Error struct {
	Status  int
	Code    string
	Message string
}

// Error formats e as "<status> <code>: <message>".
func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Is reports whether target is an *Error with the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && e != nil && t.Code == e.Code
}

// Errorf builds an Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Common refusals shared by the twins. They are shared values: never modify
// them; build a new Error with Errorf for a different message.
var (
	ErrThrottled   = &Error{Status: http.StatusTooManyRequests, Code: "Rejected.Throttling", Message: "QPS Limit Exceeded"}
	ErrUnavailable = &Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Message: "The request has failed due to a temporary failure of the server."}
	// ErrInternal is what a twin answers for a failure that is not an *Error.
	ErrInternal = &Error{Status: http.StatusInternalServerError, Code: "InternalError", Message: "The request processing has failed due to some unknown error, exception or failure."}
	// ErrActionNotFound answers an RPC action the service does not serve.
	ErrActionNotFound = &Error{Status: http.StatusNotFound, Code: "InvalidAction.NotFound", Message: "Specified api is not found, please check your url and method."}
	// ErrInvalidVersion answers an RPC call naming another API version.
	ErrInvalidVersion = &Error{Status: http.StatusBadRequest, Code: "InvalidVersion", Message: "Specified parameter Version is not valid."}
)

// Refusals of the signature check, with the codes and HTTP statuses of the
// real OpenAPI gateway.
var (
	ErrSignatureDoesNotMatch  = &Error{Status: http.StatusBadRequest, Code: "SignatureDoesNotMatch", Message: "Specified signature does not match our calculation."}
	ErrIncompleteSignature    = &Error{Status: http.StatusBadRequest, Code: "IncompleteSignature", Message: "The request signature does not conform to Aliyun standards."}
	ErrMissingSignature       = &Error{Status: http.StatusBadRequest, Code: "MissingSignature", Message: "Signature is mandatory for this action."}
	ErrMissingAccessKeyID     = &Error{Status: http.StatusBadRequest, Code: "MissingAccessKeyId", Message: "AccessKeyId is mandatory for this action."}
	ErrMissingTimestamp       = &Error{Status: http.StatusBadRequest, Code: "MissingTimestamp", Message: "Timestamp is mandatory for this action."}
	ErrMissingSignatureNonce  = &Error{Status: http.StatusBadRequest, Code: "MissingSignatureNonce", Message: "SignatureNonce is mandatory for this action."}
	ErrAccessKeyNotFound      = &Error{Status: http.StatusNotFound, Code: "InvalidAccessKeyId.NotFound", Message: "Specified access key is not found."}
	ErrTimestampExpired       = &Error{Status: http.StatusBadRequest, Code: "InvalidTimeStamp.Expired", Message: "Specified time stamp or date value is expired."}
	ErrTimestampFormat        = &Error{Status: http.StatusBadRequest, Code: "InvalidTimeStamp.Format", Message: "Specified time stamp or date value is not well formatted."}
	ErrSignatureNonceUsed     = &Error{Status: http.StatusBadRequest, Code: "SignatureNonceUsed", Message: "Specified signature nonce was used already."}
	ErrMissingSecurityToken   = &Error{Status: http.StatusBadRequest, Code: "MissingSecurityToken", Message: "SecurityToken is mandatory for this action."}
	ErrSecurityTokenMismatch  = &Error{Status: http.StatusBadRequest, Code: "InvalidSecurityToken.MismatchWithAccessKey", Message: "Specified SecurityToken mismatch with the AccessKey."}
	ErrSecurityTokenExpired   = &Error{Status: http.StatusBadRequest, Code: "InvalidSecurityToken.Expired", Message: "Specified SecurityToken is expired."}
	ErrUnsupportedSignMethod  = &Error{Status: http.StatusBadRequest, Code: "IncompleteSignature", Message: "The request signature does not conform to Aliyun standards: unsupported SignatureMethod or SignatureVersion."}
	ErrRequestEntityTooLarge  = &Error{Status: http.StatusRequestEntityTooLarge, Code: "RequestEntityTooLarge", Message: "The request body is too large."}
	ErrMalformedQueryOrBody   = &Error{Status: http.StatusBadRequest, Code: "InvalidParameter", Message: "The query string or form body of the request is malformed."}
	errContentSHA256Mismatch  = &Error{Status: http.StatusBadRequest, Code: "SignatureDoesNotMatch", Message: "Specified signature does not match our calculation: x-acs-content-sha256 does not match the body."}
	errUnsupportedV3Algorithm = &Error{Status: http.StatusBadRequest, Code: "IncompleteSignature", Message: "The request signature does not conform to Aliyun standards: only ACS3-HMAC-SHA256 is supported."}
)

// MissingParameter is the refusal of a call that lacks the mandatory
// parameter name.
func MissingParameter(name string) *Error {
	return Errorf(http.StatusBadRequest, "MissingParameter", "The input parameter %q that is mandatory for processing this request is not supplied.", name)
}

// InvalidParameter is the refusal of a call whose parameter name has a value
// the service does not accept.
func InvalidParameter(name string) *Error {
	return Errorf(http.StatusBadRequest, "InvalidParameter", "The specified parameter %q is not valid.", name)
}

// AsError returns the *Error in err's chain, or ErrInternal when there is
// none (including err == nil, which callers should not pass).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e
	}
	return ErrInternal
}

// ErrorBody is the JSON body of an OpenAPI error response.
type ErrorBody struct {
	RequestID string `json:"RequestId"`
	HostID    string `json:"HostId"`
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	Recommend string `json:"Recommend"`
}

// WriteError writes e as an OpenAPI JSON error response of the KMS product.
// host is the host name the service answers as (HostId). Other products use
// WriteProductError.
func WriteError(w http.ResponseWriter, requestID, host string, e *Error) {
	WriteProductError(w, "Kms", requestID, host, e)
}

// WriteProductError writes e as an OpenAPI JSON error response; product
// (e.g. "Kms", "Sts", "FC") names the product in the Recommend link and host
// is the host name the service answers as (HostId).
func WriteProductError(w http.ResponseWriter, product, requestID, host string, e *Error) {
	body := ErrorBody{
		RequestID: requestID,
		HostID:    host,
		Code:      e.Code,
		Message:   e.Message,
		Recommend: "https://api.aliyun.com/troubleshoot?q=" + e.Code + "&product=" + product + "&requestId=" + requestID,
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.Header().Set("x-acs-request-id", requestID)
	w.WriteHeader(e.Status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // keep the & of Recommend as the real service does
	_ = enc.Encode(body)
}
