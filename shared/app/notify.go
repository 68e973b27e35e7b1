package app

import (
	"context"
	"errors"
	"time"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// nightEnded returns the "night's work ended" notification of the run
// when it is due, once per window (a create-only marker in the store,
// statekeys.Notice, so that no alert period can send it twice): the run
// is done, or the window win (the last one that opened) has closed with
// something of the run having happened in it and nothing of the run in
// flight any more. Its figures are the run's so far (moved, failed,
// dropped, rotation restored) and what continues in the next window.
func (x *Executor) nightEnded(ctx context.Context, runID string, now time.Time, win migration.Window, rep migration.Report) (alert.Alert, bool) {
	// Everything is read from the run report the step has built already
	// (the ledger, once the night's work is over): poll runs every minute
	// and must stay cheap.
	closed := !win.End.IsZero() && now.After(win.End)
	if !rep.Done && !closed {
		return alert.Alert{}, false
	}
	last := map[string]migration.Phase{} // each batch's phase now
	worked := false
	for _, t := range rep.Timeline {
		last[t.BatchID] = t.To
		if t.From != "" && (win.Start.IsZero() || !t.At.Before(win.Start)) {
			worked = true
		}
	}
	if !worked {
		return alert.Alert{}, false
	}
	for _, ph := range last {
		if ph != migration.PhasePlanned && ph != migration.PhaseVerified && ph != migration.PhaseFailed {
			return alert.Alert{}, false // a batch of the run is in flight
		}
	}
	if err := rep.AddLedger(ctx, x.Engine.Store); err != nil {
		return alert.Alert{}, false // the next step retries
	}
	end := "done"
	if !win.End.IsZero() {
		end = win.End.UTC().Format("2006-01-02T15:04Z")
	}
	_, err := x.Engine.Store.Create(ctx, statekeys.Notice(runID, "night-ended-"+end), []byte(`{"sent":"`+now.UTC().Format(time.RFC3339)+`"}`))
	if errors.Is(err, runstate.ErrConflict) || err != nil {
		return alert.Alert{}, false // sent already (or the store says no: the next step retries)
	}
	f := alert.NightFigures{Done: rep.Done, Restored: rep.Ledger.Restored + rep.Ledger.Verified, StillOff: rep.Ledger.Off}
	for _, l := range rep.Lanes {
		f.Moved += l.Migrated
		f.Failed += l.Failed
		f.Retried += l.Retried
		f.Dropped += l.Dropped
		f.Remaining += l.Batches - l.Finished
	}
	return alert.NightEnded(runID, end, f), true
}
