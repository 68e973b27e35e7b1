package migration

import (
	"context"

	"github.com/kmsmig/kmsmig/shared/estate"
)

// TransitionTable lists the From → To pairs of the transition table, for
// the tests of package migration_test.
func TransitionTable() [][2]Phase {
	out := make([][2]Phase, len(transitions))
	for i, e := range transitions {
		out[i] = [2]Phase{e.From, e.To}
	}
	return out
}

// EachLane exposes eachLane to the tests of package migration_test.
func (e *Engine) EachLane(ctx context.Context, runID string, lanes []estate.Lane, f func(context.Context, string, estate.Lane) (StepResult, error)) ([]StepResult, error) {
	return e.eachLane(ctx, runID, lanes, f)
}

// ObserveConcurrency exposes observeConcurrency to the tests of package
// migration_test.
const ObserveConcurrency = observeConcurrency
