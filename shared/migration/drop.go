package migration

import (
	"context"
	"errors"
	"slices"

	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/estate"
)

// Owners change their estates between nights: a resource planned
// yesterday may be deleted, scheduled for deletion or disabled by the time
// its batch runs. That is its owner's decision, not a failure of the
// migration: such a resource is dropped from its batch (ResultDropped,
// with the reason), never retried, never alerted as a failure and not
// counted as an attempt. The next discover reports the change, and its
// plan leaves the resource out until its owner changes their mind.

// dropped is a resource left out of its batch, and why.
type dropped struct {
	ref  resourceRef
	code string
	msg  string
}

// dropFor says whether what KMS shows of r keeps it out of a migration: o
// as observed, or err matching cloud.ErrNotFound when it no longer exists.
// A key scheduled for deletion or disabled (DescribeKey's KeyState) is
// dropped; secrets have no such state.
func dropFor(r resourceRef, o observed, err error) (dropped, bool) {
	switch {
	case errors.Is(err, cloud.ErrNotFound):
		return dropped{r, ReasonResourceGone, "the resource no longer exists"}, true
	case err != nil || r.Kind != KindKey:
		return dropped{}, false
	case o.Key.State == estate.KeyPendingDeletion:
		return dropped{r, ReasonKeyPendingDeletion, "the key is scheduled for deletion"}, true
	case o.Key.State == estate.KeyDisabled:
		return dropped{r, ReasonKeyDisabled, "the key is disabled"}, true
	}
	return dropped{}, false
}

// drop removes d's resource from the batch's task list and records it as
// dropped, unless it already has an outcome.
func (s *BatchState) drop(d dropped) {
	list := &s.Secrets
	if d.ref.Kind == KindKey {
		list = &s.Keys
	}
	*list = slices.DeleteFunc(slices.Clone(*list), func(id string) bool { return id == d.ref.ID })
	if s.outcome(d.ref) == nil {
		s.Resources = append(s.Resources, ResourceOutcome{Kind: d.ref.Kind, ID: d.ref.ID, Result: ResultDropped,
			ReasonCode: d.code, Message: d.msg})
	}
}

// logDrops audits every resource dropped from batch st (ResourceResult,
// outcome dropped); what says what it was left out of.
func (e *Engine) logDrops(ctx context.Context, st *BatchState, drops []dropped, what string) {
	for _, d := range drops {
		e.log(ctx, st, d.ref, "ResourceResult", ResultDropped, d.code, "left out of the "+what+": "+d.msg)
	}
}

// refs returns the resources of drops.
func refs(drops []dropped) []resourceRef {
	out := make([]resourceRef, len(drops))
	for i, d := range drops {
		out[i] = d.ref
	}
	return out
}
