package acs

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults of a Verifier, those of the real OpenAPI gateway where it has one.
const (
	DefaultSkew         = 15 * time.Minute
	DefaultMaxNonces    = 1 << 18
	DefaultMaxBodyBytes = 8 << 20
)

// VerifierOptions configures a Verifier. The zero value gives the defaults.
type VerifierOptions struct {
	// Skew is how far a request's timestamp may lie from the verifier's
	// clock, either way; 0 means DefaultSkew. A nonce is remembered until
	// its request's timestamp plus Skew.
	Skew time.Duration
	// Now is the verifier's clock; nil means time.Now. Tests inject a clock
	// to make timestamps stale or STS credentials expire.
	Now func() time.Time
	// MaxNonces bounds the signature nonces remembered for replay
	// detection; 0 means DefaultMaxNonces. Past the bound the oldest are
	// forgotten first.
	MaxNonces int
	// MaxBodyBytes bounds the request body VerifyRPC reads; 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// Verifier checks the signatures the official SDKs put on OpenAPI requests
// against a Keyring: V3 (ACS3-HMAC-SHA256, darabonba-openapi) for RPC and
// ROA styles and V1 (HMAC-SHA1, alibaba-cloud-sdk-go, credentials-go, the
// aliyun CLI) for RPC style. It refuses stale timestamps, reused nonces,
// unknown access keys and STS keys without their matching, unexpired token.
// It never logs and never puts secrets, tokens or signatures into its
// errors. A Verifier is safe for concurrent use.
type Verifier struct {
	keys    *Keyring
	skew    time.Duration
	now     func() time.Time
	maxBody int64
	nonces  *nonceCache
}

// NewVerifier returns a verifier of requests signed with keys of k.
func NewVerifier(k *Keyring, opts VerifierOptions) *Verifier {
	v := &Verifier{keys: k, skew: opts.Skew, now: opts.Now, maxBody: opts.MaxBodyBytes}
	if v.skew <= 0 {
		v.skew = DefaultSkew
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.maxBody <= 0 {
		v.maxBody = DefaultMaxBodyBytes
	}
	maxNonces := opts.MaxNonces
	if maxNonces <= 0 {
		maxNonces = DefaultMaxNonces
	}
	v.nonces = newNonceCache(maxNonces)
	return v
}

// Now returns the time on the verifier's clock; twins that mint or expire
// credentials use it so that one injected clock governs them all.
func (v *Verifier) Now() time.Time { return v.now() }

// Keyring returns the keyring the verifier checks against.
func (v *Verifier) Keyring() *Keyring { return v.keys }

// VerifyRPC authenticates an RPC-style request (served at "/", parameters in
// the query string and/or a form body) signed with V3 or V1. It consumes
// r.Body. On success it returns the caller and the request's parameters:
// query and form merged, with "Action" and "Version" taken from the
// x-acs-action / x-acs-version headers of a V3 request, and with the
// "Signature" and "SecurityToken" parameters removed. Refusals are *Error
// values: SignatureDoesNotMatch, IncompleteSignature, MissingSignature,
// InvalidAccessKeyId.NotFound, InvalidTimeStamp.Expired,
// SignatureNonceUsed, MissingSecurityToken,
// InvalidSecurityToken.MismatchWithAccessKey, InvalidSecurityToken.Expired
// and the like.
func (v *Verifier) VerifyRPC(r *http.Request) (Caller, url.Values, error) {
	body, err := v.readBody(r)
	if err != nil {
		return Caller{}, nil, err
	}
	params, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return Caller{}, nil, ErrMalformedQueryOrBody
	}
	auth := r.Header.Get("Authorization")
	var caller Caller
	switch {
	case strings.HasPrefix(auth, "ACS3-"):
		payload := sha256.Sum256(body)
		if caller, err = v.verifyV3(r, auth, params, &payload); err != nil {
			return Caller{}, nil, err
		}
		if err := mergeForm(params, r, body); err != nil {
			return Caller{}, nil, err
		}
		if a := r.Header.Get("x-acs-action"); a != "" {
			params["Action"] = []string{a}
		}
		if ver := r.Header.Get("x-acs-version"); ver != "" {
			params["Version"] = []string{ver}
		}
	case auth != "":
		return Caller{}, nil, ErrIncompleteSignature
	default:
		if err := mergeForm(params, r, body); err != nil {
			return Caller{}, nil, err
		}
		if caller, err = v.verifyV1(r.Method, params); err != nil {
			return Caller{}, nil, err
		}
	}
	delete(params, "Signature")
	delete(params, "SecurityToken")
	return caller, params, nil
}

// VerifyROA authenticates a ROA-style request (method, path, query, headers
// and body all signed) sent with the V3 signature, as darabonba-openapi's
// CallApi sends it with Style "ROA" (e.g. FC InvokeFunction). body is the
// request body the caller has already read; r.Body is not touched.
// Refusals are the *Error values VerifyRPC documents.
func (v *Verifier) VerifyROA(r *http.Request, body []byte) (Caller, error) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return Caller{}, ErrMissingSignature
	}
	if !strings.HasPrefix(auth, "ACS3-") {
		return Caller{}, ErrIncompleteSignature
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return Caller{}, ErrMalformedQueryOrBody
	}
	payload := sha256.Sum256(body)
	return v.verifyV3(r, auth, query, &payload)
}

func (v *Verifier) readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, nil
	}
	if r.ContentLength > v.maxBody {
		return nil, ErrRequestEntityTooLarge
	}
	if r.ContentLength > 0 {
		b := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, ErrMalformedQueryOrBody
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, v.maxBody+1))
	if err != nil {
		return nil, ErrMalformedQueryOrBody
	}
	if int64(len(b)) > v.maxBody {
		return nil, ErrRequestEntityTooLarge
	}
	return b, nil
}

// mergeForm adds the parameters of a form body to params.
func mergeForm(params url.Values, r *http.Request, body []byte) error {
	if len(body) == 0 {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if ct != "application/x-www-form-urlencoded" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil
		}
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return ErrMalformedQueryOrBody
	}
	for k, vs := range form {
		params[k] = append(params[k], vs...)
	}
	return nil
}

// admit runs the checks common to both signature versions that come before
// the signature itself: timestamp, access key, security token.
func (v *Verifier) admit(akID, token, ts string) (Credential, time.Time, error) {
	if ts == "" {
		return Credential{}, time.Time{}, ErrMissingTimestamp
	}
	t, err := parseTimestamp(ts)
	if err != nil {
		return Credential{}, time.Time{}, ErrTimestampFormat
	}
	now := v.now()
	if t.Before(now.Add(-v.skew)) || t.After(now.Add(v.skew)) {
		return Credential{}, time.Time{}, ErrTimestampExpired
	}
	cred, ok := v.keys.Lookup(akID)
	if !ok {
		return Credential{}, time.Time{}, ErrAccessKeyNotFound
	}
	switch {
	case cred.IsSTS() && token == "":
		return Credential{}, time.Time{}, ErrMissingSecurityToken
	case cred.IsSTS() && subtle.ConstantTimeCompare([]byte(token), []byte(cred.SecurityToken)) != 1:
		return Credential{}, time.Time{}, ErrSecurityTokenMismatch
	case cred.IsSTS() && !now.Before(cred.Expires):
		return Credential{}, time.Time{}, ErrSecurityTokenExpired
	case !cred.IsSTS() && token != "":
		return Credential{}, time.Time{}, ErrSecurityTokenMismatch
	}
	return cred, t, nil
}

// useNonce records nonce for a request stamped at t.
func (v *Verifier) useNonce(nonce string, t time.Time) error {
	if !v.nonces.use(nonce, t.Add(v.skew).UnixNano(), v.now().UnixNano()) {
		return ErrSignatureNonceUsed
	}
	return nil
}

func parseTimestamp(s string) (time.Time, error) {
	t, err := time.Parse("2006-01-02T15:04:05Z", s)
	if err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

func callerOf(c Credential) Caller {
	return Caller{AccountID: c.AccountID, AccessKeyID: c.AccessKeyID, Role: c.Role}
}

// bufPool holds scratch buffers for canonical requests and strings to sign.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// --- V1: HMAC-SHA1 over the sorted parameters -----------------------------

func (v *Verifier) verifyV1(method string, params url.Values) (Caller, error) {
	sig := params.Get("Signature")
	if sig == "" {
		return Caller{}, ErrMissingSignature
	}
	akID := params.Get("AccessKeyId")
	if akID == "" {
		return Caller{}, ErrMissingAccessKeyID
	}
	if m := params.Get("SignatureMethod"); m != "HMAC-SHA1" {
		return Caller{}, ErrUnsupportedSignMethod
	}
	if sv := params.Get("SignatureVersion"); sv != "1.0" {
		return Caller{}, ErrUnsupportedSignMethod
	}
	nonce := params.Get("SignatureNonce")
	if nonce == "" {
		return Caller{}, ErrMissingSignatureNonce
	}
	cred, ts, err := v.admit(akID, params.Get("SecurityToken"), params.Get("Timestamp"))
	if err != nil {
		return Caller{}, err
	}

	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	sts := appendV1StringToSign((*bp)[:0], method, params)
	*bp = sts

	mac := hmac.New(sha1.New, []byte(cred.AccessKeySecret+"&"))
	mac.Write(sts)
	var sum [sha1.Size]byte
	var want [28]byte // base64 of 20 bytes
	base64.StdEncoding.Encode(want[:], mac.Sum(sum[:0]))
	if subtle.ConstantTimeCompare(want[:], []byte(sig)) != 1 {
		return Caller{}, v1SignatureMismatch(method, params)
	}
	if err := v.useNonce(nonce, ts); err != nil {
		return Caller{}, err
	}
	return callerOf(cred), nil
}

// v1MismatchPrefix opens the gateway's V1 SignatureDoesNotMatch message; its
// string to sign follows. aliyun-python-sdk-core (client.py,
// _get_server_exception) takes the text after the first ':' and
// alibaba-cloud-sdk-go (sdk/errors/signature_does_not_match_wrapper.go)
// the text after "server string to sign is:", and both compare it with
// their own to tell a wrong secret from a signing bug.
const v1MismatchPrefix = "Specified signature is not matched with our calculation. server string to sign is:"

// v1SignatureMismatch is the V1 refusal of a bad signature, carrying the
// string to sign as the gateway does. That string holds every parameter
// but the signature, a SecurityToken included: its value is replaced by
// "***", so that a logged error never carries a credential (the caller's
// comparison then fails and the SDKs report a plain mismatch).
func v1SignatureMismatch(method string, params url.Values) *Error {
	if params.Has("SecurityToken") {
		masked := maps.Clone(params)
		masked["SecurityToken"] = []string{"***"}
		params = masked
	}
	return &Error{Status: http.StatusBadRequest, Code: ErrSignatureDoesNotMatch.Code,
		Message: v1MismatchPrefix + string(appendV1StringToSign(nil, method, params))}
}

// appendV1StringToSign appends METHOD&%2F&enc(k1=v1&k2=v2...) with the
// parameters other than Signature sorted by key, as the SDKs build it:
// url.Values.Encode, then POP percent-encoding fix-ups, then QueryEscape.
func appendV1StringToSign(b []byte, method string, params url.Values) []byte {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	b = append(b, method...)
	b = append(b, "&%2F&"...)
	first := true
	for _, k := range keys {
		for _, val := range params[k] {
			if !first {
				b = append(b, "%26"...)
			}
			first = false
			b = appendDoubleEncoded(b, k)
			b = append(b, "%3D"...)
			b = appendDoubleEncoded(b, val)
		}
	}
	return b
}

// --- V3: ACS3-HMAC-SHA256 over the canonical request ----------------------

const v3Algorithm = "ACS3-HMAC-SHA256"

// v3Auth is the parsed Authorization header; its strings alias the header.
type v3Auth struct {
	accessKeyID   string
	signedHeaders string
	signature     string
}

func parseV3Auth(h string) (v3Auth, error) {
	alg, rest, ok := strings.Cut(h, " ")
	if !ok {
		return v3Auth{}, ErrIncompleteSignature
	}
	if alg != v3Algorithm {
		return v3Auth{}, errUnsupportedV3Algorithm
	}
	var a v3Auth
	for part := range strings.SplitSeq(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return v3Auth{}, ErrIncompleteSignature
		}
		switch k {
		case "Credential":
			a.accessKeyID = val
		case "SignedHeaders":
			a.signedHeaders = val
		case "Signature":
			a.signature = val
		}
	}
	switch {
	case a.signature == "":
		return v3Auth{}, ErrMissingSignature
	case a.accessKeyID == "":
		return v3Auth{}, ErrMissingAccessKeyID
	case a.signedHeaders == "":
		return v3Auth{}, ErrIncompleteSignature
	}
	return a, nil
}

// signedHeaderSet reports whether name appears in the ;-separated list.
func signedHeaderSet(list, name string) bool {
	for h := range strings.SplitSeq(list, ";") {
		if h == name {
			return true
		}
	}
	return false
}

func (v *Verifier) verifyV3(r *http.Request, authHeader string, query url.Values, payload *[32]byte) (Caller, error) {
	a, err := parseV3Auth(authHeader)
	if err != nil {
		return Caller{}, err
	}
	// The headers that make a request unique and fresh must be signed.
	for _, h := range [...]string{"host", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"} {
		if !signedHeaderSet(a.signedHeaders, h) {
			return Caller{}, ErrIncompleteSignature
		}
	}
	token := r.Header.Get("x-acs-security-token")
	if token != "" && !signedHeaderSet(a.signedHeaders, "x-acs-security-token") {
		return Caller{}, ErrIncompleteSignature
	}
	nonce := r.Header.Get("x-acs-signature-nonce")
	if nonce == "" {
		return Caller{}, ErrMissingSignatureNonce
	}
	var payloadHex [64]byte
	hex.Encode(payloadHex[:], payload[:])
	cred, ts, err := v.admit(a.accessKeyID, token, r.Header.Get("x-acs-date"))
	if err != nil {
		return Caller{}, err
	}
	if h := r.Header.Get("x-acs-content-sha256"); h != "" && h != string(payloadHex[:]) {
		return Caller{}, errContentSHA256Mismatch
	}

	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	b := (*bp)[:0]
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = appendCanonicalURI(b, r)
	b = append(b, '\n')
	b = appendCanonicalQuery(b, query)
	b = append(b, '\n')
	for h := range strings.SplitSeq(a.signedHeaders, ";") {
		b = append(b, h...)
		b = append(b, ':')
		b = appendHeaderValue(b, r, h)
		b = append(b, '\n')
	}
	b = append(b, '\n')
	b = append(b, a.signedHeaders...)
	b = append(b, '\n')
	b = append(b, payloadHex[:]...)
	crHash := sha256.Sum256(b)

	b = append(b[:0], v3Algorithm...)
	b = append(b, '\n')
	b = hex.AppendEncode(b, crHash[:])
	*bp = b

	mac := hmac.New(sha256.New, []byte(cred.AccessKeySecret))
	mac.Write(b)
	var sum [sha256.Size]byte
	var want [2 * sha256.Size]byte
	hex.Encode(want[:], mac.Sum(sum[:0]))
	if subtle.ConstantTimeCompare(want[:], []byte(a.signature)) != 1 {
		return Caller{}, ErrSignatureDoesNotMatch
	}
	if err := v.useNonce(nonce, ts); err != nil {
		return Caller{}, err
	}
	return callerOf(cred), nil
}

// appendCanonicalURI appends the request path as the client wrote it, with
// the fix-ups darabonba applies (+ → %20, * → %2A, %7E → ~).
func appendCanonicalURI(b []byte, r *http.Request) []byte {
	p := r.RequestURI
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if !strings.HasPrefix(p, "/") {
		p = r.URL.EscapedPath()
	}
	if p == "" {
		return append(b, '/')
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '+':
			b = append(b, "%20"...)
		case c == '*':
			b = append(b, "%2A"...)
		case c == '%' && i+2 < len(p) && p[i+1] == '7' && (p[i+2] == 'E' || p[i+2] == 'e'):
			b = append(b, '~')
			i += 2
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendCanonicalQuery appends k=enc(v) pairs sorted by key and joined by
// '&', keys as sent, values percent-encoded as darabonba does. A repeated
// key contributes every value in order (the SDKs never send one, their
// query being a map), so a value appended after signing breaks the
// signature instead of riding along unsigned.
func appendCanonicalQuery(b []byte, query url.Values) []byte {
	var small [16]string
	keys := small[:0]
	for k := range query {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			b = append(b, '&')
		}
		vs := query[k]
		if len(vs) == 0 {
			vs = []string{""}
		}
		for j, v := range vs {
			if j > 0 {
				b = append(b, '&')
			}
			b = append(b, k...)
			b = append(b, '=')
			b = appendPercentEncoded(b, v)
		}
	}
	return b
}

// appendHeaderValue appends the canonical value of the lower-case header
// name: trimmed, several values sorted and joined by ','.
func appendHeaderValue(b []byte, r *http.Request, name string) []byte {
	if name == "host" {
		return append(b, strings.TrimSpace(r.Host)...)
	}
	vals := r.Header[canonicalHeaderKey(name)]
	switch len(vals) {
	case 0:
		return b
	case 1:
		return append(b, strings.TrimSpace(vals[0])...)
	}
	sorted := make([]string, len(vals))
	for i, v := range vals {
		sorted[i] = strings.TrimSpace(v)
	}
	slices.Sort(sorted)
	return append(b, strings.Join(sorted, ",")...)
}

// canonicalHeaderKey maps the lower-case names the SDKs sign to Go's header
// keys without allocating for the common ones.
func canonicalHeaderKey(name string) string {
	switch name {
	case "x-acs-action":
		return "X-Acs-Action"
	case "x-acs-version":
		return "X-Acs-Version"
	case "x-acs-date":
		return "X-Acs-Date"
	case "x-acs-signature-nonce":
		return "X-Acs-Signature-Nonce"
	case "x-acs-content-sha256":
		return "X-Acs-Content-Sha256"
	case "x-acs-security-token":
		return "X-Acs-Security-Token"
	case "x-acs-accesskey-id":
		return "X-Acs-Accesskey-Id"
	case "x-acs-credentials-provider":
		return "X-Acs-Credentials-Provider"
	case "content-type":
		return "Content-Type"
	}
	return http.CanonicalHeaderKey(name)
}

const upperhex = "0123456789ABCDEF"

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// appendPercentEncoded appends s with every byte but the RFC 3986
// unreserved ones as %XX: the result of url.QueryEscape followed by the
// SDKs' replacements (+ → %20, * → %2A, %7E → ~).
func appendPercentEncoded(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', upperhex[c>>4], upperhex[c&15])
		}
	}
	return b
}

// appendDoubleEncoded appends percentEncode(percentEncode(s)): a V1 string to
// sign encodes the already encoded pairs once more.
func appendDoubleEncoded(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', '2', '5', upperhex[c>>4], upperhex[c&15])
		}
	}
	return b
}
