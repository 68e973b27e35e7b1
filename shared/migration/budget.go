package migration

import (
	"context"
	"time"

	"github.com/kmsmig/kmsmig/shared/estate"
)

// laneBudgetKey keys, in a context, a step's lane budget.
type laneBudgetKey struct{}

// laneBudget is when a step stops starting lanes, and when it cuts the
// lanes still at work.
type laneBudget struct{ startBy, cutAt time.Time }

// WithLaneBudget returns ctx carrying a lane budget: from startBy a step
// starts no further lane, and at cutAt it cuts the lanes still at work
// (WithinLaneBudget), so that the invocation can still record its results
// and flush its audit trail before ctx's deadline. The lanes left or cut
// are reported waiting, not failed: the next step (poll's every-minute
// timer) continues them, and a cut lane is no different from an
// invocation stopped mid-step, which every transition is built to survive
// (compare-and-swap, submission intents, read-back of lost replies). At
// the start of a 1,000-lane window, poll groups of 100 lanes ran out of
// time with lanes unstarted or mid-step, failed "context deadline
// exceeded", and Function Compute's retries, which wait for the same
// tasks again, failed the same way, raising failure alerts for work the
// next minute's poll was about to do anyway.
func WithLaneBudget(ctx context.Context, startBy, cutAt time.Time) context.Context {
	return context.WithValue(ctx, laneBudgetKey{}, laneBudget{startBy, cutAt})
}

// LaneBudget is WithLaneBudget two thirds (start) and five sixths (cut)
// of the way from now to ctx's deadline; ctx unchanged when it has none.
func LaneBudget(ctx context.Context, now time.Time) context.Context {
	end, ok := ctx.Deadline()
	if !ok {
		return ctx
	}
	left := end.Sub(now)
	return WithLaneBudget(ctx, now.Add(left*2/3), now.Add(left*5/6))
}

// WithinLaneBudget runs f for lane l under ctx's lane budget, on the wall
// clock that deadlines follow: not at all once the budget's start is past,
// and with f's context cut at the budget's end. A lane left or cut yields
// a waiting result that says so and no error (the next step continues
// it); a cut lane's error is dropped with it. Without a budget it is
// f(ctx).
func WithinLaneBudget(ctx context.Context, l estate.Lane, f func(context.Context) (StepResult, error)) (StepResult, error) {
	b, ok := ctx.Value(laneBudgetKey{}).(laneBudget)
	if !ok {
		return f(ctx)
	}
	if !time.Now().Before(b.startBy) {
		return StepResult{Outcome: OutcomeWaiting, Reason: "lane " + l.String() + " left for the next step: this invocation's time ran short"}, nil
	}
	lctx, cancel := context.WithDeadline(ctx, b.cutAt)
	defer cancel()
	res, err := f(lctx)
	if err != nil && lctx.Err() != nil && ctx.Err() == nil {
		res.Outcome = OutcomeWaiting
		res.Reason = "lane " + l.String() + " cut short for the next step: this invocation's time ran out (" + err.Error() + ")"
		return res, nil
	}
	return res, err
}

// LaneBudgetSpent reports whether ctx's lane budget has passed its start:
// a step starts no further lane; false without a budget.
func LaneBudgetSpent(ctx context.Context) bool {
	b, ok := ctx.Value(laneBudgetKey{}).(laneBudget)
	return ok && !time.Now().Before(b.startBy)
}
