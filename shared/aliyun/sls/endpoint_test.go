package sls_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/sls"
	"github.com/kmsmig/kmsmig/shared/audit"
)

func TestWithScheme(t *testing.T) {
	for in, want := range map[string]string{
		"cn-hangzhou.log.aliyuncs.com":          "https://cn-hangzhou.log.aliyuncs.com",
		"cn-hangzhou-intranet.log.aliyuncs.com": "https://cn-hangzhou-intranet.log.aliyuncs.com",
		"https://cn-hangzhou.log.aliyuncs.com":  "https://cn-hangzhou.log.aliyuncs.com",
		"http://127.0.0.1:8080":                 "http://127.0.0.1:8080",
		"127.0.0.1:40012":                       "127.0.0.1:40012",
		"localhost:40012":                       "localhost:40012",
		"[::1]:40012":                           "[::1]:40012",
		"10.0.0.5:80":                           "https://10.0.0.5:80",
		"":                                      "",
	} {
		assert.Equal(t, want, sls.WithScheme(in), in)
	}
}

// A sink given a bare public endpoint never speaks plain HTTP: a listener
// that only understands plain HTTP, reached through DialAddr, sees a TLS
// handshake and never a request carrying the STS token.
func TestSinkSpeaksTLSToPublicEndpoints(t *testing.T) {
	var mu sync.Mutex
	var requests []http.Header
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests = append(requests, r.Header.Clone())
		mu.Unlock()
	}))
	t.Cleanup(plain.Close)
	s, err := sls.NewSink(sls.Config{Endpoint: "cn-hangzhou.log.aliyuncs.com", DialAddr: plain.Listener.Addr().String(),
		Project: project, Logstore: logstore, Retries: -1,
		Credentials: sls.Credentials{AccessKeyID: "LTAIexample", AccessKeySecret: "secret-example-0123456789", SecurityToken: "CAISexampletoken0123456789"}})
	require.NoError(t, err)
	s.Log(t.Context(), audit.Record{Action: "Invoke", Outcome: "started"})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_ = s.Flush(ctx)
	_ = s.Close(ctx)
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, requests, "no plain-HTTP request reached the endpoint")
	assert.Equal(t, int64(1), s.Stats().Failed+s.Stats().Pending, "the record failed over TLS instead")
}
