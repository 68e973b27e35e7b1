package acs_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/acs"
)

// benchBatch is how many signed requests are prepared, off the clock, per
// round of a benchmark: each can be verified only once (nonces).
const benchBatch = 2048

func benchKeyring(b *testing.B) (*acs.Keyring, acs.Credential) {
	b.Helper()
	k := acs.NewKeyring()
	root, err := k.AddAccount(testAccount, "", "")
	require.NoError(b, err)
	return k, root
}

// signV1 builds a request signed by the SDK's own V1 signer
// (openapiutil.GetRPCSignature), parameters in the query as the legacy
// client sends most of them.
func signV1(method, host string, params map[string]string, nonce, ak, secret string) *http.Request {
	p := map[string]*string{
		"Format": tea.String("JSON"), "Timestamp": openapiutil.GetTimestamp(),
		"SignatureMethod": tea.String("HMAC-SHA1"), "SignatureVersion": tea.String("1.0"),
		"SignatureNonce": tea.String(nonce), "AccessKeyId": tea.String(ak), "SignatureType": tea.String(""),
	}
	for k, v := range params {
		p[k] = tea.String(v)
	}
	sig := openapiutil.GetRPCSignature(p, tea.String(method), tea.String(secret))
	q := url.Values{}
	for k, v := range p {
		q.Set(k, *v)
	}
	q.Set("Signature", *sig)
	return httptest.NewRequest(method, "http://"+host+"/?"+q.Encode(), nil)
}

// BenchmarkVerifyRPC measures signature verification of a DescribeKey call
// as the official clients sign it.
func BenchmarkVerifyRPC(b *testing.B) {
	keyID := map[string]*string{"KeyId": tea.String("key-0123456789abcdef")}
	sign := map[string]func(root acs.Credential, nonce string) *http.Request{
		"V3": func(root acs.Credential, nonce string) *http.Request {
			return signV3("POST", "kms.cn-hangzhou.aliyuncs.com", "/", "DescribeKey", keyID, nonce, root.AccessKeyID, root.AccessKeySecret)
		},
		"V1": func(root acs.Credential, nonce string) *http.Request {
			return signV1("POST", "kms.cn-hangzhou.aliyuncs.com", map[string]string{
				"Action": "DescribeKey", "Version": kmsVersion, "RegionId": testRegion, "KeyId": "key-0123456789abcdef",
			}, nonce, root.AccessKeyID, root.AccessKeySecret)
		},
	}
	for _, name := range []string{"V3", "V1"} {
		b.Run(name, func(b *testing.B) {
			k, root := benchKeyring(b)
			v := acs.NewVerifier(k, acs.VerifierOptions{})
			reqs := make([]*http.Request, 0, benchBatch)
			n := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if len(reqs) == 0 {
					b.StopTimer()
					for j := 0; j < benchBatch; j++ {
						n++
						reqs = append(reqs, sign[name](root, "bench-nonce-"+strconv.Itoa(n)))
					}
					b.StartTimer()
				}
				r := reqs[len(reqs)-1]
				reqs = reqs[:len(reqs)-1]
				if _, _, err := v.VerifyRPC(r); err != nil {
					require.NoError(b, err) // only on failure: require costs time in the timed loop
				}
			}
		})
	}
}

// BenchmarkRPCServeHTTP measures the whole frame (verification, dispatch,
// counters, limiter, response) for a V3-signed DescribeKey.
func BenchmarkRPCServeHTTP(b *testing.B) {
	k, root := benchKeyring(b)
	lim := acs.NewLimiter(nil)
	lim.SetQPS("KeyQuery", 1e9)
	s := acs.NewRPCServer(acs.RPCConfig{Product: "Kms", Version: kmsVersion, Region: testRegion,
		Verifier: acs.NewVerifier(k, acs.VerifierOptions{}), Limiter: lim})
	s.Handle("DescribeKey", "KeyQuery", func(_ context.Context, call *acs.Call) (any, error) {
		id, err := call.Required("KeyId")
		if err != nil {
			return nil, err
		}
		return map[string]any{"KeyMetadata": map[string]string{"KeyId": id, "KeyState": "Enabled"}}, nil
	})
	keyID := map[string]*string{"KeyId": tea.String("key-0123456789abcdef")}
	reqs := make([]*http.Request, 0, benchBatch)
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(reqs) == 0 {
			b.StopTimer()
			for j := 0; j < benchBatch; j++ {
				n++
				reqs = append(reqs, signV3("POST", "kms.cn-hangzhou.aliyuncs.com", "/", "DescribeKey", keyID, "serve-nonce-"+strconv.Itoa(n), root.AccessKeyID, root.AccessKeySecret))
			}
			b.StartTimer()
		}
		r := reqs[len(reqs)-1]
		reqs = reqs[:len(reqs)-1]
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		// Checked before asserting: testify's Equal costs time (and a lock
		// in b.Helper) inside the timed loop.
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"KeyState":"Enabled"`) {
			require.Equal(b, http.StatusOK, w.Code, "status: %s", w.Body)
			require.Contains(b, w.Body.String(), `"KeyState":"Enabled"`)
		}
	}
}
