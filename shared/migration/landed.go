package migration

import (
	"context"
	"time"
)

// landed tells whether a batch write that returned an error did reach the
// store: a store may apply a write and lose its reply (a timeout, a
// dropped connection, a process stopped between the two), so an error
// does not prove that nothing was written. It re-reads the batch
// (detached from ctx, which may be what ended) and looks for the
// transition to phase to at at, made by this request: that entry is only
// ever written by this call. When it is there the caller still owes its
// audit record, or the trail would miss a transition the history shows.
func (e *Engine) landed(ctx context.Context, runID, batchID string, to Phase, at time.Time) (BatchState, bool) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	s, err := e.readBatch(rctx, runID, batchID)
	if err != nil {
		return BatchState{}, false
	}
	rid := requestID(ctx)
	for i := len(s.History) - 1; i >= 0; i-- {
		t := s.History[i]
		if t.To == to && t.At.Equal(at) && t.RequestID == rid {
			return s, true
		}
	}
	return BatchState{}, false
}
