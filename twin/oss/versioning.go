package oss

import (
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
)

// The versioning states of a bucket, as GetBucketVersioning spells them.
const (
	versioningEnabled   = "Enabled"
	versioningSuspended = "Suspended"
)

// versioningConfiguration is the body of GetBucketVersioning and
// PutBucketVersioning. A bucket that never had versioning answers an
// empty document, without Status (the Go SDK's fixtures).
type versioningConfiguration struct {
	XMLName xml.Name `xml:"VersioningConfiguration"`
	Status  string   `xml:"Status,omitempty"`
}

// getBucketVersioning answers the bucket's versioning state.
func (s *Server) getBucketVersioning(w http.ResponseWriter, q *request) *ossError {
	b := q.bucket
	b.mu.RLock()
	doc := versioningConfiguration{Status: b.versioning}
	b.mu.RUnlock()
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return errorf(http.StatusInternalServerError, "InternalError", "encode versioning: %v", err)
	}
	out = append([]byte(xml.Header), out...)
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	return nil
}

// putBucketVersioning sets the state to Enabled or Suspended; OSS takes no
// other value, so a bucket cannot return to never having had versioning.
func (s *Server) putBucketVersioning(w http.ResponseWriter, q *request) *ossError {
	body, err := io.ReadAll(io.LimitReader(q.Body, 64<<10))
	if err != nil {
		return errorf(http.StatusBadRequest, "IncompleteBody", "The request body could not be read: %v", err)
	}
	var doc versioningConfiguration
	if xml.Unmarshal(body, &doc) != nil {
		return errMalformedXML
	}
	if doc.Status != versioningEnabled && doc.Status != versioningSuspended {
		return errMalformedXML
	}
	b := q.bucket
	b.mu.Lock()
	b.versioning = doc.Status
	b.mu.Unlock()
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}
