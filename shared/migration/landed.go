package migration

import (
	"context"
	"errors"
	"time"

	"github.com/kmsmig/kmsmig/shared/cloud"
)

// landing is what a re-read tells about a batch write that returned an
// error.
type landing int

const (
	// notLanded: the batch was read back without the write's transition.
	notLanded landing = iota
	// hasLanded: the transition is in the batch's history.
	hasLanded
	// mayHaveLanded: the batch could not be read back.
	mayHaveLanded
)

// landedReads bounds the reads landed tries before it gives up; the
// back-off between them stays inside its 10 s.
const landedReads = 5

var landedBackoff = cloud.Backoff{Base: 200 * time.Millisecond, Max: 2 * time.Second}

// landed tells whether a batch write that returned an error did reach the
// store: a store may apply a write and lose its reply (a timeout, a
// dropped connection, a process stopped between the two), so an error
// does not prove that nothing was written. It re-reads the batch
// (detached from ctx, which may be what ended; a few times, since the
// store that just failed a write may fail a read too) and looks for the
// transition to phase to at at, made by this request: that entry is only
// ever written by this call.
func (e *Engine) landed(ctx context.Context, runID, batchID string, to Phase, at time.Time) (BatchState, landing) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	rid := requestID(ctx)
	for attempt := 0; ; attempt++ {
		s, err := e.readBatch(rctx, runID, batchID)
		if err == nil {
			for i := len(s.History) - 1; i >= 0; i-- {
				if t := s.History[i]; t.To == to && t.At.Equal(at) && t.RequestID == rid {
					return s, hasLanded
				}
			}
			return BatchState{}, notLanded
		}
		if errors.Is(err, ErrNoState) {
			return BatchState{}, notLanded
		}
		if attempt == landedReads-1 || cloud.Sleep(rctx, landedBackoff.Delay(attempt)) != nil {
			return BatchState{}, mayHaveLanded
		}
	}
}

// owedTransition writes the Transition record that a batch write which
// returned an error still owes when the write did land (it moved base to
// phase to at at): the trail must not miss a transition the history
// shows. When the batch cannot be read back it logs the record anyway,
// from base and saying the transition may not have landed: an audit
// trail may hold an attempt it cannot confirm, never miss a transition.
// When the write did not land it logs nothing. msg words the record from
// the batch it describes.
func (e *Engine) owedTransition(ctx context.Context, base BatchState, to Phase, at time.Time, reason string, msg func(*BatchState) string) {
	got, l := e.landed(ctx, base.RunID, base.ID, to, at)
	switch l {
	case hasLanded:
		e.log(ctx, &got, resourceRef{}, "Transition", string(to), reason, msg(&got))
	case mayHaveLanded:
		e.log(ctx, &base, resourceRef{}, "Transition", string(to), reason,
			msg(&base)+" (the state store lost the write's reply and the batch could not be read back: this transition may not have landed)")
	}
}
