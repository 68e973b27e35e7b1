package wiring

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kmsmig/kmsmig/shared/aliyun/oss"
	"github.com/kmsmig/kmsmig/shared/approval"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// Approved is what ApproveRun did.
type Approved struct {
	Approval approval.Approval
	// Changed is false when the digest was already approved (nothing
	// written, no signal).
	Changed bool
	// Signal is the object that prompts migrate's OSS trigger
	// (oss://bucket/<prefix>approvals/<run>.json); empty for a store not on
	// OSS, which has no trigger.
	Signal string
}

// ApproveRun records who approved digest of runID's plan (approval.Approve:
// the store is the authority) and then, for an OSS store, writes the
// object migrate's OSS trigger watches. kmsmig approve and the rehearsal
// both approve through it. Bad input: approval.Approve's errors, nothing
// written. A signal that cannot be written leaves the approval recorded
// and returns the error (the window's timer still starts the run).
func ApproveRun(ctx context.Context, store runstate.Store, runID, digest string, who approval.Identity, at time.Time) (Approved, error) {
	a, changed, err := approval.Approve(ctx, store, runID, digest, who, at)
	if err != nil || !changed {
		return Approved{Approval: a, Changed: changed}, err
	}
	out := Approved{Approval: a, Changed: true}
	s, ok := store.(*oss.Store)
	if !ok {
		return out, nil
	}
	data, _ := json.Marshal(map[string]string{"runId": a.RunID, "digest": a.Digest, "approvedAt": a.At.Format(time.RFC3339)})
	if out.Signal, err = s.Signal(ctx, statekeys.ApprovalSignal(a.RunID), data); err != nil {
		return out, fmt.Errorf("the approval is recorded, but its trigger object was not written (migrate's timer starts the run in the window): %w", err)
	}
	return out, nil
}
