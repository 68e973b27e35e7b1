package migration

import (
	"context"
	"errors"
	"fmt"

	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// SweepResult says what Sweep did. Restored and Pending entries should be
// alerted on: a rotation stayed off past its batch.
type SweepResult struct {
	// Restored lists entries Sweep set back (account/region kind id).
	Restored []string `json:"restored,omitempty"`
	// Pending lists entries it could not restore yet, with the reason.
	Pending []string `json:"pending,omitempty"`
	// Held counts entries off because their batch is still in flight.
	Held int `json:"held"`
}

// Sweep restores every ledger entry of the run still off whose batch has
// ended (completed, failed, or beyond) or is gone, and reports what it
// restored so that the caller can alert. Entries of batches in flight are
// left alone (Held). Refusals are listed in Pending and retried on the next
// sweep. Cancellation: ctx.Err().
func (e *Engine) Sweep(ctx context.Context, runID string) (SweepResult, error) {
	var out SweepResult
	keys, err := e.Store.List(ctx, statekeys.LedgerPrefix(runID))
	if err != nil {
		return out, fmt.Errorf("migration: sweep %s: %w", runID, err)
	}
	for _, k := range keys {
		le, _, err := runstate.GetJSON[LedgerEntry](ctx, e.Store, k)
		if errors.Is(err, runstate.ErrNotFound) {
			continue
		}
		if err != nil {
			return out, err
		}
		if !le.Off() {
			continue
		}
		s, err := e.readBatch(ctx, runID, le.BatchID)
		switch {
		case errors.Is(err, ErrNoState):
		case err != nil:
			return out, err
		case !s.Phase.Ended():
			out.Held++
			continue
		}
		name := fmt.Sprintf("%s %s %s", le.Lane, le.Kind, le.ID)
		p, err := e.restoreEntry(ctx, runID, le)
		if err != nil {
			return out, err
		}
		if p != "" {
			out.Pending = append(out.Pending, name+": "+p)
			continue
		}
		out.Restored = append(out.Restored, name)
	}
	if len(out.Restored)+len(out.Pending) > 0 {
		b := &BatchState{RunID: runID}
		e.log(ctx, b, resourceRef{}, "Sweep", "alert", "RotationLeftOff",
			fmt.Sprintf("restored %d rotation policies left off; %d still pending", len(out.Restored), len(out.Pending)))
	}
	return out, nil
}
