package migration

import (
	"context"
	"fmt"
	"time"
)

// laneBudgetKey keys, in a context, when a step stops starting lanes.
type laneBudgetKey struct{}

// WithLaneBudget returns ctx carrying the moment from which a step starts
// no further lane (eachLane, and the poll's continuation of lanes): the
// lanes it has started may finish, and the invocation may still record
// and flush its audit trail, before ctx's deadline. The lanes left are
// reported waiting, not failed: the next step (poll's every-minute timer)
// takes them. A poll group of a hundred lanes at the start of a
// thousand-lane window otherwise ran out of time with lanes unstarted,
// failed with "context deadline exceeded", and its retries, which wait
// for the same tasks again, failed the same way.
func WithLaneBudget(ctx context.Context, until time.Time) context.Context {
	return context.WithValue(ctx, laneBudgetKey{}, until)
}

// LaneBudget is WithLaneBudget at two thirds of the way from now to ctx's
// deadline; ctx unchanged when it has none.
func LaneBudget(ctx context.Context, now time.Time) context.Context {
	end, ok := ctx.Deadline()
	if !ok {
		return ctx
	}
	return WithLaneBudget(ctx, now.Add(end.Sub(now)*2/3))
}

// LaneBudgetSpent reports whether ctx's lane budget (WithLaneBudget) has
// passed on the wall clock, which deadlines follow; false without one.
func LaneBudgetSpent(ctx context.Context) bool {
	until, ok := ctx.Value(laneBudgetKey{}).(time.Time)
	return ok && !time.Now().Before(until)
}

// leftForNextStep is the result of a lane a step did not start because
// its lane budget was spent.
func leftForNextStep(l fmt.Stringer) StepResult {
	return StepResult{Outcome: OutcomeWaiting, Reason: "lane " + l.String() + " left for the next step: this invocation's time ran short"}
}
