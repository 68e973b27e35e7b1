package migration

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// LedgerStatus is where a ledger entry is.
type LedgerStatus string

// Ledger statuses. An entry is created off (the switch-off follows at
// once; until restored, the resource may be off).
const (
	LedgerOff      LedgerStatus = "off"
	LedgerRestored LedgerStatus = "restored"
	LedgerVerified LedgerStatus = "verified"
)

// LedgerEntry records a rotation policy this project switched off, so that
// exactly that policy is set again afterwards. Original is written once,
// when the entry is created, and never overwritten.
type LedgerEntry struct {
	Lane     estate.Lane     `json:"lane"`
	Kind     ResourceKind    `json:"kind"`
	ID       string          `json:"id"`
	Original estate.Rotation `json:"original"`
	// RecordedAt is when Original was read.
	RecordedAt time.Time `json:"recordedAt"`
	// BatchID is the batch holding the rotation off now (a retry batch
	// takes the entry over from its source).
	BatchID string       `json:"batchId"`
	Status  LedgerStatus `json:"status"`
	// SwitchedOff counts the switch-offs (one per batch that held it).
	SwitchedOff int       `json:"switchedOff"`
	RestoredAt  time.Time `json:"restoredAt,omitzero"`
	VerifiedAt  time.Time `json:"verifiedAt,omitzero"`
	// LastError is the last refusal of a restore, kept until it succeeds.
	LastError   string    `json:"lastError,omitempty"`
	LastAttempt time.Time `json:"lastAttempt,omitzero"`
}

// Off reports whether the entry may still hold a rotation off.
func (e *LedgerEntry) Off() bool { return e.Status == LedgerOff }

// claimLedger creates the entry of r for batch b with the policy observed
// now, or, when it exists, hands it to b (status off) keeping its original
// policy. It returns the entry as stored.
func (e *Engine) claimLedger(ctx context.Context, b *BatchState, r resourceRef, observed estate.Rotation) (LedgerEntry, error) {
	now := e.now()
	var out LedgerEntry
	var created bool
	key := statekeys.Ledger(b.RunID, b.Lane, r.Kind, r.ID)
	res, err := runstate.MutateJSON(ctx, e.Store, key, func(le *LedgerEntry, exists bool) error {
		created = !exists
		if !exists {
			*le = LedgerEntry{Lane: b.Lane, Kind: r.Kind, ID: r.ID, Original: observed, RecordedAt: now}
		}
		if le.BatchID != b.ID || le.Status != LedgerOff {
			le.BatchID, le.Status = b.ID, LedgerOff
			le.SwitchedOff++
		}
		out = *le
		return nil
	})
	if err != nil {
		return LedgerEntry{}, fmt.Errorf("migration: ledger %s: %w", key, err)
	}
	if res.Outcome != runstate.Unchanged {
		action := "LedgerTakeOver"
		if created {
			action = "LedgerCreate"
		}
		e.log(ctx, b, r, action, string(res.Outcome), "", "original rotation "+describe(out.Original))
	}
	return out, nil
}

// ledgerEntry reads the entry of r; ok is false when there is none.
func (e *Engine) ledgerEntry(ctx context.Context, runID string, l estate.Lane, r resourceRef) (LedgerEntry, bool, error) {
	le, _, err := runstate.GetJSON[LedgerEntry](ctx, e.Store, statekeys.Ledger(runID, l, r.Kind, r.ID))
	switch {
	case errors.Is(err, runstate.ErrNotFound):
		return LedgerEntry{}, false, nil
	case err != nil:
		return LedgerEntry{}, false, err
	}
	return le, true, nil
}

// markLedger applies f to the entry of r if batch batchID still holds it.
func (e *Engine) markLedger(ctx context.Context, runID string, l estate.Lane, r resourceRef, batchID string, f func(le *LedgerEntry)) error {
	key := statekeys.Ledger(runID, l, r.Kind, r.ID)
	_, err := runstate.MutateJSON(ctx, e.Store, key, func(le *LedgerEntry, exists bool) error {
		if !exists {
			return errNoEntry
		}
		if le.BatchID == batchID {
			f(le)
		}
		return nil
	})
	if errors.Is(err, errNoEntry) {
		return nil
	}
	return err
}

var errNoEntry = errors.New("no ledger entry")

// sameRotation compares policies the way KMS applies them: the interval
// matters only when rotation is on.
func sameRotation(a, b estate.Rotation) bool {
	if a.Enabled != b.Enabled {
		return false
	}
	return !a.Enabled || a.Interval == b.Interval
}

func describe(r estate.Rotation) string {
	if !r.Enabled {
		return "off"
	}
	return "on every " + r.Interval.String()
}
