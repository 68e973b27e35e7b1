package acs_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	v1creds "github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/utils"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/acs"
)

// The fuzz keyring's fixed long-term key, so that inputs the fuzzer saves
// replay against the same key.
const (
	fuzzAK     = "LTAI5tFuzzRootKey01"
	fuzzSecret = "fuzz-root-secret-0123456789"
	fuzzHost   = "kms.cn-hangzhou.aliyuncs.com"
	fuzzDate   = "2026-11-29T01:02:03Z"
)

// fuzzRig is a keyring with one account, its long-term key and an STS
// credential of a role in it.
type fuzzRig struct {
	keys      *acs.Keyring
	root, sts acs.Credential
}

func newFuzzRig(tb testing.TB) *fuzzRig {
	tb.Helper()
	r := &fuzzRig{keys: acs.NewKeyring()}
	var err error
	r.root, err = r.keys.AddAccount(testAccount, fuzzAK, fuzzSecret)
	require.NoError(tb, err)
	r.sts, err = r.keys.MintSTS(testAccount, "acs:ram::"+testAccount+":role/migrator", 100*365*24*time.Hour, time.Now())
	require.NoError(tb, err)
	return r
}

// verifier returns a fresh verifier (no nonce seen yet) whose clock reads at.
func (r *fuzzRig) verifier(at time.Time) *acs.Verifier {
	return acs.NewVerifier(r.keys, acs.VerifierOptions{Now: func() time.Time { return at }, MaxNonces: 64})
}

// wire is one HTTP request as it travels: everything the verifier sees.
type wire struct {
	method, host, path, rawQuery string
	header                       http.Header
	body                         []byte
}

func (w *wire) clone() *wire {
	c := *w
	c.header = w.header.Clone()
	c.body = bytes.Clone(w.body)
	return &c
}

// request builds the server-side *http.Request, or nil when Go's HTTP
// server could never hand such a request to a handler.
func (w *wire) request() *http.Request {
	if !httpToken(w.method) {
		return nil
	}
	target := w.path
	if w.rawQuery != "" {
		target += "?" + w.rawQuery
	}
	if !strings.HasPrefix(target, "/") || strings.IndexFunc(target, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '#' }) >= 0 {
		return nil
	}
	r, err := http.NewRequest(w.method, "http://placeholder"+target, bytes.NewReader(w.body))
	if err != nil {
		return nil
	}
	r.RequestURI = target
	r.Host = w.host
	r.Header = w.header.Clone()
	r.ContentLength = int64(len(w.body))
	return r
}

// httpToken reports whether s is a method Go's HTTP server would read.
func httpToken(s string) bool {
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

// paramName keeps the characters API parameter names are made of
// ("Tag.1.Key"): the SDKs put keys into the V3 canonical query unencoded,
// so only such names have one canonical form.
func paramName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return -1
	}, s)
}

// params reads "k=v&k=v" (the fuzzer's notation for an SDK call's
// parameters) into the map an SDK request holds.
func params(s string) map[string]string {
	out := map[string]string{}
	for part := range strings.SplitSeq(s, "&") {
		k, v, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		if k = paramName(k); k != "" {
			out[k] = v
		}
	}
	return out
}

// signV3Call signs an RPC call the way darabonba-openapi's DoRequest does
// (headers, form body, openapiutil.GetAuthorization) and lays it out as
// dara.DoRequest sends it.
func signV3Call(method, action string, query, form map[string]string, cred acs.Credential, nonce string) *wire {
	dr := dara.NewRequest()
	dr.Method = tea.String(method)
	dr.Pathname = tea.String("/")
	dr.Query = map[string]*string{}
	for k, v := range query {
		dr.Query[k] = tea.String(v)
	}
	dr.Headers = map[string]*string{
		"host":                  tea.String(fuzzHost),
		"x-acs-version":         tea.String(kmsVersion),
		"x-acs-action":          tea.String(action),
		"user-agent":            openapiutil.GetUserAgent(nil),
		"x-acs-date":            tea.String(fuzzDate),
		"x-acs-signature-nonce": tea.String(nonce),
		"accept":                tea.String("application/json"),
	}
	if cred.SecurityToken != "" {
		dr.Headers["x-acs-security-token"] = tea.String(cred.SecurityToken)
	}
	var body []byte
	if len(form) > 0 {
		m := map[string]any{}
		for k, v := range form {
			m[k] = v
		}
		body = []byte(tea.StringValue(openapiutil.ToForm(m)))
		dr.Headers["content-type"] = tea.String("application/x-www-form-urlencoded")
	}
	payload := hex.EncodeToString(openapiutil.Hash(body, tea.String("ACS3-HMAC-SHA256")))
	dr.Headers["x-acs-content-sha256"] = tea.String(payload)
	dr.Headers["Authorization"] = openapiutil.GetAuthorization(dr, tea.String("ACS3-HMAC-SHA256"), tea.String(payload),
		tea.String(cred.AccessKeyID), tea.String(cred.AccessKeySecret))
	q := url.Values{}
	for k, v := range dr.Query {
		q.Add(k, *v)
	}
	w := &wire{method: method, host: fuzzHost, path: "/", rawQuery: q.Encode(), header: http.Header{}, body: body}
	for k, v := range dr.Headers {
		if k != "host" {
			w.header.Set(k, *v)
		}
	}
	return w
}

// signV1Call signs an RPC call with alibaba-cloud-sdk-go's own signer
// (auth.Sign on a CommonRequest) and lays it out as that SDK sends it.
func signV1Call(method, action string, query, form map[string]string, cred acs.Credential) (*wire, error) {
	req := requests.NewCommonRequest()
	req.Method = method
	req.Scheme = "http"
	req.Domain = fuzzHost
	req.Version = kmsVersion
	req.ApiName = action
	req.Product = "Kms"
	for k, v := range query {
		req.QueryParams[k] = v
	}
	for k, v := range form {
		req.FormParams[k] = v
	}
	req.TransToAcsRequest()
	var provider v1creds.CredentialsProvider = v1creds.NewStaticAKCredentialsProvider(cred.AccessKeyID, cred.AccessKeySecret)
	if cred.SecurityToken != "" {
		provider = v1creds.NewStaticSTSCredentialsProvider(cred.AccessKeyID, cred.AccessKeySecret, cred.SecurityToken)
	}
	if err := auth.Sign(req, nil, testRegion, provider); err != nil {
		return nil, err
	}
	w := &wire{method: method, host: fuzzHost, path: "/", rawQuery: utils.GetUrlFormedMap(req.GetQueryParams()),
		header: http.Header{}, body: req.GetContent()}
	for k, v := range req.GetHeaders() {
		w.header.Set(k, v)
	}
	return w, nil
}

// signedAt is the time a signed request claims: the verifier's clock is
// set to it, so inputs the fuzzer saves never go stale.
func signedAt(w *wire) time.Time {
	s := w.header.Get("x-acs-date")
	if s == "" {
		q, _ := url.ParseQuery(w.rawQuery)
		s = q.Get("Timestamp")
	}
	t, err := time.Parse("2006-01-02T15:04:05Z", s)
	if err != nil {
		return time.Date(2026, 11, 29, 1, 2, 3, 0, time.UTC)
	}
	return t
}

// sent is what the request carries, as VerifyRPC promises to return it:
// query and form merged, Action and Version from the V3 headers, Signature
// and SecurityToken removed.
func sent(w *wire, v3 bool) url.Values {
	out, _ := url.ParseQuery(w.rawQuery)
	if len(w.body) > 0 {
		form, _ := url.ParseQuery(string(w.body))
		for k, vs := range form {
			out[k] = append(out[k], vs...)
		}
	}
	if v3 {
		out["Action"] = []string{w.header.Get("x-acs-action")}
		out["Version"] = []string{w.header.Get("x-acs-version")}
	}
	delete(out, "Signature")
	delete(out, "SecurityToken")
	return out
}

// mutate applies the fuzzer's edit program to w. Each edit is an opcode
// byte and an operand byte; byte strings come from text. It reports
// whether anything changed.
func mutate(w *wire, prog []byte, text string) {
	headers := []string{"Authorization", "X-Acs-Action", "X-Acs-Version", "X-Acs-Date", "X-Acs-Signature-Nonce",
		"X-Acs-Content-Sha256", "X-Acs-Security-Token", "Content-Type", "Accept", "User-Agent", "X-Acs-Accesskey-Id"}
	keys := []string{"Action", "Version", "KeyId", "Signature", "AccessKeyId", "SecurityToken", "Timestamp", "SignatureNonce", "RegionId"}
	methods := []string{"GET", "POST", "PUT", "DELETE", "post"}
	at := func(n int, b byte) int { return int(b) % max(n, 1) }
	for i := 0; i+1 < len(prog); i += 2 {
		op, arg := prog[i], prog[i+1]
		switch op % 12 {
		case 0:
			w.method = methods[at(len(methods), arg)]
		case 1: // flip a query byte
			if len(w.rawQuery) > 0 {
				b := []byte(w.rawQuery)
				b[at(len(b), arg)] ^= 1 << (arg % 7)
				w.rawQuery = string(b)
			}
		case 2: // append a query parameter
			sep := "&"
			if w.rawQuery == "" {
				sep = ""
			}
			w.rawQuery += sep + url.QueryEscape(keys[at(len(keys), arg)]) + "=" + url.QueryEscape(text)
		case 3: // flip a body byte
			if len(w.body) > 0 {
				w.body[at(len(w.body), arg)] ^= 1 << (arg % 7)
			}
		case 4: // append to the body
			w.body = append(w.body, "&"+url.QueryEscape(keys[at(len(keys), arg)])+"="+url.QueryEscape(text)...)
		case 5:
			w.header.Set(headers[at(len(headers), arg)], text)
		case 6:
			w.header.Del(headers[at(len(headers), arg)])
		case 7: // a second value for a header
			w.header.Add(headers[at(len(headers), arg)], text)
		case 8: // flip a byte of the Authorization header
			if a := []byte(w.header.Get("Authorization")); len(a) > 0 {
				a[at(len(a), arg)] ^= 1 << (arg % 7)
				w.header.Set("Authorization", string(a))
			}
		case 9:
			w.host = text
		case 10:
			w.path = "/" + text
		case 11: // rewrite the query from text
			w.rawQuery = text
		}
	}
}

// checkAccepted asserts a request signed by an official SDK passes, and
// returns what the verifier made of it.
func checkAccepted(t *testing.T, rig *fuzzRig, w *wire, v3 bool, want acs.Credential) (acs.Caller, url.Values) {
	t.Helper()
	r := w.request()
	require.NotNil(t, r, "the SDK's request cannot be served: %+v", w)
	caller, got, err := rig.verifier(signedAt(w)).VerifyRPC(r)
	require.NoError(t, err, "a request signed by the official signer was refused:\n%+v", w)
	require.Equal(t, want.AccessKeyID, caller.AccessKeyID, "caller %+v", caller)
	require.Equal(t, want.AccountID, caller.AccountID, "caller %+v", caller)
	require.Equal(t, want.Role, caller.Role, "caller %+v", caller)
	require.Equal(t, sent(w, v3), got, "parameters: want what was sent")
	return caller, got
}

// FuzzVerifyRPC signs an RPC call with the official signers (V3 through
// darabonba-openapi's GetAuthorization, V1 through alibaba-cloud-sdk-go's
// auth.Sign) and checks that the verifier accepts it with exactly the
// parameters sent. It then edits the request as an attacker without the
// secret could and checks that an edited request is accepted only when
// nothing the verifier returns or the signature covers has changed.
func FuzzVerifyRPC(f *testing.F) {
	rig := newFuzzRig(f)
	for _, s := range []struct {
		mode              uint8
		method, action    string
		query, form, text string
		prog              []byte
	}{
		{0, "POST", "DescribeKey", "KeyId=00000000-0000-4000-8000-000000000001", "", "", nil},
		{0, "POST", "ListKeys", "PageNumber=1&PageSize=100", "", "evil", []byte{2, 0}},
		{0, "POST", "UpdateSecret", "", "SecretName=app%2Fdb&Description=a+b*c~", "x", []byte{3, 5}},
		{0, "GET", "DescribeRegions", "", "", "", []byte{0, 1}},
		{0, "POST", "DescribeKey", "KeyId=k1", "", "GetSecretValue", []byte{5, 1}},
		{0, "POST", "DescribeKey", "KeyId=k1", "", "", []byte{6, 4}},
		{0, "POST", "DescribeKey", "KeyId=k1", "", "other", []byte{7, 1}},
		{0, "POST", "DescribeKey", "KeyId=k1", "", "", []byte{8, 40}},
		{0, "POST", "DescribeKey", "KeyId=k1", "", "evil.example.com", []byte{9, 0}},
		{0, "POST", "DescribeKey", "KeyId=k1", "", "x", []byte{10, 0}},
		{0, "POST", "DescribeKey", "KeyId=k1", "", "", []byte{6, 5}},
		{1, "POST", "DescribeKey", "KeyId=k1", "", "", nil},
		{1, "GET", "ListSecrets", "PageSize=10", "Filters=%5B%7B%22Key%22%3A%22SecretName%22%7D%5D", "k2", []byte{2, 2}},
		{1, "POST", "DescribeKey", "KeyId=k1", "", "", []byte{0, 0}},
		{1, "POST", "DescribeKey", "KeyId=k1", "", "KeyId=k2", []byte{11, 0}},
		{1, "POST", "DescribeKey", "KeyId=k1", "", "", []byte{1, 3}},
		{2, "POST", "DescribeKey", "KeyId=k1", "", "", []byte{6, 6}},
		{3, "POST", "DescribeKey", "KeyId=k1", "", "", []byte{2, 5}},
	} {
		f.Add(s.mode, s.method, s.action, s.query, s.form, s.text, s.prog)
	}
	f.Fuzz(func(t *testing.T, mode uint8, method, action, query, form, text string, prog []byte) {
		v3 := mode&1 == 0
		cred := rig.root
		if mode&2 != 0 {
			cred = rig.sts
		}
		if method != "GET" {
			method = "POST"
		}
		action = paramName(action)
		if action == "" {
			action = "DescribeKey"
		}
		q, fm := params(query), params(form)
		if !v3 {
			// alibaba-cloud-sdk-go signs query and form as one map, so a
			// name in both is signed once (the form's value) but sent
			// twice; the generated clients never send one, and the
			// verifier rightly covers every value sent.
			for k := range fm {
				delete(q, k)
			}
		}
		var orig *wire
		if v3 {
			orig = signV3Call(method, action, q, fm, cred, fmt.Sprintf("nonce-%x", mode))
		} else {
			var err error
			if orig, err = signV1Call(method, action, q, fm, cred); err != nil {
				t.Skip(err)
			}
		}
		// The official signer's request passes, with what was sent.
		caller, want := checkAccepted(t, rig, orig, v3, cred)

		// An edited request is refused unless the edit changed nothing
		// the signature protects.
		m := orig.clone()
		mutate(m, prog, text)
		r := m.request()
		if r == nil {
			return
		}
		gotCaller, got, err := rig.verifier(signedAt(orig)).VerifyRPC(r)
		if err != nil {
			require.NotNil(t, acs.AsError(err), "refusal is not an *acs.Error: %T %v", err, err)
			return
		}
		require.Equal(t, caller, gotCaller, "edited request accepted as another caller than the signer")
		require.Equal(t, want, got, "edited request accepted with other parameters (edits %v %q)", prog, text)
		require.Equal(t, orig.method, m.method, "edited request accepted with another method than signed")
		if v3 {
			require.Equal(t, orig.host, m.host, "edited V3 request accepted with another host than signed")
			require.Equal(t, orig.path, m.path, "edited V3 request accepted with another path than signed")
			require.True(t, bytes.Equal(orig.body, m.body), "edited V3 request accepted with body %q, signed %q", m.body, orig.body)
		}
	})
}

// FuzzVerifyRPCRaw sends arbitrary requests no signer produced: none may be
// accepted (the fuzzer has no secret), and every refusal is an *acs.Error.
func FuzzVerifyRPCRaw(f *testing.F) {
	rig := newFuzzRig(f)
	v3 := signV3Call("POST", "DescribeKey", map[string]string{"KeyId": "k1"}, nil, rig.root, "raw-nonce")
	v1, err := signV1Call("POST", "DescribeKey", map[string]string{"KeyId": "k1"}, map[string]string{"Description": "x"}, rig.root)
	require.NoError(f, err)
	for _, w := range []*wire{v3, v1} {
		var hdr strings.Builder
		for k := range w.header {
			fmt.Fprintf(&hdr, "%s: %s\n", k, w.header.Get(k))
		}
		// Spoil the signature: the seeds are near misses, never valid.
		h := regexpSig.ReplaceAllString(hdr.String(), "Signature=0")
		q, _ := url.ParseQuery(w.rawQuery)
		if q.Has("Signature") {
			q.Set("Signature", "AAAA")
		}
		f.Add(w.method, q.Encode(), h, w.body)
	}
	f.Add("POST", "", "Authorization: ACS3-HMAC-SHA256 Credential="+fuzzAK+",SignedHeaders=host;x-acs-date;x-acs-signature-nonce;x-acs-content-sha256,Signature=00\n", []byte(nil))
	f.Add("GET", "AccessKeyId="+fuzzAK+"&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&SignatureNonce=n&Timestamp="+fuzzDate+"&Signature=x", "", []byte(nil))
	f.Add("POST", "a=%zz", "Authorization: Bearer x\n", []byte("%"))
	f.Fuzz(func(t *testing.T, method, rawQuery, headers string, body []byte) {
		w := &wire{method: method, host: fuzzHost, path: "/", rawQuery: rawQuery, header: http.Header{}, body: body}
		for line := range strings.SplitSeq(headers, "\n") {
			if k, v, ok := strings.Cut(line, ": "); ok && k != "" {
				w.header.Add(k, v)
			}
		}
		r := w.request()
		if r == nil {
			return
		}
		caller, _, err := rig.verifier(signedAt(w)).VerifyRPC(r)
		require.Error(t, err, "unsigned request accepted as %+v: %+v", caller, w)
		require.NotNil(t, acs.AsError(err), "refusal is not an *acs.Error: %T %v", err, err)
		_, _ = io.Copy(io.Discard, r.Body)
	})
}

var regexpSig = regexp.MustCompile(`Signature=[0-9a-f]+`)

func FuzzParseRoleArn(f *testing.F) {
	for _, s := range []string{"acs:ram::1234567890123456:role/kmsmig", "acs:ram::1:role/a/b", "acs:ram::1:role/",
		"acs:ram:::role/x", "acs:ram::12a:role/x", "arn:aws:iam::1:role/x", "acs:ram::1:role/x:y", "acs:ram::1:role/kmsmig-member"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arn string) {
		account, name, ok := acs.ParseRoleArn(arn)
		if !ok {
			require.Empty(t, account, "%q refused but returned an account", arn)
			require.Empty(t, name, "%q refused but returned a name", arn)
			return
		}
		wellFormed := account != "" && name != "" && !strings.ContainsAny(name, ":/") && strings.Trim(account, "0123456789") == ""
		require.True(t, wellFormed, "%q accepted as %q, %q", arn, account, name)
		require.Equal(t, arn, "acs:ram::"+account+":role/"+name, "%q -> %q, %q", arn, account, name)
	})
}
