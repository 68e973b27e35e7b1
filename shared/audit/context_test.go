package audit_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/audit"
)

// memory is a Logger that keeps records, for tests of wrappers.
type memory struct {
	mu      sync.Mutex
	records []audit.Record
}

func (m *memory) Log(_ context.Context, r audit.Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records = append(m.records, r)
}
func (m *memory) Flush(context.Context) error { return nil }
func (m *memory) Stats() audit.Stats          { return audit.Stats{Logged: int64(len(m.records))} }

func TestEnrich(t *testing.T) {
	m := &memory{}
	l := audit.Enrich(m)
	ctx := audit.WithScope(t.Context(), audit.Scope{RunID: "r1", RequestID: "q1", Function: "plan"})
	ctx = audit.WithScope(ctx, audit.Scope{Account: "acct", Region: "cn-beijing"})
	l.Log(ctx, audit.Record{Action: "Plan"})
	l.Log(ctx, audit.Record{Action: "Plan", Region: "cn-shanghai", Level: audit.LevelWarn})
	require.Len(t, m.records, 2)
	got := m.records[0]
	require.Equal(t, "r1", got.RunID)
	require.Equal(t, "q1", got.RequestID)
	require.Equal(t, "plan", got.Function)
	require.Equal(t, "acct", got.Account)
	require.Equal(t, "cn-beijing", got.Region)
	require.Equal(t, audit.LevelInfo, got.Level)
	require.False(t, got.Time.IsZero())
	require.Equal(t, "cn-shanghai", m.records[1].Region, "a record's own fields win")
	require.Equal(t, audit.LevelWarn, m.records[1].Level)
	require.Equal(t, int64(2), l.Stats().Logged)
	require.Equal(t, audit.Scope{}, audit.ScopeFrom(context.Background()))
}
