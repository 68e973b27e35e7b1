package plan

import (
	"context"
	"sync"
)

// ctxKey keys, in a context, one reading of a run's plan.
type ctxKey struct{ runID string }

// snapshot is the plan a context carries; Update replaces it whole.
type snapshot struct {
	mu sync.RWMutex
	p  Plan
}

// NewContext returns ctx carrying p, one reading of its run's plan, which
// readers under ctx (the engine's lanes of one step, the approval gate)
// use instead of reading the store again: a step over a thousand lanes
// reads a plan of 15,000 resources once, not once per lane. Readers share
// its slices and must not modify them; a writer of the plan under ctx
// calls Update with what it wrote.
func NewContext(ctx context.Context, p Plan) context.Context {
	return context.WithValue(ctx, ctxKey{p.RunID}, &snapshot{p: p})
}

// FromContext returns the plan of runID that ctx carries, if any.
func FromContext(ctx context.Context, runID string) (Plan, bool) {
	s, ok := ctx.Value(ctxKey{runID}).(*snapshot)
	if !ok {
		return Plan{}, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.p, true
}

// Update replaces the plan ctx carries for p.RunID, if any, with p (the
// plan as just written), so that the rest of the step sees it.
func Update(ctx context.Context, p Plan) {
	s, ok := ctx.Value(ctxKey{p.RunID}).(*snapshot)
	if !ok {
		return
	}
	s.mu.Lock()
	s.p = p
	s.mu.Unlock()
}
