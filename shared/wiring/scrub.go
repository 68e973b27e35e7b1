package wiring

import (
	"context"

	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/runstate"
)

// scrubbedStore is the run-state store every function writes through: each
// payload passes the invocation's Guard (audit.Guard.ScrubStored) before it
// is written, so discovery errors, verdict details, reports, batch state,
// ledger errors and hand-offs are stored without credentials, whichever
// code path put the text there. Reads are not touched.
//
// A payload that held a credential is stored scrubbed, so a Mutate whose
// function returns the unscrubbed bytes again reports "updated" instead of
// "unchanged"; the state it writes is the same.
type scrubbedStore struct {
	runstate.Store
	guard *audit.Guard
}

var _ runstate.Store = scrubbedStore{}

// ScrubStore returns s writing every payload through g (see scrubbedStore):
// what the functions' Wire does, for other writers of run state (the CLI).
func ScrubStore(s runstate.Store, g *audit.Guard) runstate.Store {
	if s == nil || g == nil {
		return s
	}
	return scrubbedStore{Store: s, guard: g}
}

// Create implements runstate.Store with data scrubbed.
func (s scrubbedStore) Create(ctx context.Context, key string, data []byte) (runstate.Version, error) {
	data, _ = s.guard.ScrubStored(key, data)
	return s.Store.Create(ctx, key, data)
}

// Update implements runstate.Store with data scrubbed.
func (s scrubbedStore) Update(ctx context.Context, key string, data []byte, ifVersion runstate.Version) (runstate.Version, error) {
	data, _ = s.guard.ScrubStored(key, data)
	return s.Store.Update(ctx, key, data, ifVersion)
}
