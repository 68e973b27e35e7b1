package oss

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
)

// ossError is an OSS refusal: an HTTP status, an error code and a message,
// plus the extra elements some codes carry (Key, BucketName, StringToSign,
// ...), in the order they are written.
type ossError struct {
	Status  int
	Code    string
	Message string
	Extra   [][2]string
}

func (e *ossError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// with returns a copy of e carrying one more element.
func (e *ossError) with(name, value string) *ossError {
	c := *e
	c.Extra = append(append([][2]string(nil), e.Extra...), [2]string{name, value})
	return &c
}

func errorf(status int, code, format string, args ...any) *ossError {
	return &ossError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// The refusals the twin sends, with the real service's codes and messages.
var (
	errNoSuchBucket          = errorf(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist.")
	errNoSuchKey             = errorf(http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
	errFileAlreadyExists     = errorf(http.StatusConflict, "FileAlreadyExists", "The object you specified already exists and can not be overwritten.")
	errPreconditionFailed    = errorf(http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold.")
	errAccessDenied          = errorf(http.StatusForbidden, "AccessDenied", "You have no right to access this object because of bucket acl.")
	errInvalidAccessKeyID    = errorf(http.StatusForbidden, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records.")
	errSignatureDoesNotMatch = errorf(http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	errTimeTooSkewed         = errorf(http.StatusForbidden, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.")
	errInvalidSecurityToken  = errorf(http.StatusForbidden, "InvalidSecurityToken", "The security token you provided is invalid.")
	errSecurityTokenExpired  = errorf(http.StatusForbidden, "SecurityTokenExpired", "The security token you provided has expired.")
	errInvalidDigest         = errorf(http.StatusBadRequest, "InvalidDigest", "The Content-MD5 you specified is not valid.")
	errInvalidObjectName     = errorf(http.StatusBadRequest, "InvalidObjectName", "The specified object is not valid.")
	errEntityTooLarge        = errorf(http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.")
	errNotImplemented        = errorf(http.StatusNotImplemented, "NotImplemented", "The twin does not implement this operation.")
	// OSS's page for error 0017-00000245 gives status 400 for a
	// conditional PutObject, with the header named in a Header element.
	errConditionNotImplemented = errorf(http.StatusBadRequest, "NotImplemented", "A header you provided implies functionality that is not implemented.")
	errMalformedXML            = errorf(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
	errMethodNotAllowed        = errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
)

// errorBody is the XML body of an OSS error response.
type errorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	RequestID string   `xml:"RequestId"`
	HostID    string   `xml:"HostId"`
	Extra     []extraElement
}

type extraElement struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

// writeError writes e as OSS does: an XML body, or for HEAD (which has no
// body) the same document base64-encoded in the x-oss-err header, which the
// SDK decodes.
func writeError(w http.ResponseWriter, r *http.Request, requestID, hostID string, e *ossError) {
	body := errorBody{Code: e.Code, Message: e.Message, RequestID: requestID, HostID: hostID}
	for _, kv := range e.Extra {
		body.Extra = append(body.Extra, extraElement{XMLName: xml.Name{Local: kv[0]}, Value: kv[1]})
	}
	out, err := xml.MarshalIndent(body, "", "  ")
	if err != nil {
		panic(err) // a fixed struct of strings always marshals
	}
	out = append([]byte(xml.Header), out...)
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	if r.Method == http.MethodHead {
		h.Set("x-oss-err", base64.StdEncoding.EncodeToString(out))
		w.WriteHeader(e.Status)
		return
	}
	h.Set("Content-Length", fmt.Sprint(len(out)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(out)
}
