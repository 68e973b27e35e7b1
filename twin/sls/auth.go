package sls

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/kmsmig/kmsmig/twin/acs"
)

// maxSkew is how far a request's date may be from the server clock.
const maxSkew = 15 * time.Minute

const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// authenticate verifies the request signature (V1 "LOG ak:sig" or V4
// "SLS4-HMAC-SHA256 ...") against the keyring and returns the caller.
// body is the raw request body as sent (compressed, if it was).
func (s *Server) authenticate(r *http.Request, body []byte) (acs.Caller, *Error) {
	auth := r.Header.Get("Authorization")
	for _, h := range []string{"Content-MD5", "Content-Type", "Date"} {
		if len(r.Header.Values(h)) > 1 {
			// Both signatures cover one value of these; a second would
			// ride along unsigned.
			return acs.Caller{}, errorf(http.StatusUnauthorized, CodeSignatureNotMatch, "header %s is repeated; a signature covers one value", h)
		}
	}
	// A Content-MD5 must describe the body that came with it, whichever
	// signature covers the request (V4 does not sign it; an unchecked one
	// would be an unsigned claim about the body).
	if md := r.Header.Get("Content-MD5"); md != "" && md != fmt.Sprintf("%X", md5.Sum(body)) {
		return acs.Caller{}, errorf(http.StatusBadRequest, "InvalidContentMD5", "Content-MD5 does not match the body")
	}
	switch {
	case strings.HasPrefix(auth, "LOG "):
		return s.verifyV1(r, body, strings.TrimPrefix(auth, "LOG "))
	case strings.HasPrefix(auth, "SLS4-HMAC-SHA256 "):
		return s.verifyV4(r, body, strings.TrimPrefix(auth, "SLS4-HMAC-SHA256 "))
	case auth == "":
		return acs.Caller{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "Authorization does not exist in http header.")
	default:
		return acs.Caller{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "unsupported authorization scheme")
	}
}

// credential looks an access key up and checks the STS token rule: a
// temporary key is valid only with its own token, before it expires.
func (s *Server) credential(r *http.Request, accessKeyID string) (acs.Credential, *Error) {
	c, ok := s.keys.Lookup(accessKeyID)
	if !ok {
		return acs.Credential{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "AccessKeyId not found: %s", accessKeyID)
	}
	token := r.Header.Get("x-acs-security-token")
	if c.IsSTS() {
		if token == "" {
			return acs.Credential{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "x-acs-security-token is required for a temporary AccessKeyId")
		}
		if subtle.ConstantTimeCompare([]byte(token), []byte(c.SecurityToken)) != 1 {
			return acs.Credential{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "The security token you provided is invalid.")
		}
		if !c.Expires.IsZero() && !s.now().Before(c.Expires) {
			return acs.Credential{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "The security token you provided has expired.")
		}
	} else if token != "" {
		return acs.Credential{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "The security token you provided is invalid.")
	}
	return c, nil
}

func (s *Server) verifyV1(r *http.Request, body []byte, cred string) (acs.Caller, *Error) {
	ak, sig, ok := strings.Cut(cred, ":")
	if !ok || ak == "" || sig == "" {
		return acs.Caller{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "invalid Authorization header")
	}
	// Date must be sent even with x-log-date, whose value, when present,
	// replaces Date's in the verification and which is itself unsigned
	// (Common request headers). aliyun-log-python-sdk (auth.py, AuthV1)
	// adds x-log-date, a copy of Date, after signing, for proxies that
	// drop Date.
	date := r.Header.Get("Date")
	if date == "" {
		return acs.Caller{}, errorf(http.StatusBadRequest, CodeMissingDate, "Date does not exist in http header.")
	}
	if d := r.Header.Get("x-log-date"); d != "" {
		date = d
	}
	t, err := http.ParseTime(date)
	if err != nil {
		return acs.Caller{}, errorf(http.StatusBadRequest, CodeInvalidDateFormat, "Date %s must follow RFC822.", date)
	}
	if e := s.checkSkew(t); e != nil {
		return acs.Caller{}, e
	}
	c, e := s.credential(r, ak)
	if e != nil {
		return acs.Caller{}, e
	}
	contentMD5 := r.Header.Get("Content-MD5")
	// A Content-MD5 is signed, so it must describe the body that came with
	// it, even a body the operation ignores (found by FuzzSLSRequest).
	if (len(body) > 0 || contentMD5 != "") && contentMD5 != fmt.Sprintf("%X", md5.Sum(body)) {
		return acs.Caller{}, errorf(http.StatusBadRequest, "InvalidContentMD5", "Content-MD5 does not match the body")
	}
	if m := r.Header.Get("x-log-signaturemethod"); m != "" && m != "hmac-sha1" {
		return acs.Caller{}, errorf(http.StatusBadRequest, "InvalidSignatureMethod", "signature method %s is unsupported", m)
	}
	want := signV1(c.AccessKeySecret, r.Method, contentMD5, r.Header.Get("Content-Type"), date,
		canonicalHeadersV1(r.Header), canonicalResourceV1(r.URL))
	if subtle.ConstantTimeCompare([]byte(sig), []byte(want)) != 1 {
		return acs.Caller{}, errorf(http.StatusUnauthorized, CodeSignatureNotMatch, "signature %s not match", sig)
	}
	return acs.Caller{AccountID: c.AccountID, AccessKeyID: c.AccessKeyID, Role: c.Role}, nil
}

func (s *Server) checkSkew(t time.Time) *Error {
	now := s.now()
	if d := now.Sub(t); d > maxSkew || d < -maxSkew {
		return errorf(http.StatusBadRequest, CodeRequestTimeTooSkewed, "Request time %s is too skewed from server time %s.",
			t.UTC().Format(http.TimeFormat), now.UTC().Format(http.TimeFormat))
	}
	return nil
}

// signV1 is base64(hmac-sha1(secret, method\nmd5\ntype\ndate\nheaders\nresource)).
func signV1(secret, method, contentMD5, contentType, date, headers, resource string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(method + "\n" + contentMD5 + "\n" + contentType + "\n" + date + "\n" + headers + "\n" + resource))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// canonicalHeadersV1 joins the x-log-* and x-acs-* headers but x-log-date
// (which "does not take part in the signature"), lower-cased and sorted, as
// "k:v" lines.
func canonicalHeadersV1(h http.Header) string {
	var keys []string
	vals := map[string]string{}
	for k, v := range h {
		l := strings.ToLower(k)
		if l == "x-log-date" {
			continue
		}
		if strings.HasPrefix(l, "x-log-") || strings.HasPrefix(l, "x-acs-") {
			keys = append(keys, l)
			vals[l] = strings.TrimSpace(strings.Join(v, ","))
		}
	}
	sort.Strings(keys)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = k + ":" + vals[k]
	}
	return strings.Join(lines, "\n")
}

// canonicalResourceV1 is the escaped path, then "?" and the decoded query
// parameters sorted by name, "k=v" joined by "&" (the SDK concatenates the
// values of a repeated parameter without a separator; so does this).
func canonicalResourceV1(u *url.URL) string {
	res := u.EscapedPath()
	if u.RawQuery == "" {
		return res
	}
	q := u.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(res)
	b.WriteByte('?')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		for _, v := range q[k] {
			b.WriteString(k + "=" + v)
		}
	}
	return b.String()
}

func (s *Server) verifyV4(r *http.Request, body []byte, rest string) (acs.Caller, *Error) {
	var credential, signature string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			credential = v
		case "Signature":
			signature = v
		}
	}
	scope := strings.Split(credential, "/")
	if len(scope) != 5 || scope[3] != "sls" || scope[4] != "aliyun_v4_request" || signature == "" {
		return acs.Caller{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "invalid Authorization header")
	}
	ak, date, region := scope[0], scope[1], scope[2]
	dateTime := r.Header.Get("x-log-date")
	t, err := time.Parse("20060102T150405Z", dateTime)
	if err != nil || !strings.HasPrefix(dateTime, date) {
		return acs.Caller{}, errorf(http.StatusBadRequest, CodeInvalidDateFormat, "x-log-date %q is invalid", dateTime)
	}
	if e := s.checkSkew(t); e != nil {
		return acs.Caller{}, e
	}
	if s.region != "" && region != s.region {
		return acs.Caller{}, errorf(http.StatusUnauthorized, CodeSignatureNotMatch, "region %s in the credential scope is not %s", region, s.region)
	}
	c, e := s.credential(r, ak)
	if e != nil {
		return acs.Caller{}, e
	}
	for k, vs := range r.URL.Query() {
		if len(vs) > 1 {
			// SignerV4 signs one value per parameter; the others would
			// ride along unsigned.
			return acs.Caller{}, errorf(http.StatusUnauthorized, CodeSignatureNotMatch, "query parameter %q is repeated; a V4 signature covers one value", k)
		}
	}
	payload := r.Header.Get("x-log-content-sha256")
	if sum := hex.EncodeToString(sha256Sum(body)); payload != sum && payload != emptySHA256 {
		return acs.Caller{}, errorf(http.StatusBadRequest, "InvalidContentSha256", "x-log-content-sha256 does not match the body")
	}
	want := signV4(c.AccessKeySecret, region, date, dateTime, canonicalRequestV4(r, payload))
	if subtle.ConstantTimeCompare([]byte(signature), []byte(want)) != 1 {
		return acs.Caller{}, errorf(http.StatusUnauthorized, CodeSignatureNotMatch, "signature %s not match", signature)
	}
	return acs.Caller{AccountID: c.AccountID, AccessKeyID: c.AccessKeyID, Role: c.Role}, nil
}

func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// canonicalRequestV4 rebuilds what SignerV4 hashes: method, escaped path,
// sorted percent-encoded query, the signed headers (host, content-type,
// x-log-* but x-log-meta-*, x-acs-*) and the payload hash.
func canonicalRequestV4(r *http.Request, payload string) string {
	headers := map[string]string{"host": r.Host}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		headers["content-type"] = ct
	}
	for k, v := range r.Header {
		l := strings.ToLower(k)
		if strings.HasPrefix(l, "x-log-meta-") {
			continue
		}
		if strings.HasPrefix(l, "x-log-") || strings.HasPrefix(l, "x-acs-") {
			headers[l] = strings.Join(v, ",")
		}
	}
	keys := make([]string, 0, len(headers))
	for k := range headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var canon strings.Builder
	for _, k := range keys {
		canon.WriteString(k + ":" + headers[k] + "\n")
	}
	q := r.URL.Query()
	qkeys := make([]string, 0, len(q))
	for k := range q {
		qkeys = append(qkeys, k)
	}
	sort.Strings(qkeys)
	var query strings.Builder
	for i, k := range qkeys {
		if i > 0 {
			query.WriteByte('&')
		}
		query.WriteString(k)
		if v := strings.ReplaceAll(url.QueryEscape(q.Get(k)), "+", "%20"); v != "" {
			query.WriteString("=" + v)
		}
	}
	return r.Method + "\n" + r.URL.EscapedPath() + "\n" + query.String() + "\n" +
		canon.String() + "\n" + strings.Join(keys, ";") + "\n" + payload
}

func signV4(secret, region, date, dateTime, canonicalRequest string) string {
	scope := date + "/" + region + "/sls/aliyun_v4_request"
	toSign := "SLS4-HMAC-SHA256\n" + dateTime + "\n" + scope + "\n" + hex.EncodeToString(sha256Sum([]byte(canonicalRequest)))
	key := hmacSHA256([]byte("aliyun_v4"+secret), date)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, "sls")
	key = hmacSHA256(key, "aliyun_v4_request")
	return hex.EncodeToString(hmacSHA256(key, toSign))
}
