package migration

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// SweepResult says what Sweep did. Restored, Superseded and Pending
// entries should be alerted on: a rotation stayed off past its batch.
type SweepResult struct {
	// Restored lists entries Sweep set back (account/region kind id).
	Restored []string `json:"restored,omitempty"`
	// Superseded lists entries whose owner set a policy of their own while
	// kmsmig held rotation off: left as they set it.
	Superseded []string `json:"superseded,omitempty"`
	// Pending lists entries it could not restore yet, with the reason.
	Pending []string `json:"pending,omitempty"`
	// Held counts entries off because their batch may still need them
	// off: in flight, or not yet submitted in the current run.
	Held int `json:"held"`
	// Adopted counts entries moved from a run's own ledger (state written
	// by earlier versions) into the campaign's.
	Adopted int `json:"adopted,omitempty"`
}

// Sweep restores every entry of the campaign's ledger still off whose
// batch no longer needs it, whatever run recorded it: the batch has ended
// (completed, failed, or beyond), is gone, or belongs to a run that is no
// longer current and never reached its task. Entries of batches in flight,
// or of the current run's batches before their task, are left alone
// (Held). It reports what it restored so that the caller can alert.
// Refusals are listed in Pending and retried on the next sweep.
// Cancellation: ctx.Err().
func (e *Engine) Sweep(ctx context.Context) (SweepResult, error) {
	var out SweepResult
	cur, err := e.Current(ctx)
	if err != nil && !errors.Is(err, ErrNoRun) {
		return out, err
	}
	if out.Adopted, err = e.adoptLegacyLedger(ctx); err != nil {
		return out, err
	}
	keys, err := e.Store.List(ctx, statekeys.LedgerPrefix)
	if err != nil {
		return out, fmt.Errorf("migration: sweep: %w", err)
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
		held, err := e.entryHeld(ctx, le, cur)
		if err != nil {
			return out, err
		}
		if held {
			out.Held++
			continue
		}
		name := fmt.Sprintf("%s %s %s", le.Lane, le.Kind, le.ID)
		r, err := e.restoreEntry(ctx, le)
		switch {
		case err != nil:
			return out, err
		case r.Pending != "":
			out.Pending = append(out.Pending, name+": "+r.Pending)
		case r.Superseded:
			out.Superseded = append(out.Superseded, name+": "+r.Detail)
		default:
			out.Restored = append(out.Restored, name)
		}
	}
	if len(out.Restored)+len(out.Pending)+len(out.Superseded) > 0 {
		b := &BatchState{RunID: cur}
		e.log(ctx, b, resourceRef{}, "Sweep", "alert", "RotationLeftOff",
			fmt.Sprintf("restored %d rotation policies left off; %d superseded by their owners; %d still pending",
				len(out.Restored), len(out.Superseded), len(out.Pending)))
	}
	return out, nil
}

// entryHeld reports whether the batch holding le may still need its
// rotation off.
func (e *Engine) entryHeld(ctx context.Context, le LedgerEntry, current string) (bool, error) {
	if le.RunID == "" {
		return false, nil
	}
	s, err := e.readBatch(ctx, le.RunID, le.BatchID)
	switch {
	case errors.Is(err, ErrNoState):
		return false, nil
	case err != nil:
		return false, err
	case s.Phase.InFlight():
		return true, nil
	case s.Phase.Ended():
		return false, nil
	}
	// Planned or rotation-off: only the current run goes on to submit
	// (without a current run, state from before the campaign index, any
	// run may).
	return current == "" || le.RunID == current, nil
}

// adoptLegacyLedger moves the entries that runs kept under their own keys
// (statekeys.LegacyLedgerPrefix, written by earlier versions) into the
// campaign's ledger: an entry already there wins (it is newer); the
// adopted one names its run. It returns how many it moved.
func (e *Engine) adoptLegacyLedger(ctx context.Context) (int, error) {
	runs, err := e.ActiveRuns(ctx)
	if errors.Is(err, ErrNoRun) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, run := range runs {
		keys, err := e.Store.List(ctx, statekeys.LegacyLedgerPrefix(run))
		if err != nil {
			return n, fmt.Errorf("migration: list legacy ledger of %s: %w", run, err)
		}
		for _, k := range keys {
			obj, err := e.Store.Get(ctx, k)
			if errors.Is(err, runstate.ErrNotFound) {
				continue
			}
			if err != nil {
				return n, err
			}
			le, _, err := runstate.GetJSON[LedgerEntry](ctx, e.Store, k)
			if err != nil {
				return n, fmt.Errorf("migration: legacy ledger entry %s: %w", k, err)
			}
			if le.RunID == "" {
				le.RunID = run
			}
			key := statekeys.Ledger(le.Lane, le.Kind, le.ID)
			if _, err := runstate.MutateJSON(ctx, e.Store, key, func(cur *LedgerEntry, exists bool) error {
				if !exists {
					*cur = le
				}
				return nil
			}); err != nil {
				return n, err
			}
			if err := e.Store.Delete(ctx, k, obj.Version); err != nil && !errors.Is(err, runstate.ErrNotFound) && !errors.Is(err, runstate.ErrConflict) {
				return n, err
			}
			n++
			e.log(ctx, &BatchState{RunID: run, ID: le.BatchID, Lane: le.Lane}, resourceRef{le.Kind, le.ID}, "LedgerAdopt", "updated", "",
				"moved from "+strings.TrimSuffix(k, ".json")+" to the campaign's ledger")
		}
	}
	return n, nil
}
