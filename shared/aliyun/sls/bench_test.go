package sls_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/sls"
	"github.com/kmsmig/kmsmig/shared/audit"
)

func benchRecord() audit.Record {
	return audit.Record{
		Time: time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC), Level: audit.LevelInfo, RunID: "run-20261129",
		Account: "1234567890123456", Region: "cn-hangzhou", ResourceType: "key", ResourceID: "key-0001",
		BatchID: "1234567890123456/cn-hangzhou/b0001", Action: "DisableRotation", Outcome: "updated",
		Message: "rotation disabled before migration; next step: create task",
	}
}

// BenchmarkLog measures the hot path of the SLS sink: what a handler pays
// per record (audit's own benchmark covers the JSON-lines sink).
func BenchmarkLog(b *testing.B) {
	ctx := audit.WithScope(context.Background(), audit.Scope{RunID: "run-1", RequestID: "req-1", Function: "migrate"})
	sinks := map[string]func(b *testing.B) audit.Logger{
		"sls": func(b *testing.B) audit.Logger {
			s, _ := newTwin(b).sink(b, func(c *sls.Config) { c.MaxBufferBytes = 1 << 30 })
			return s
		},
		// The twin decodes and indexes in this process, competing for the
		// same cores; a server that only acknowledges shows the cost of the
		// hot path plus the producer's own batching and compression.
		"sls-ack-only": func(b *testing.B) audit.Logger {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
			}))
			b.Cleanup(ts.Close)
			addr := ts.Listener.Addr().String()
			s, err := sls.NewSink(sls.Config{Endpoint: addr, DialAddr: addr, Project: project, Logstore: logstore,
				Credentials: sls.Credentials{AccessKeyID: "LTAIbench", AccessKeySecret: "bench"}, MaxBufferBytes: 1 << 30})
			require.NoError(b, err)
			b.Cleanup(func() { _ = s.Close(context.Background()) })
			return s
		},
	}
	for _, name := range []string{"sls", "sls-ack-only"} {
		b.Run(name, func(b *testing.B) {
			l := audit.Enrich(sinks[name](b))
			r := benchRecord()
			r.RunID, r.RequestID, r.Function = "", "", ""
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				l.Log(ctx, r)
			}
			b.StopTimer()
			flush(b, l)
		})
	}
}

// BenchmarkFlush measures the end of an invocation against the twin: 100
// records logged, then Flush until the twin has acknowledged them.
func BenchmarkFlush(b *testing.B) {
	s, _ := newTwin(b).sink(b, nil)
	r := benchRecord()
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		for range 100 {
			s.Log(ctx, r)
		}
		b.StartTimer()
		flush(b, s)
	}
}

func flush(b *testing.B, l audit.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(b, l.Flush(ctx))
	require.True(b, l.Stats().Complete(), "trail incomplete: %+v", l.Stats())
}
