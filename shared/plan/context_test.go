package plan_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/plan"
)

// A context carries one plan per run; Update replaces it for the rest of
// the step (a writer of the plan, such as the engine planning retries).
func TestPlanContext(t *testing.T) {
	ctx := t.Context()
	_, ok := plan.FromContext(ctx, "run-1")
	require.False(t, ok)
	plan.Update(ctx, plan.Plan{RunID: "run-1"}) // nothing carried: nothing to update

	ctx = plan.NewContext(ctx, plan.Plan{RunID: "run-1", Digest: "v1:a"})
	p, ok := plan.FromContext(ctx, "run-1")
	require.True(t, ok)
	require.Equal(t, "v1:a", p.Digest)
	_, ok = plan.FromContext(ctx, "run-2")
	require.False(t, ok, "another run's plan is read from the store")

	plan.Update(ctx, plan.Plan{RunID: "run-1", Digest: "v1:b"})
	p, _ = plan.FromContext(ctx, "run-1")
	require.Equal(t, "v1:b", p.Digest, "the step sees what it wrote")
}
