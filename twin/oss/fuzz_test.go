package oss_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/signer"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/acs"
	osstwin "github.com/kmsmig/kmsmig/twin/oss"
)

const (
	fuzzAK     = "LTAI5tFuzzOSSKey0001"
	fuzzSecret = "fuzz-oss-secret-0123456789"
)

var fuzzNow = time.Date(2026, 11, 29, 1, 2, 3, 0, time.UTC)

// rfc3986 escapes s as the SDK's escapePath does (unreserved bytes and,
// unless encodeSlash, '/' stay).
func rfc3986(s string, encodeSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~", c) >= 0 || c == '/' && !encodeSlash {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// ossCovered is what the signature covers of r, in comparable form: the
// method, the path, the query (V4 signs all of it), and the headers both
// versions sign (x-oss-*, Content-Type, Content-MD5, Date for V1) plus the
// Authorization header itself.
func ossCovered(r *http.Request, v4 bool) string {
	var b strings.Builder
	b.WriteString(r.Method + "\n" + r.URL.EscapedPath() + "\n")
	if v4 {
		q := r.URL.Query()
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range q {
				if !yield(k) {
					return
				}
			}
		})
		for _, k := range keys {
			fmt.Fprintf(&b, "%q=%q&", k, q[k])
		}
	}
	b.WriteString("\n")
	var names []string
	for k := range r.Header {
		l := strings.ToLower(k)
		if strings.HasPrefix(l, "x-oss-") || l == "content-type" || l == "content-md5" || l == "authorization" || (!v4 && l == "date") {
			names = append(names, l)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		vs := slices.Clone(r.Header.Values(k))
		if k == "authorization" {
			vs = vs[:1] // the twin reads the first; more are not content
		}
		for i := range vs {
			vs[i] = strings.TrimSpace(vs[i])
		}
		fmt.Fprintf(&b, "%s:%q\n", k, vs)
	}
	return b.String()
}

// checkOSSError asserts a refusal carries a well-formed OSS error
// document: the XML body, or for HEAD the x-oss-err header.
func checkOSSError(t *testing.T, method string, rec *httptest.ResponseRecorder) string {
	t.Helper()
	body := rec.Body.Bytes()
	if method == http.MethodHead {
		var err error
		body, err = base64.StdEncoding.DecodeString(rec.Header().Get("x-oss-err"))
		require.NoError(t, err, "HEAD refusal %d without a base64 x-oss-err header", rec.Code)
	}
	var doc struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string   `xml:"Code"`
		Message   string   `xml:"Message"`
		RequestID string   `xml:"RequestId"`
	}
	require.NoError(t, xml.Unmarshal(body, &doc), "refusal %d is not an OSS error document: %q", rec.Code, body)
	require.NotEmpty(t, doc.Code, "refusal %d is not an OSS error document: %q", rec.Code, body)
	require.NotEmpty(t, doc.RequestID, "refusal %d is not an OSS error document: %q", rec.Code, body)
	return doc.Code
}

// authCodes are the refusals that say a signature or a key is wrong.
var authCodes = map[string]bool{"SignatureDoesNotMatch": true, "InvalidAccessKeyId": true, "InvalidSecurityToken": true,
	"SecurityTokenExpired": true, "RequestTimeTooSkewed": true, "InvalidArgument": true}

// FuzzOSSRequest builds an object or bucket request, signs it with the
// v2 SDK's own signers (V4 or V1, long-term or STS key, path-style or
// virtual-hosted), and checks that the twin does not refuse it for its
// signature. It then edits the request as an attacker without the secret
// could: the twin must never answer 2xx to an edited request whose signed
// parts changed, and every refusal must be a well-formed OSS error.
func FuzzOSSRequest(f *testing.F) {
	keys := acs.NewKeyring()
	root, err := keys.AddAccount(account, fuzzAK, fuzzSecret)
	require.NoError(f, err)
	sts, err := keys.MintSTS(account, "acs:ram::"+account+":role/kmsmig-fc", 100*365*24*time.Hour, time.Now())
	require.NoError(f, err)
	for _, s := range []struct {
		mode, op           uint8
		key, query, header string
		body               []byte
		prog               []byte
		text               string
	}{
		{0, 0, "kmsmig/current", "", "Content-Type: application/json\nx-oss-forbid-overwrite: true", []byte(`{"runId":"r"}`), nil, ""},
		{0, 1, "kmsmig/current", "", "", nil, []byte{0, 1}, ""},
		{1, 1, "kmsmig/runs/r/plan.json", "", "If-Match: \"abc\"", nil, []byte{1, 0}, "x"},
		{4, 2, "kmsmig/runs/r/plan.json", "", "", nil, []byte{2, 3}, "x-oss-meta-a"},
		{0, 4, "", "list-type=2&prefix=kmsmig%2Fruns%2F&max-keys=10&continuation-token=abc", "", nil, []byte{3, 1}, "prefix=other/"},
		{1, 4, "", "list-type=2&prefix=a&delimiter=%2F", "", nil, []byte{3, 2}, "prefix=b"},
		{2, 3, "a b/ü*", "", "x-oss-meta-note: hello ", nil, []byte{4, 0}, "other-bucket"},
		{6, 0, "k", "", "Content-MD5: 1B2M2Y8AsgTpgAmY7PhCfg==", nil, []byte{5, 0}, "x"},
		{0, 0, "k", "", "", []byte("v"), []byte{6, 0}, "OSS " + fuzzAK + ":AAAA"},
		{0, 1, "k", "response-content-type=text%2Fplain", "", nil, []byte{7, 1}, ""},
	} {
		f.Add(s.mode, s.op, s.key, s.query, s.header, s.body, s.prog, s.text)
	}
	methods := []string{http.MethodPut, http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodGet}
	f.Fuzz(func(t *testing.T, mode, op uint8, key, query, header string, body, prog []byte, text string) {
		v4, useSTS, virtual := mode&1 == 0, mode&2 != 0, mode&4 != 0
		method := methods[int(op)%len(methods)]
		list := int(op)%len(methods) == 4
		cred := root
		if useSTS {
			cred = sts
		}
		if list {
			key = ""
		} else if key == "" || len(key) > 512 {
			key = "k"
		}
		// The request as the SDK lays it out (client.go: buildURL and the
		// query loop), then signed by the SDK's signer.
		host, path := "127.0.0.1:9000", "/"+bucket+"/"+rfc3986(key, false)
		if virtual {
			host, path = bucket+".oss-"+region+".aliyuncs.com", "/"+rfc3986(key, false)
		}
		if list && !virtual {
			path = "/" + bucket + "/"
		}
		var qs []string
		for part := range strings.SplitSeq(query, "&") {
			k, v, _ := strings.Cut(part, "=")
			k, _ = url.QueryUnescape(k)
			v, _ = url.QueryUnescape(v)
			if k == "" {
				continue
			}
			e := url.QueryEscape(k)
			if v != "" {
				e += "=" + strings.ReplaceAll(url.QueryEscape(v), "+", "%20")
			}
			qs = append(qs, e)
		}
		target := "http://" + host + path
		if len(qs) > 0 {
			target += "?" + strings.Join(qs, "&")
		}
		req, err := http.NewRequest(method, target, bytes.NewReader(body))
		if err != nil {
			return
		}
		for line := range strings.SplitSeq(header, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && httpHeaderName(k) && validHeaderValue(v) {
				req.Header.Add(k, v)
			}
		}
		sctx := &signer.SigningContext{Product: ptr("oss"), Region: ptr(region), Bucket: ptr(bucket), Request: req,
			Credentials: &credentials.Credentials{AccessKeyID: cred.AccessKeyID, AccessKeySecret: cred.AccessKeySecret, SecurityToken: cred.SecurityToken},
			Time:        fuzzNow}
		if !list {
			sctx.Key = ptr(key)
		}
		var sg signer.Signer = &signer.SignerV4{}
		if !v4 {
			sg = &signer.SignerV1{}
		}
		require.NoError(t, sg.Sign(context.Background(), sctx), "sign")
		// Each request meets a fresh twin, so that the edited request is
		// not refused merely because the original already did its work.
		serve := func(r *http.Request, b []byte) *httptest.ResponseRecorder {
			twin, err := osstwin.New(osstwin.Config{Keyring: keys, Buckets: []osstwin.Bucket{{Name: bucket, Account: account, Region: region},
				{Name: "other-bucket", Account: account, Region: region}}, Now: func() time.Time { return fuzzNow }})
			require.NoError(t, err)
			r = r.Clone(context.Background())
			r.Body = http.NoBody
			if len(b) > 0 {
				r.Body = readCloser{bytes.NewReader(b)}
			}
			r.ContentLength = int64(len(b))
			r.RequestURI = r.URL.RequestURI()
			rec := httptest.NewRecorder()
			twin.ServeHTTP(rec, r)
			return rec
		}
		rec := serve(req, body)
		if rec.Code/100 != 2 && rec.Code != http.StatusNotModified {
			code := checkOSSError(t, method, rec)
			refused := authCodes[code] || code == "AccessDenied" && rec.Code == http.StatusForbidden && !strings.Contains(rec.Body.String(), "bucket acl")
			require.False(t, refused, "a request signed by the SDK's %T was refused: %d %s\n%s", sg, rec.Code, code, rec.Body.String())
		}

		// Edit the signed request.
		m := req.Clone(context.Background())
		mbody := bytes.Clone(body)
		before := ossCovered(req, v4)
		editOSS(m, &mbody, prog, text)
		if m.URL.Path != req.URL.Path || m.URL.RawPath != req.URL.RawPath {
			// Keep the path as escaped as the edit made it.
			m.URL.RawPath = ""
		}
		if !httpHeaderName(m.Method) {
			return
		}
		rec = serve(m, mbody)
		if rec.Code/100 == 2 {
			require.Equal(t, before, ossCovered(m, v4), "an edited request was answered %d", rec.Code)
		}
		if rec.Code/100 != 2 && rec.Code != http.StatusNotModified {
			checkOSSError(t, m.Method, rec)
		}
	})
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func ptr(s string) *string { return &s }

// httpHeaderName reports whether s is an HTTP token (a method or a header
// name Go's server would read).
func httpHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

func validHeaderValue(v string) bool {
	return strings.IndexFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) < 0
}

// editOSS applies the fuzzer's edit program (opcode, operand pairs) to a
// signed request.
func editOSS(r *http.Request, body *[]byte, prog []byte, text string) {
	headers := []string{"Authorization", "X-Oss-Date", "Date", "Content-Type", "Content-Md5", "X-Oss-Security-Token",
		"X-Oss-Forbid-Overwrite", "If-Match", "X-Oss-Meta-Note", "X-Oss-Content-Sha256", "User-Agent"}
	methods := []string{"GET", "PUT", "HEAD", "DELETE", "POST", "get"}
	at := func(n int, b byte) int { return int(b) % max(n, 1) }
	if !validHeaderValue(text) {
		text = strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f {
				return -1
			}
			return r
		}, text)
	}
	for i := 0; i+1 < len(prog); i += 2 {
		op, arg := prog[i], prog[i+1]
		switch op % 9 {
		case 0:
			r.Method = methods[at(len(methods), arg)]
		case 1:
			r.Header.Set(headers[at(len(headers), arg)], text)
		case 2:
			r.Header.Del(headers[at(len(headers), arg)])
		case 3: // replace or add a query parameter
			k, v, _ := strings.Cut(text, "=")
			q := r.URL.Query()
			if arg%2 == 0 {
				q.Set(k, v)
			} else {
				q.Add(k, v)
			}
			r.URL.RawQuery = q.Encode()
		case 4: // another bucket, or another key
			if arg%2 == 0 {
				r.Host = text + ".oss-" + region + ".aliyuncs.com"
			} else {
				r.URL.Path += text
			}
		case 5: // flip a byte of the Authorization header
			if a := []byte(r.Header.Get("Authorization")); len(a) > 0 {
				a[at(len(a), arg)] ^= 1 << (arg % 7)
				if s := string(a); validHeaderValue(s) {
					r.Header.Set("Authorization", s)
				}
			}
		case 6:
			r.Header.Set("Authorization", text)
		case 7: // the body
			*body = append(*body, text...)
		case 8: // a second value for a signed header
			r.Header.Add(headers[at(len(headers), arg)], text)
		}
	}
}
