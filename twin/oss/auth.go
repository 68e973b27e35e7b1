package oss

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
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

const (
	algorithmV4     = "OSS4-HMAC-SHA256"
	unsignedPayload = "UNSIGNED-PAYLOAD"
	v4TimeFormat    = "20060102T150405Z"
	v4DateFormat    = "20060102"
)

// authenticate verifies the request's Authorization header — V4
// (OSS4-HMAC-SHA256, the v2 SDK's default) or V1 (OSS ak:signature) — and
// returns the caller.
func (s *Server) authenticate(q *request) (acs.Caller, *ossError) {
	auth := q.Header.Get("Authorization")
	if auth != "" {
		if e := singleValued(q); e != nil {
			return acs.Caller{}, e
		}
	}
	switch {
	case strings.HasPrefix(auth, algorithmV4+" "):
		return s.verifyV4(q, strings.TrimPrefix(auth, algorithmV4+" "))
	case strings.HasPrefix(auth, "OSS "):
		return s.verifyV1(q, strings.TrimPrefix(auth, "OSS "))
	case auth == "" && (q.URL.Query().Has("x-oss-signature") || q.URL.Query().Has("Signature")):
		return acs.Caller{}, errorf(http.StatusForbidden, "AccessDenied", "The twin does not accept signatures in the URL (presigned requests).")
	case auth == "":
		return acs.Caller{}, errorf(http.StatusForbidden, "AccessDenied", "You have no right to access this object because of bucket acl.")
	default:
		return acs.Caller{}, errorf(http.StatusBadRequest, "InvalidArgument", "Authorization header is invalid.")
	}
}

// singleValued refuses a request that carries a header the signature
// covers by one value (Date, Content-Type, Content-MD5) more than once:
// the twin would verify one value and leave the other unsigned. What OSS
// does with such a request is not documented; the twin takes the weakest
// reading and refuses it (found by FuzzOSSRequest: a second Date was
// answered 200).
func singleValued(q *request) *ossError {
	for _, h := range []string{"Date", "Content-Type", "Content-MD5"} {
		if len(q.Header.Values(h)) > 1 {
			return errorf(http.StatusBadRequest, "InvalidArgument", "The request carries header %s more than once.", h)
		}
	}
	return nil
}

// credential looks up the access key and checks the security token an STS
// key must carry (and a long-term key must not).
func (s *Server) credential(akID, token string) (acs.Credential, *ossError) {
	c, ok := s.keys.Lookup(akID)
	if !ok {
		return acs.Credential{}, errInvalidAccessKeyID.with("OSSAccessKeyId", akID)
	}
	switch {
	case c.IsSTS() && !hmac.Equal([]byte(token), []byte(c.SecurityToken)):
		return acs.Credential{}, errInvalidSecurityToken
	case c.IsSTS() && !c.Expires.IsZero() && !s.now().Before(c.Expires):
		return acs.Credential{}, errSecurityTokenExpired
	case !c.IsSTS() && token != "":
		// OSS treats any request with a token as an STS request.
		return acs.Credential{}, errInvalidAccessKeyID.with("OSSAccessKeyId", akID)
	}
	return c, nil
}

func (s *Server) checkSkew(t time.Time) *ossError {
	now := s.now()
	if d := now.Sub(t); d > s.maxSkew || d < -s.maxSkew {
		return errTimeTooSkewed.
			with("RequestTime", t.UTC().Format(time.RFC3339)).
			with("ServerTime", now.UTC().Format(time.RFC3339)).
			with("MaxAllowedSkewMilliseconds", fmt.Sprint(s.maxSkew.Milliseconds()))
	}
	return nil
}

func callerOf(c acs.Credential) acs.Caller {
	return acs.Caller{AccountID: c.AccountID, AccessKeyID: c.AccessKeyID, Role: c.Role}
}

// verifyV4 checks "Credential=AK/date/region/oss/aliyun_v4_request,
// [AdditionalHeaders=h1;h2,]Signature=hex" as signer/v4.go computes it.
func (s *Server) verifyV4(q *request, params string) (acs.Caller, *ossError) {
	var credential, additional, signature string
	for _, part := range strings.Split(params, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			credential = v
		case "AdditionalHeaders":
			additional = v
		case "Signature":
			signature = v
		}
	}
	bad := func(msg string) (acs.Caller, *ossError) {
		return acs.Caller{}, errorf(http.StatusBadRequest, "InvalidArgument", "Authorization header is invalid: %s", msg)
	}
	scopeParts := strings.Split(credential, "/")
	if len(scopeParts) != 5 || scopeParts[4] != "aliyun_v4_request" || signature == "" {
		return bad("want Credential=<AccessKeyId>/<yyyymmdd>/<region>/oss/aliyun_v4_request and Signature")
	}
	akID, date, region, product := scopeParts[0], scopeParts[1], scopeParts[2], scopeParts[3]
	if product != "oss" {
		return bad("the credential scope must name the oss product")
	}
	stamp := q.Header.Get("x-oss-date")
	t, err := time.Parse(v4TimeFormat, stamp)
	if err != nil {
		return acs.Caller{}, errorf(http.StatusForbidden, "AccessDenied", "The x-oss-date header is missing or not in the form 20060102T150405Z.")
	}
	if date != t.Format(v4DateFormat) {
		return bad("the credential date does not match x-oss-date")
	}
	cred, e := s.credential(akID, q.Header.Get("x-oss-security-token"))
	if e != nil {
		return acs.Caller{}, e
	}
	if e := s.checkSkew(t); e != nil {
		return acs.Caller{}, e
	}
	var extra []string
	if additional != "" {
		extra = strings.Split(additional, ";")
	}
	canonical := canonicalRequestV4(q, extra)
	sum := sha256.Sum256([]byte(canonical))
	scope := strings.Join(scopeParts[1:], "/")
	stringToSign := algorithmV4 + "\n" + stamp + "\n" + scope + "\n" + hex.EncodeToString(sum[:])

	key := hmacSHA256([]byte("aliyun_v4"+cred.AccessKeySecret), date)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, product)
	key = hmacSHA256(key, "aliyun_v4_request")
	want := hex.EncodeToString(hmacSHA256(key, stringToSign))
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return acs.Caller{}, errSignatureDoesNotMatch.
			with("StringToSign", stringToSign).
			with("CanonicalRequest", canonical).
			with("OSSAccessKeyId", akID)
	}
	return callerOf(cred), nil
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// canonicalRequestV4 rebuilds the SDK's canonical request from what arrived.
func canonicalRequestV4(q *request, additional []string) string {
	var b strings.Builder
	b.WriteString(q.Method + "\n")
	b.WriteString(uriEncode(resourcePath(q), false) + "\n")

	// Query: decoded, re-encoded (RFC 3986), sorted; "k" alone when empty.
	type kv struct{ k, v string }
	var params []kv
	for _, pair := range strings.Split(q.URL.RawQuery, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, _ = url.QueryUnescape(k)
		v, _ = url.QueryUnescape(v)
		params = append(params, kv{uriEncode(k, true), uriEncode(v, true)})
	}
	sort.SliceStable(params, func(i, j int) bool { return params[i].k < params[j].k })
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		if p.v != "" {
			b.WriteString("=" + p.v)
		}
	}
	b.WriteByte('\n')

	// Headers: x-oss-*, content-type, content-md5 and the additional ones.
	extra := map[string]bool{}
	for _, h := range additional {
		extra[strings.ToLower(h)] = true
	}
	values := map[string][]string{}
	for k, vs := range q.Header {
		low := strings.ToLower(k)
		if strings.HasPrefix(low, "x-oss-") || low == "content-type" || low == "content-md5" || extra[low] {
			values[low] = append(values[low], vs...)
		}
	}
	if extra["host"] {
		values["host"] = []string{q.Host}
	}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		vs := make([]string, len(values[k]))
		for i, v := range values[k] {
			vs[i] = strings.TrimSpace(v)
		}
		b.WriteString(k + ":" + strings.Join(vs, ",") + "\n")
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(additional, ";") + "\n")
	if p := q.Header.Get("x-oss-content-sha256"); p != "" {
		b.WriteString(p)
	} else {
		b.WriteString(unsignedPayload)
	}
	return b.String()
}

// resourcePath is "/bucket/key" ("/bucket/" for bucket operations, "/" for
// the service), the resource both signature versions sign whatever the
// addressing style.
func resourcePath(q *request) string {
	switch {
	case q.bucketName == "":
		return "/"
	case !q.hasKey:
		return "/" + q.bucketName + "/"
	default:
		return "/" + q.bucketName + "/" + q.key
	}
}

// uriEncode percent-encodes every byte but A-Z a-z 0-9 - . _ ~ (and '/'
// unless encodeSlash), upper-case hex, as signer/v4.go's escapePath.
func uriEncode(s string, encodeSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || (c == '/' && !encodeSlash) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// v1SignedParams are the query parameters V1 signs (signer/v1.go); other
// parameters are outside the signature, as in OSS.
var v1SignedParams = map[string]bool{
	"acl": true, "bucketInfo": true, "location": true, "stat": true, "delete": true,
	"append": true, "tagging": true, "objectMeta": true, "uploads": true, "uploadId": true,
	"partNumber": true, "security-token": true, "position": true,
	"response-content-type": true, "response-content-language": true, "response-expires": true,
	"response-cache-control": true, "response-content-disposition": true, "response-content-encoding": true,
	"restore": true, "callback": true, "callback-var": true, "versions": true, "versioning": true,
	"versionId": true, "sequential": true, "continuation-token": true, "regionList": true,
	"cloudboxes": true, "symlink": true,
}

// v1Date is a date the V1 string to sign may carry, with the time it names.
type v1Date struct {
	value string
	t     time.Time
}

// v1Dates are the dates a V1 request may have signed, x-oss-date first: OSS
// takes the date from Date or x-oss-date (error 0002-00000503), ali-oss
// (lib/common/signUtils.js, buildCanonicalString) sends only x-oss-date, as
// an HTTP date, and signs it in Date's place, and oss2 (auth.py) signs
// x-oss-date when present, else Date. The Go v2 SDK signs Date and never
// sends x-oss-date with V1. A date that does not parse is left out.
func v1Dates(q *request) []v1Date {
	var out []v1Date
	if v := q.Header.Get("x-oss-date"); v != "" {
		t, err := http.ParseTime(v)
		if err != nil {
			t, err = time.Parse(v4TimeFormat, v)
		}
		if err == nil {
			out = append(out, v1Date{v, t})
		}
	}
	if v := q.Header.Get("Date"); v != "" {
		if t, err := http.ParseTime(v); err == nil {
			out = append(out, v1Date{v, t})
		}
	}
	return out
}

// verifyV1 checks "OSS ak:base64(hmac-sha1(secret, StringToSign))". When a
// request carries both x-oss-date and Date, either may be the one signed
// (the SDKs disagree); the time checked is the signed one.
func (s *Server) verifyV1(q *request, params string) (acs.Caller, *ossError) {
	akID, signature, ok := strings.Cut(params, ":")
	if !ok || akID == "" || signature == "" {
		return acs.Caller{}, errorf(http.StatusBadRequest, "InvalidArgument", "Authorization header is invalid: want OSS <AccessKeyId>:<Signature>.")
	}
	dates := v1Dates(q)
	if len(dates) == 0 {
		return acs.Caller{}, errorf(http.StatusForbidden, "AccessDenied", "The request has no valid Date or x-oss-date header.")
	}
	cred, e := s.credential(akID, q.Header.Get("x-oss-security-token"))
	if e != nil {
		return acs.Caller{}, e
	}
	var first string
	for i, d := range dates {
		stringToSign := stringToSignV1(q, d.value)
		h := hmac.New(sha1.New, []byte(cred.AccessKeySecret))
		h.Write([]byte(stringToSign))
		want := base64.StdEncoding.EncodeToString(h.Sum(nil))
		if hmac.Equal([]byte(want), []byte(signature)) {
			if e := s.checkSkew(d.t); e != nil {
				return acs.Caller{}, e
			}
			return callerOf(cred), nil
		}
		if i == 0 {
			first = stringToSign
		}
	}
	// A request too far from the twin's clock is refused for that first,
	// signed well or not, so that the SDK can correct its clock.
	if e := s.checkSkew(dates[0].t); e != nil {
		return acs.Caller{}, e
	}
	return acs.Caller{}, errSignatureDoesNotMatch.
		with("StringToSign", first).
		with("OSSAccessKeyId", akID)
}

// stringToSignV1 is VERB, Content-MD5, Content-Type and date, one a line,
// then the x-oss-* headers and the canonical resource, as signer/v1.go and
// signUtils.js build it.
func stringToSignV1(q *request, date string) string {
	var b strings.Builder
	b.WriteString(q.Method + "\n" + q.Header.Get("Content-MD5") + "\n" + q.Header.Get("Content-Type") + "\n" + date + "\n")
	var names []string
	values := map[string][]string{}
	for k, vs := range q.Header {
		low := strings.ToLower(k)
		if strings.HasPrefix(low, "x-oss-") {
			if _, seen := values[low]; !seen {
				names = append(names, low)
			}
			values[low] = append(values[low], vs...)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		vs := make([]string, len(values[k]))
		for i, v := range values[k] {
			vs[i] = strings.TrimSpace(v)
		}
		b.WriteString(k + ":" + strings.Join(vs, ",") + "\n")
	}
	b.WriteString(resourcePath(q))
	query := q.URL.Query()
	var sub []string
	for k := range query {
		if v1SignedParams[k] || strings.HasPrefix(k, "x-oss-") {
			sub = append(sub, k)
		}
	}
	sort.Strings(sub)
	for i, k := range sub {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(k)
		if v := query.Get(k); v != "" {
			b.WriteString("=" + v)
		}
	}
	return b.String()
}
