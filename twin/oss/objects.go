package oss

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"hash/crc64"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// object is one stored object. Objects are immutable once stored; a write
// replaces the pointer.
type object struct {
	data        []byte
	etag        string // quoted upper-case MD5 hex, as OSS
	md5         []byte
	crc64       uint64
	contentType string
	meta        http.Header // x-oss-meta-* as received
	modified    time.Time
	owner       string
}

var crcTable = crc64.MakeTable(crc64.ECMA)

// putObject stores the body. OSS documents no conditional headers for
// PutObject and refuses them (error 0017-00000245: If-Match, If-None-Match,
// If-Modified-Since and If-Unmodified-Since are NotImplemented); the one
// precondition it honours is x-oss-forbid-overwrite: true (409
// FileAlreadyExists), checked atomically with the write under the bucket
// lock, and only on a bucket that has never had versioning: on a bucket
// whose versioning is Enabled or Suspended the header does not take effect.
func (s *Server) putObject(w http.ResponseWriter, q *request) *ossError {
	for _, h := range conditionalHeaders {
		if q.Header.Get(h) != "" {
			return errConditionNotImplemented.with("Header", h)
		}
	}
	if q.ContentLength > s.maxSize {
		return errEntityTooLarge
	}
	data, err := io.ReadAll(io.LimitReader(q.Body, s.maxSize+1))
	if err != nil {
		return errorf(http.StatusBadRequest, "IncompleteBody", "The request body could not be read: %v", err)
	}
	if int64(len(data)) > s.maxSize {
		return errEntityTooLarge
	}
	sum := md5.Sum(data)
	if cmd5 := q.Header.Get("Content-MD5"); cmd5 != "" {
		want, err := base64.StdEncoding.DecodeString(cmd5)
		if err != nil || !bytes.Equal(want, sum[:]) {
			return errInvalidDigest
		}
	}
	obj := &object{
		data:        data,
		etag:        `"` + strings.ToUpper(hex.EncodeToString(sum[:])) + `"`,
		md5:         sum[:],
		crc64:       crc64.Checksum(data, crcTable),
		contentType: q.Header.Get("Content-Type"),
		meta:        http.Header{},
		modified:    s.now().UTC().Truncate(time.Second),
		owner:       q.caller.AccountID,
	}
	if obj.contentType == "" {
		obj.contentType = "application/octet-stream"
	}
	for k, vs := range q.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-oss-meta-") {
			obj.meta[k] = vs
		}
	}

	b := q.bucket
	b.mu.Lock()
	if b.objects[q.key] != nil && b.versioning == "" && strings.EqualFold(q.Header.Get("x-oss-forbid-overwrite"), "true") {
		b.mu.Unlock()
		return errFileAlreadyExists
	}
	var before int64
	if prev := b.objects[q.key]; prev != nil {
		before = int64(len(prev.data))
	}
	b.put(q.key, obj)
	b.mu.Unlock()
	if s.onCreated != nil {
		ip, _, err := net.SplitHostPort(q.RemoteAddr)
		if err != nil {
			ip = q.RemoteAddr
		}
		s.onCreated(ObjectCreated{EventName: "ObjectCreated:PutObject", Bucket: b.Bucket, Key: q.key, ETag: strings.Trim(obj.etag, `"`),
			Size: int64(len(data)), DeltaSize: int64(len(data)) - before, RequestID: q.id, Principal: q.caller.AccountID, SourceIP: ip, Time: obj.modified})
	}

	h := w.Header()
	h.Set("ETag", obj.etag)
	h.Set("Content-MD5", base64.StdEncoding.EncodeToString(obj.md5))
	h.Set("x-oss-hash-crc64ecma", strconv.FormatUint(obj.crc64, 10))
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// conditionalHeaders are the conditions PutObject refuses.
var conditionalHeaders = []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"}

// etagMatches reports whether a comma-separated If-Match / If-None-Match
// list names etag; "*" matches any object. Quotes and case are ignored.
func etagMatches(list, etag string) bool {
	norm := func(s string) string {
		s = strings.TrimPrefix(strings.TrimSpace(s), "W/")
		return strings.ToUpper(strings.Trim(s, `"`))
	}
	for _, e := range strings.Split(list, ",") {
		if strings.TrimSpace(e) == "*" || norm(e) == norm(etag) {
			return true
		}
	}
	return false
}

// getObject serves GetObject (withBody) and HeadObject, with If-Match /
// If-Unmodified-Since (412) and If-None-Match / If-Modified-Since (304).
func (s *Server) getObject(w http.ResponseWriter, q *request, withBody bool) *ossError {
	b := q.bucket
	b.mu.RLock()
	obj := b.objects[q.key]
	b.mu.RUnlock()
	if obj == nil {
		return errNoSuchKey.with("Key", q.key)
	}
	if im := q.Header.Get("If-Match"); im != "" && !etagMatches(im, obj.etag) {
		return errPreconditionFailed.with("Condition", "If-Match")
	}
	if ius := q.Header.Get("If-Unmodified-Since"); ius != "" {
		if t, err := http.ParseTime(ius); err == nil && obj.modified.After(t) {
			return errPreconditionFailed.with("Condition", "If-Unmodified-Since")
		}
	}
	notModified := false
	if inm := q.Header.Get("If-None-Match"); inm != "" {
		notModified = etagMatches(inm, obj.etag)
	} else if ims := q.Header.Get("If-Modified-Since"); ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !obj.modified.After(t) {
			notModified = true
		}
	}
	h := w.Header()
	h.Set("ETag", obj.etag)
	h.Set("Last-Modified", obj.modified.Format(http.TimeFormat))
	if notModified {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Type", obj.contentType)
	h.Set("Content-Length", strconv.Itoa(len(obj.data)))
	h.Set("Content-MD5", base64.StdEncoding.EncodeToString(obj.md5))
	h.Set("x-oss-hash-crc64ecma", strconv.FormatUint(obj.crc64, 10))
	h.Set("x-oss-object-type", "Normal")
	h.Set("x-oss-storage-class", "Standard")
	h.Set("Accept-Ranges", "bytes")
	for k, vs := range obj.meta {
		h[k] = vs
	}
	for name, vs := range q.URL.Query() {
		if header, ok := strings.CutPrefix(name, "response-"); ok && len(vs) > 0 {
			h.Set(header, vs[0])
		}
	}
	w.WriteHeader(http.StatusOK)
	if withBody {
		_, _ = w.Write(obj.data)
	}
	return nil
}

// deleteObject removes the object; like OSS it answers 204 whether or not
// the object existed, and ignores conditional headers.
func (s *Server) deleteObject(w http.ResponseWriter, q *request) *ossError {
	b := q.bucket
	b.mu.Lock()
	b.remove(q.key)
	b.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
	return nil
}
