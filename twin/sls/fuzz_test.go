package sls_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/acs"
	"github.com/kmsmig/kmsmig/twin/sls"
)

const (
	fuzzAK     = "LTAI5tFuzzSLSKey0001"
	fuzzSecret = "fuzz-sls-secret-0123456789"
	fuzzRegion = "cn-hangzhou"
)

var fuzzNow = time.Date(2026, 11, 29, 1, 2, 3, 0, time.UTC)

// slsCovered is what the signature covers of r and its body, comparably:
// method, path, query, Content-MD5, Content-Type, the x-log-* and x-acs-*
// headers, the Authorization header, Host (V4) and the body (V1 through
// Content-MD5, V4 through x-log-content-sha256). V1 signs the date that
// x-log-date carries, or Date's without it, and not x-log-date as a header;
// Date must then be there, whatever its value.
func slsCovered(r *http.Request, body []byte, v4 bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%s\n", r.Method, r.URL.EscapedPath())
	q := r.URL.Query()
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range q {
			if !yield(k) {
				return
			}
		}
	}) {
		if k == "" && strings.Join(q[k], "") == "" {
			// "?=" names nothing and says nothing (SignerV4 writes it as
			// nothing): no operation can read it.
			continue
		}
		fmt.Fprintf(&b, "%q=%q&", k, q[k])
	}
	b.WriteString("\n")
	var names []string
	for k := range r.Header {
		l := strings.ToLower(k)
		if !v4 && l == "x-log-date" {
			continue
		}
		if l == "content-md5" && strings.Join(r.Header.Values(k), "") == "" {
			continue // an empty Content-MD5 claims nothing: it is no header
		}
		if strings.HasPrefix(l, "x-log-") || strings.HasPrefix(l, "x-acs-") || l == "content-type" || l == "content-md5" ||
			l == "authorization" {
			names = append(names, l)
		}
	}
	if !v4 {
		date := r.Header.Get("x-log-date")
		if date == "" {
			date = r.Header.Get("Date")
		}
		fmt.Fprintf(&b, "date:%q has Date:%v\n", date, r.Header.Get("Date") != "")
	}
	slices.Sort(names)
	for _, k := range names {
		vs := r.Header.Values(k)
		if k == "authorization" {
			vs = vs[:1] // the twin reads the first; more are not content
		}
		fmt.Fprintf(&b, "%s:%q\n", k, strings.TrimSpace(strings.Join(vs, ",")))
	}
	if v4 {
		fmt.Fprintf(&b, "host:%s\n", r.Host)
	}
	// A V4 request whose x-log-content-sha256 is the empty-payload hash
	// leaves its body unsigned (the SDK's SignWithOption without a content
	// hash does this, as the real service allows), so the body is not a
	// signed part there.
	if !v4 || r.Header.Get("x-log-content-sha256") != emptyPayloadSHA256 {
		fmt.Fprintf(&b, "body:%q\n", body)
	}
	return b.String()
}

// emptyPayloadSHA256 is the SHA-256 of nothing, SLS V4's unsigned-payload
// marker.
const emptyPayloadSHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// checkSLSError asserts a refusal is SLS's JSON error document.
func checkSLSError(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var doc struct {
		Code    string `json:"errorCode"`
		Message string `json:"errorMessage"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc), "refusal %d is not an SLS error document: %q", rec.Code, rec.Body.Bytes())
	require.NotEmpty(t, doc.Code, "refusal %d is not an SLS error document: %q", rec.Code, rec.Body.Bytes())
	require.NotEmpty(t, rec.Header().Get("x-log-requestid"), "refusal %d without x-log-requestid", rec.Code)
	return doc.Code
}

// slsAuthCodes are the refusals that say a signature, key or date is wrong.
var slsAuthCodes = map[string]bool{sls.CodeSignatureNotMatch: true, sls.CodeUnauthorized: true, sls.CodeRequestTimeTooSkewed: true,
	sls.CodeInvalidDateFormat: true, sls.CodeMissingDate: true, "InvalidContentMD5": true, "InvalidContentSha256": true}

// FuzzSLSRequest builds a request of the API subset the twin serves,
// signs it with the aliyun-log-go-sdk's own signers (V1 or V4, long-term
// or STS key), and checks the twin does not refuse it for its signature.
// It then edits the request as an attacker without the secret could: the
// twin must never answer 2xx to an edited request whose signed parts
// changed, and every refusal must be SLS's JSON error document.
func FuzzSLSRequest(f *testing.F) {
	keys := acs.NewKeyring()
	root, err := keys.AddAccount(accountA, fuzzAK, fuzzSecret)
	require.NoError(f, err)
	sts, err := keys.MintSTS(accountA, "acs:ram::"+accountA+":role/kmsmig-fc", 100*365*24*time.Hour, time.Now())
	require.NoError(f, err)
	for _, s := range []struct {
		mode, op           uint8
		store, query, hdrs string
		body, prog         []byte
		text               string
	}{
		{0, 0, store, "", "", []byte(`{"logstoreName":"audit","ttl":30,"shardCount":1}`), nil, ""},
		{1, 0, store, "", "", []byte(`{"logstoreName":"audit","ttl":30,"shardCount":1}`), []byte{0, 1}, ""},
		{0, 1, store, "type=log&from=1764378000&to=1764378600&query=action%3AMigrate&line=10&offset=0&reverse=false", "", nil, []byte{1, 0}, "line=100"},
		{1, 1, store, "type=log&from=1&to=2&query=*", "", nil, []byte{1, 1}, "query=evil"},
		{0, 2, store, "", "", nil, []byte{2, 0}, "GetLogs"},
		{2, 3, store, "", "Content-Type: application/x-protobuf\nx-log-compresstype: lz4", []byte{0x0a, 0x00}, []byte{3, 0}, ""},
		{1, 4, "", "", "", nil, []byte{4, 0}, "other-project"},
		{0, 4, "", "", "", nil, []byte{5, 40}, ""},
		{1, 2, store, "", "", []byte("{}"), []byte{6, 0}, ""},
	} {
		f.Add(s.mode, s.op, s.store, s.query, s.hdrs, s.body, s.prog, s.text)
	}
	ops := []struct{ method, path string }{
		{http.MethodPost, "/logstores"}, {http.MethodGet, "/logstores/%s"}, {http.MethodGet, "/logstores/%s/index"},
		{http.MethodPost, "/logstores/%s/shards/lb"}, {http.MethodGet, "/"},
		{http.MethodPost, "/savedsearches"}, {http.MethodGet, "/jobs/%s"}, {http.MethodPut, "/dashboards/%s"},
		{http.MethodGet, "/resources/sls.alert.action_policy/records"},
	}
	f.Fuzz(func(t *testing.T, mode, op uint8, store, query, hdrs string, body, prog []byte, text string) {
		v4, useSTS := mode&1 == 0, mode&2 != 0
		cred := root
		if useSTS {
			cred = sts
		}
		o := ops[int(op)%len(ops)]
		path := o.path
		if strings.Contains(path, "%s") {
			path = fmt.Sprintf(path, url.PathEscape(store))
		}
		uri := path
		if query != "" {
			// One value per parameter: SignerV4 signs only the first, and
			// the twin refuses the others unsigned.
			q, err := url.ParseQuery(query)
			if err != nil {
				return
			}
			for k, vs := range q {
				q[k] = vs[:1]
			}
			uri += "?" + q.Encode()
		}
		u, err := url.Parse(uri)
		if err != nil || u.Path == "" {
			return
		}
		host := project + "." + fuzzRegion + ".log.aliyuncs.com"
		headers := map[string]string{
			"x-log-apiversion":  "0.6.0",
			"x-log-bodyrawsize": strconv.Itoa(len(body)),
			"Host":              host,
		}
		if len(body) > 0 {
			headers["Content-Type"] = "application/json"
		}
		for line := range strings.SplitSeq(hdrs, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && token(k) && headerValue(v) {
				headers[k] = strings.TrimSpace(v)
			}
		}
		if useSTS {
			headers["x-acs-security-token"] = cred.SecurityToken
		}
		var signBody []byte
		if len(body) > 0 {
			signBody = body
		}
		if v4 {
			headers["x-log-date"] = fuzzNow.Format("20060102T150405Z")
			err = slssdk.NewSignerV4(cred.AccessKeyID, cred.AccessKeySecret, fuzzRegion).Sign(o.method, uri, headers, signBody)
		} else {
			headers["Date"] = fuzzNow.Format(http.TimeFormat)
			err = slssdk.NewSignerV1(cred.AccessKeyID, cred.AccessKeySecret).Sign(o.method, uri, headers, signBody)
		}
		require.NoError(t, err, "sign")
		req, err := http.NewRequest(o.method, "http://"+host+uri, nil)
		if err != nil {
			return
		}
		for k, v := range headers {
			if strings.EqualFold(k, "Host") {
				continue
			}
			req.Header.Set(k, v)
		}
		// Each request meets a fresh twin, so that the edited request is
		// not refused merely because the original already did its work.
		serve := func(r *http.Request, b []byte) *httptest.ResponseRecorder {
			twin := sls.New(keys, sls.WithClock(func() time.Time { return fuzzNow }), sls.WithRegion(fuzzRegion))
			require.NoError(t, twin.AddProject(accountA, project, "audit trail"))
			r = r.Clone(r.Context())
			r.Body = http.NoBody
			if len(b) > 0 {
				r.Body = readCloser{bytes.NewReader(b)}
			}
			r.ContentLength = int64(len(b))
			rec := httptest.NewRecorder()
			twin.ServeHTTP(rec, r)
			return rec
		}
		rec := serve(req, body)
		if rec.Code/100 != 2 {
			code := checkSLSError(t, rec)
			refused := slsAuthCodes[code] && !strings.Contains(rec.Body.String(), "denied by sts or ram")
			require.False(t, refused, "a request signed by the SDK's signer was refused: %d %s", rec.Code, rec.Body.String())
		}

		m := req.Clone(req.Context())
		mbody := bytes.Clone(body)
		before := slsCovered(req, body, v4)
		editSLS(m, &mbody, prog, text)
		if !token(m.Method) {
			return
		}
		rec = serve(m, mbody)
		if rec.Code/100 == 2 {
			require.Equal(t, before, slsCovered(m, mbody, v4), "an edited request was answered %d", rec.Code)
		}
		if rec.Code/100 != 2 {
			checkSLSError(t, rec)
		}
	})
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func token(s string) bool {
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

func headerValue(v string) bool {
	return strings.IndexFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) < 0
}

// editSLS applies the fuzzer's edit program (opcode, operand pairs).
func editSLS(r *http.Request, body *[]byte, prog []byte, text string) {
	headers := []string{"Authorization", "Date", "X-Log-Date", "Content-Type", "Content-Md5", "X-Acs-Security-Token",
		"X-Log-Apiversion", "X-Log-Bodyrawsize", "X-Log-Content-Sha256", "X-Log-Signaturemethod", "User-Agent"}
	methods := []string{"GET", "POST", "PUT", "DELETE", "get"}
	at := func(n int, b byte) int { return int(b) % max(n, 1) }
	text = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, text)
	for i := 0; i+1 < len(prog); i += 2 {
		op, arg := prog[i], prog[i+1]
		switch op % 9 {
		case 0:
			r.Method = methods[at(len(methods), arg)]
		case 1: // set or add a query parameter
			k, v, _ := strings.Cut(text, "=")
			q := r.URL.Query()
			if arg%2 == 0 {
				q.Set(k, v)
			} else {
				q.Add(k, v)
			}
			r.URL.RawQuery = q.Encode()
		case 2:
			r.URL.Path += "/" + text
			r.URL.RawPath = ""
		case 3: // the body
			if arg%2 == 0 {
				*body = append(*body, text...)
			} else {
				*body = nil
			}
		case 4:
			r.Host = text + "." + fuzzRegion + ".log.aliyuncs.com"
		case 5: // flip a byte of the Authorization header
			if a := []byte(r.Header.Get("Authorization")); len(a) > 0 {
				a[at(len(a), arg)] ^= 1 << (arg % 7)
				if s := string(a); headerValue(s) {
					r.Header.Set("Authorization", s)
				}
			}
		case 6:
			r.Header.Set(headers[at(len(headers), arg)], text)
		case 7:
			r.Header.Del(headers[at(len(headers), arg)])
		case 8:
			r.Header.Add(headers[at(len(headers), arg)], text)
		}
	}
}
