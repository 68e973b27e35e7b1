package audit_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/audit"
)

func TestJSONLinesWrites(t *testing.T) {
	out := &syncBuffer{}
	j := audit.NewJSONLines(out, audit.JSONLinesOptions{Diagnostics: &syncBuffer{}})
	defer j.Close(t.Context())
	for i := range 100 {
		j.Log(t.Context(), audit.Record{Time: time.Now(), Level: audit.LevelInfo, Action: "Step", Message: fmt.Sprint(i)})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, j.Flush(ctx))
	require.Equal(t, audit.Stats{Logged: 100, Written: 100}, j.Stats())
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	n := 0
	for sc.Scan() {
		var m map[string]string
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		require.Equal(t, fmt.Sprint(n), m["message"], "order is kept")
		n++
	}
	require.Equal(t, 100, n)
}

// stuckWriter blocks every Write until released.
type stuckWriter struct {
	release chan struct{}
	out     *syncBuffer
}

func (w *stuckWriter) Write(p []byte) (int, error) {
	<-w.release
	return w.out.Write(p)
}

func TestJSONLinesNeverBlocksCaller(t *testing.T) {
	w := &stuckWriter{release: make(chan struct{}), out: &syncBuffer{}}
	j := audit.NewJSONLines(w, audit.JSONLinesOptions{MaxBuffer: 1024, Diagnostics: &syncBuffer{}})
	// The writer is stuck: Log must still return, dropping what does not fit.
	for range 1000 {
		j.Log(t.Context(), audit.Record{Action: "Step", Message: strings.Repeat("x", 100)})
	}
	st := j.Stats()
	require.Equal(t, int64(1000), st.Logged)
	require.Positive(t, st.Dropped)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, j.Flush(ctx), context.DeadlineExceeded)
	require.Positive(t, j.Stats().Pending)

	close(w.release)
	ctx2, cancel2 := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel2()
	require.NoError(t, j.Close(ctx2))
	st = j.Stats()
	require.Equal(t, st.Logged, st.Written+st.Dropped)
	require.Zero(t, st.Pending)
	j.Log(t.Context(), audit.Record{Action: "late"})
	require.Equal(t, st.Dropped+1, j.Stats().Dropped, "records after Close are dropped")
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestJSONLinesWriteFailure(t *testing.T) {
	diag := &syncBuffer{}
	j := audit.NewJSONLines(failingWriter{}, audit.JSONLinesOptions{Diagnostics: diag})
	defer j.Close(t.Context())
	j.Log(t.Context(), audit.Record{Action: "x", Message: "token=abc"})
	require.NoError(t, j.Flush(t.Context()))
	st := j.Stats()
	require.Equal(t, int64(1), st.Failed)
	require.Equal(t, int64(1), st.Redacted)
	require.Contains(t, diag.String(), "broken pipe")
}
