package plan

import "context"

// ctxKey keys, in a context, one reading of a run's plan.
type ctxKey struct{ runID string }

// NewContext returns ctx carrying p, one reading of its run's plan, which
// readers under ctx (the engine's lanes of one step, the approval gate)
// use instead of reading the store again: a step over a thousand lanes
// reads a plan of 15,000 resources once, not once per lane. p is shared:
// readers must not modify it.
func NewContext(ctx context.Context, p *Plan) context.Context {
	return context.WithValue(ctx, ctxKey{p.RunID}, p)
}

// FromContext returns the plan of runID that ctx carries, if any.
func FromContext(ctx context.Context, runID string) (*Plan, bool) {
	p, ok := ctx.Value(ctxKey{runID}).(*Plan)
	return p, ok
}
