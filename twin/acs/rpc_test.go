package acs_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	kms "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/acs"
)

func TestRPCFrameRefusals(t *testing.T) {
	f := newFixture(t)
	f.server.Handle("Boom", "", func(context.Context, *acs.Call) (any, error) {
		return nil, errors.New("disk on fire")
	})
	f.server.Handle("Panic", "", func(context.Context, *acs.Call) (any, error) { panic("bug") })
	f.server.Handle("Wrapped", "", func(context.Context, *acs.Call) (any, error) {
		return nil, errors.Join(errors.New("context"), acs.Errorf(403, "Forbidden.KeyNotFound", "no such key"))
	})
	f.server.Handle("Scalar", "", func(context.Context, *acs.Call) (any, error) { return 42, nil })
	c := f.v3Client(t, f.root.AccessKeyID, f.root.AccessKeySecret, "")

	tests := []struct {
		name, action, version string
		wantStatus            int
		wantCode              string
	}{
		{"unknown action", "NoSuchAction", kmsVersion, 404, "InvalidAction.NotFound"},
		{"wrong version", "DescribeRegions", "2015-01-01", 400, "InvalidVersion"},
		{"plain error", "Boom", kmsVersion, 500, "InternalError"},
		{"panic", "Panic", kmsVersion, 500, "InternalError"},
		{"wrapped *Error", "Wrapped", kmsVersion, 403, "Forbidden.KeyNotFound"},
		{"result not an object", "Scalar", kmsVersion, 500, "InternalError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := callAPI(t, c, tt.action, tt.version, nil)
			status, code := v3Code(t, err)
			assert.Equal(t, tt.wantCode, code)
			assert.Equal(t, tt.wantStatus, status)
		})
	}
	t.Run("missing parameter", func(t *testing.T) {
		_, err := c.DescribeKey(&kms.DescribeKeyRequest{})
		status, code := v3Code(t, err)
		assert.Equal(t, "MissingParameter", code)
		assert.Equal(t, 400, status)
		assert.Contains(t, err.Error(), `"KeyId"`)
	})
}

func TestRPCErrorBody(t *testing.T) {
	f := newFixture(t)
	resp, err := http.Post(f.http.URL+"/", "", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body acs.ErrorBody
	require.NoError(t, jsonDecode(resp.Body, &body))
	assert.Equal(t, resp.Header.Get("x-acs-request-id"), body.RequestID)
	assert.Regexp(t, `^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$`, body.RequestID)
	assert.Equal(t, "kms.cn-hangzhou.aliyuncs.com", body.HostID)
	assert.Equal(t, "https://api.aliyun.com/troubleshoot?q=MissingSignature&product=Kms&requestId="+body.RequestID, body.Recommend)
}

func TestRPCCallCounters(t *testing.T) {
	f := newFixture(t)
	c := f.v3Client(t, f.root.AccessKeyID, f.root.AccessKeySecret, "")
	for range 3 {
		_, err := c.DescribeKey(&kms.DescribeKeyRequest{KeyId: tea.String("k")})
		require.NoError(t, err)
	}
	_, err := c.DescribeRegions()
	require.NoError(t, err)
	// Unauthenticated calls are not counted.
	_, err = f.v3Client(t, f.root.AccessKeyID, "wrong", "").DescribeKey(&kms.DescribeKeyRequest{KeyId: tea.String("k")})
	require.Error(t, err)

	assert.Equal(t, map[string]int64{"DescribeKey": 3, "DescribeRegions": 1, "GetSecretValue": 0}, f.server.Calls())
	assert.Zero(t, f.server.CallCount("GetSecretValue"))
	assert.Zero(t, f.server.CallCount("NotRegistered"))
}

func TestRPCThrottling(t *testing.T) {
	f := newFixture(t)
	f.limiter.SetQPS("KeyQuery", 2)
	c := f.v3Client(t, f.root.AccessKeyID, f.root.AccessKeySecret, "")
	describe := func() error {
		_, err := c.DescribeKey(&kms.DescribeKeyRequest{KeyId: tea.String("k")})
		return err
	}
	require.NoError(t, describe())
	require.NoError(t, describe())
	status, code := v3Code(t, describe())
	assert.Equal(t, "Rejected.Throttling", code)
	assert.Equal(t, http.StatusTooManyRequests, status)

	// The legacy client sees the same refusal.
	_, err := f.v1DescribeRegions(f.v1Client(t, f.root.AccessKeyID, f.root.AccessKeySecret, ""))
	status, code = v1Code(t, err)
	assert.Equal(t, "Rejected.Throttling", code)
	assert.Equal(t, http.StatusTooManyRequests, status)

	// Other groups are not affected; the bucket refills with time.
	_, err = callAPI(t, c, "GetSecretValue", kmsVersion, nil)
	_, code = v3Code(t, err)
	assert.Equal(t, "InternalError", code)
	f.limClock.Advance(500 * time.Millisecond)
	require.NoError(t, describe())
	assert.Error(t, describe())
	assert.Equal(t, int64(5), f.server.CallCount("DescribeKey"), "throttled calls are counted as attempts")
}

func TestRPCFaults(t *testing.T) {
	f := newFixture(t)
	c := f.v3Client(t, f.root.AccessKeyID, f.root.AccessKeySecret, "")

	f.server.SetFaults(acs.Faults{ErrorRate: 1, Actions: []string{"DescribeKey"}})
	_, err := c.DescribeKey(&kms.DescribeKeyRequest{KeyId: tea.String("k")})
	status, code := v3Code(t, err)
	assert.Equal(t, "ServiceUnavailable", code)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	_, err = c.DescribeRegions()
	require.NoError(t, err, "faults limited to DescribeKey")

	// The same seed fails the same calls.
	pattern := func() string {
		f.server.SetFaults(acs.Faults{ErrorRate: 0.5, Seed: 42})
		var b strings.Builder
		for range 16 {
			if _, err := c.DescribeRegions(); err != nil {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	first := pattern()
	assert.Equal(t, first, pattern())
	assert.Contains(t, first, "x")
	assert.Contains(t, first, ".")

	f.server.SetFaults(acs.Faults{})
	_, err = c.DescribeRegions()
	require.NoError(t, err)
}

func TestRPCLatencyHonoursCancellation(t *testing.T) {
	f := newFixture(t)
	f.server.SetFaults(acs.Faults{Latency: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req := signV3("POST", "kms.example", "/", "DescribeRegions", nil, "nonce-latency", f.root.AccessKeyID, f.root.AccessKeySecret).WithContext(ctx)
	rec := httptest.NewRecorder()
	f.server.ServeHTTP(rec, req) // returns at once, or the test times out
	assert.Empty(t, rec.Body.String(), "nothing is written to a caller that is gone")
	assert.Equal(t, int64(1), f.server.CallCount("DescribeRegions"))
}

func TestLimiterRateOverBurst(t *testing.T) {
	clock := newManualClock()
	l := acs.NewLimiter(clock.Now)
	l.SetQPS("KeyQuery", 10)
	allowed := func(account string, n int) int {
		got := 0
		for range n {
			if l.Allow(account, "cn-hangzhou", "KeyQuery") {
				got++
			}
		}
		return got
	}
	assert.Equal(t, 10, allowed("a", 25), "a burst gets the bucket, no more")
	assert.Equal(t, 10, allowed("b", 25), "accounts have their own buckets")
	assert.True(t, l.Allow("a", "cn-shanghai", "KeyQuery"), "regions have their own buckets")
	clock.Advance(300 * time.Millisecond)
	assert.Equal(t, 3, allowed("a", 25), "refill at the QPS rate")
	clock.Advance(time.Hour)
	assert.Equal(t, 10, allowed("a", 25), "the bucket never holds more than a second's worth")

	// Over a sustained burst of 10 simulated seconds the rate is the QPS.
	total := 0
	for range 100 {
		clock.Advance(100 * time.Millisecond)
		total += allowed("c", 5)
	}
	// The bucket is made full (10) at the first round; 99 rounds of 100 ms
	// follow, each refilling one token.
	assert.Equal(t, 10+99, total, "a full bucket, then the QPS rate")

	assert.True(t, l.Allow("a", "cn-hangzhou", "Unlimited"))
	l.SetQPS("KeyQuery", 0)
	assert.Equal(t, 25, allowed("a", 25), "QPS 0 is unlimited")

	l.SetQPS("Slow", 0.5)
	assert.True(t, l.Allow("a", "r", "Slow"))
	assert.False(t, l.Allow("a", "r", "Slow"))
	clock.Advance(time.Second)
	assert.False(t, l.Allow("a", "r", "Slow"))
	clock.Advance(time.Second)
	assert.True(t, l.Allow("a", "r", "Slow"))
}
