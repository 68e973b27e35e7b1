package kms_test

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	kmsv3 "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/kms"
)

// BenchmarkDescribeKeyV3 measures signed DescribeKey calls through the
// official v3 client against one region's handler (signature check,
// counters, limiter without quota, model read), reporting calls/s.
func BenchmarkDescribeKeyV3(b *testing.B) {
	e := demo(b)
	benchDescribeKey(b, func() *kmsv3.Client { return e.v3(b, acctA, hz) })
}

// BenchmarkDescribeKeyV3ClientOnly is the same client against a server
// that answers a canned body without verifying anything: the ceiling the
// client and the loopback HTTP stack allow on this machine.
func BenchmarkDescribeKeyV3ClientOnly(b *testing.B) {
	body := []byte(`{"RequestId":"X","KeyMetadata":{"KeyId":"` + keyPlain + `","KeyState":"Enabled"}}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	benchDescribeKey(b, func() *kmsv3.Client {
		c, err := kmsv3.NewClient(&openapi.Config{AccessKeyId: tea.String("ak"), AccessKeySecret: tea.String("sk"),
			Endpoint: tea.String(strings.TrimPrefix(srv.URL, "http://")), Protocol: tea.String("http"), RegionId: tea.String(hz), MaxIdleConns: tea.Int(32)})
		require.NoError(b, err)
		return c
	})
}

// BenchmarkDescribeKeyModel is the operation alone, without HTTP.
func BenchmarkDescribeKeyModel(b *testing.B) {
	e := demo(b)
	l := kms.Lane{Account: acctA, Region: hz}
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.twin.DescribeKey(l, kms.DescribeKeyRequest{KeyId: keyPlain}); !assert.NoError(b, err) {
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}

func benchDescribeKey(b *testing.B, client func() *kmsv3.Client) {
	req := &kmsv3.DescribeKeyRequest{KeyId: tea.String(keyPlain)}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		c := client()
		for pb.Next() {
			res, err := c.DescribeKey(req)
			if !assert.NoError(b, err) {
				return
			}
			// Checked before asserting: assert.Equal costs time (and a lock
			// in b.Helper) inside the timed loop.
			if got := tea.StringValue(res.Body.KeyMetadata.KeyId); got != keyPlain {
				assert.Equal(b, keyPlain, got, "wrong key")
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}

// BenchmarkDescribeKeyHandler serves DescribeKey requests signed by the
// SDK's own V3 signer (openapiutil.GetAuthorization, fresh nonce each)
// straight into the region's handler, without the client and the HTTP
// stack: the twin's own capacity.
func BenchmarkDescribeKeyHandler(b *testing.B) {
	e := demo(b)
	h := e.twin.Handler(hz)
	cred, _ := e.twin.Keyring().Account(acctA)
	host := e.hosts[hz]
	query := map[string]*string{"KeyId": tea.String(keyPlain)}
	payload := hex.EncodeToString(openapiutil.Hash(nil, tea.String("ACS3-HMAC-SHA256")))
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			dr := dara.NewRequest()
			dr.Method, dr.Pathname, dr.Query = tea.String("POST"), tea.String("/"), query
			dr.Headers = map[string]*string{
				"host":                  tea.String(host),
				"x-acs-version":         tea.String(kms.APIVersion),
				"x-acs-action":          tea.String("DescribeKey"),
				"x-acs-date":            openapiutil.GetTimestamp(),
				"x-acs-signature-nonce": tea.String(fmt.Sprintf("bench-%d", seq.Add(1))),
				"x-acs-content-sha256":  tea.String(payload),
			}
			auth := openapiutil.GetAuthorization(dr, tea.String("ACS3-HMAC-SHA256"), tea.String(payload),
				tea.String(cred.AccessKeyID), tea.String(cred.AccessKeySecret))
			r := httptest.NewRequest("POST", "http://"+host+"/?KeyId="+keyPlain, nil)
			for k, v := range dr.Headers {
				if k != "host" {
					r.Header.Set(k, *v)
				}
			}
			r.Header.Set("Authorization", *auth)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				assert.Equal(b, http.StatusOK, w.Code, "status: %s", w.Body)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}

// BenchmarkDescribeKeyHTTP is the twin's serving rate over real loopback
// HTTP: DescribeKey requests signed ahead of time by the SDK's own V3
// signer (a fresh nonce each, so the replay check passes) are sent by a
// plain keep-alive net/http client from parallel goroutines. The signing
// happens before the timer starts, so the figure is what the twin serves,
// not what the official client can produce (BenchmarkDescribeKeyV3
// measures the two together).
func BenchmarkDescribeKeyHTTP(b *testing.B) {
	e := demo(b)
	cred, _ := e.twin.Keyring().Account(acctA)
	host := e.hosts[hz]
	query := map[string]*string{"KeyId": tea.String(keyPlain)}
	payload := hex.EncodeToString(openapiutil.Hash(nil, tea.String("ACS3-HMAC-SHA256")))
	type signed struct{ headers map[string]string }
	reqs := make([]signed, b.N)
	for i := range reqs {
		dr := dara.NewRequest()
		dr.Method, dr.Pathname, dr.Query = tea.String("POST"), tea.String("/"), query
		dr.Headers = map[string]*string{
			"host":                  tea.String(host),
			"x-acs-version":         tea.String(kms.APIVersion),
			"x-acs-action":          tea.String("DescribeKey"),
			"x-acs-date":            openapiutil.GetTimestamp(),
			"x-acs-signature-nonce": tea.String(fmt.Sprintf("http-bench-%d-%d", b.N, i)),
			"x-acs-content-sha256":  tea.String(payload),
		}
		auth := openapiutil.GetAuthorization(dr, tea.String("ACS3-HMAC-SHA256"), tea.String(payload),
			tea.String(cred.AccessKeyID), tea.String(cred.AccessKeySecret))
		h := map[string]string{"Authorization": *auth}
		for k, v := range dr.Headers {
			if k != "host" {
				h[k] = *v
			}
		}
		reqs[i] = signed{h}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64}}
	url := "http://" + host + "/?KeyId=" + keyPlain
	var next atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s := reqs[next.Add(1)-1]
			r, _ := http.NewRequest("POST", url, nil)
			for k, v := range s.headers {
				r.Header.Set(k, v)
			}
			resp, err := client.Do(r)
			if !assert.NoError(b, err) {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				assert.Equal(b, http.StatusOK, resp.StatusCode, "status")
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}
