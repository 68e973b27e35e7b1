package audit_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/audit"
)

// BenchmarkLog measures the hot path of the JSON-lines sink: what a
// handler pays per record (shared/aliyun/sls benchmarks the SLS sink).
func BenchmarkLog(b *testing.B) {
	ctx := audit.WithScope(context.Background(), audit.Scope{RunID: "run-1", RequestID: "req-1", Function: "migrate"})
	j := audit.NewJSONLines(io.Discard, audit.JSONLinesOptions{MaxBuffer: 1 << 30})
	b.Cleanup(func() { _ = j.Close(context.Background()) })
	l := audit.Enrich(j)
	r := goldenRecord()
	r.Message = "rotation disabled before migration; next step: create task"
	r.RunID, r.RequestID, r.Function = "", "", ""
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		l.Log(ctx, r)
	}
	b.StopTimer()
	fctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(b, l.Flush(fctx))
	require.True(b, l.Stats().Complete())
}
