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
// once; until restored, the resource may be off). Restored, verified and
// superseded end the entry's life: the next switch-off records the policy
// afresh.
const (
	LedgerOff      LedgerStatus = "off"
	LedgerRestored LedgerStatus = "restored"
	LedgerVerified LedgerStatus = "verified"
	// LedgerSuperseded: while kmsmig held the rotation off, its owner set
	// a policy of their own (Found); kmsmig left it as they set it.
	LedgerSuperseded LedgerStatus = "superseded"
)

// LedgerEntry records a rotation policy this project switched off, so that
// exactly that policy is set again afterwards. The ledger is the
// campaign's, not a run's: an entry lives from the switch-off to its
// verified restore, whatever runs and nights that spans, and a batch of a
// later run takes it over keeping Original. Original is written when the
// entry is recorded (created, or re-recorded after the end of its previous
// life) and never overwritten while the entry is off.
type LedgerEntry struct {
	Lane     estate.Lane     `json:"lane"`
	Kind     ResourceKind    `json:"kind"`
	ID       string          `json:"id"`
	Original estate.Rotation `json:"original"`
	// RecordedAt is when Original was read.
	RecordedAt time.Time `json:"recordedAt"`
	// RunID and BatchID name the batch holding the rotation off now (a
	// retry batch, or a batch of a later run, takes the entry over).
	RunID   string       `json:"runId,omitempty"`
	BatchID string       `json:"batchId"`
	Status  LedgerStatus `json:"status"`
	// SwitchedOff counts the switch-offs (one per batch that held it).
	SwitchedOff int       `json:"switchedOff"`
	RestoredAt  time.Time `json:"restoredAt,omitzero"`
	VerifiedAt  time.Time `json:"verifiedAt,omitzero"`
	// Found is the policy the owner set while the entry was off (status
	// superseded), and SupersededAt when kmsmig found it.
	Found        *estate.Rotation `json:"found,omitempty"`
	SupersededAt time.Time        `json:"supersededAt,omitzero"`
	// LastError is the last refusal of a restore, kept until it succeeds.
	LastError   string    `json:"lastError,omitempty"`
	LastAttempt time.Time `json:"lastAttempt,omitzero"`
}

// Off reports whether the entry may still hold a rotation off.
func (e *LedgerEntry) Off() bool { return e.Status == LedgerOff }

// HeldBy reports whether batch batchID of run runID holds the entry. An
// entry written before entries named their run matches any run.
func (e *LedgerEntry) HeldBy(runID, batchID string) bool {
	return e.BatchID == batchID && (e.RunID == runID || e.RunID == "")
}

// claimLedger records the entry of r for batch b: when there is none, or
// its previous life ended (restored, verified, superseded), with the policy
// observed now; when it is off (held by an earlier batch of this or
// another run), it takes it over keeping its Original, unless rotation
// reads on although kmsmig left it off: its owner re-enabled it, so their
// policy is recorded afresh (audited as superseding the old one when it
// differs). It returns the entry as stored.
func (e *Engine) claimLedger(ctx context.Context, b *BatchState, r resourceRef, observed estate.Rotation) (LedgerEntry, error) {
	now := e.now()
	var out LedgerEntry
	action := ""
	key := statekeys.Ledger(b.Lane, r.Kind, r.ID)
	res, err := runstate.MutateJSON(ctx, e.Store, key, func(le *LedgerEntry, exists bool) error {
		action = ""
		switch {
		case !exists:
			*le = LedgerEntry{Lane: b.Lane, Kind: r.Kind, ID: r.ID, Original: observed, RecordedAt: now}
			action = "LedgerCreate"
		case !le.Off():
			*le = LedgerEntry{Lane: b.Lane, Kind: r.Kind, ID: r.ID, Original: observed, RecordedAt: now, SwitchedOff: le.SwitchedOff}
			action = "LedgerRecord"
		case observed.Enabled:
			// kmsmig left it off and reads it on: someone switched it on
			// meanwhile, and their policy is the one to give back.
			action = "LedgerRecord"
			if !sameRotation(observed, le.Original) {
				action = "LedgerSupersede"
			}
			*le = LedgerEntry{Lane: b.Lane, Kind: r.Kind, ID: r.ID, Original: observed, RecordedAt: now, SwitchedOff: le.SwitchedOff}
		}
		if !le.HeldBy(b.RunID, b.ID) || le.RunID != b.RunID || le.Status != LedgerOff {
			if action == "" {
				action = "LedgerTakeOver"
			}
			le.RunID, le.BatchID, le.Status = b.RunID, b.ID, LedgerOff
			le.SwitchedOff++
		}
		out = *le
		return nil
	})
	if err != nil {
		return LedgerEntry{}, fmt.Errorf("migration: ledger %s: %w", key, err)
	}
	if res.Outcome != runstate.Unchanged && action != "" {
		reason := ""
		if action == "LedgerSupersede" {
			reason = ReasonOwnerChanged
		}
		e.log(ctx, b, r, action, string(res.Outcome), reason, "original rotation "+describe(out.Original))
	}
	return out, nil
}

// ledgerEntry reads the entry of r in lane l; ok is false when there is
// none.
func (e *Engine) ledgerEntry(ctx context.Context, l estate.Lane, r resourceRef) (LedgerEntry, bool, error) {
	le, _, err := runstate.GetJSON[LedgerEntry](ctx, e.Store, statekeys.Ledger(l, r.Kind, r.ID))
	switch {
	case errors.Is(err, runstate.ErrNotFound):
		return LedgerEntry{}, false, nil
	case err != nil:
		return LedgerEntry{}, false, err
	}
	return le, true, nil
}

// markLedger applies f to the entry of r if batch batchID of run runID
// still holds it.
func (e *Engine) markLedger(ctx context.Context, l estate.Lane, r resourceRef, runID, batchID string, f func(le *LedgerEntry)) error {
	key := statekeys.Ledger(l, r.Kind, r.ID)
	_, err := runstate.MutateJSON(ctx, e.Store, key, func(le *LedgerEntry, exists bool) error {
		if !exists {
			return errNoEntry
		}
		if le.HeldBy(runID, batchID) {
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
