package migration

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kmsmig/kmsmig/shared/plan"
)

// A lane is at work for poll while a batch is past planned and not
// finished, or a finished batch is followed by one still in the plan; not
// before it begins (every state planned, as discover's kick leaves the
// first), nor once every batch has finished.
func TestLaneAtWork(t *testing.T) {
	b := func(seq int) plan.Batch { return plan.Batch{ID: "b" + string(rune('0'+seq)), Seq: seq} }
	batches := []plan.Batch{b(3), b(1), b(2)} // plan order is not seq order after a retry
	st := func(id string, ph Phase) *BatchState { return &BatchState{ID: id, Phase: ph} }
	for _, tt := range []struct {
		name   string
		states []*BatchState
		want   bool
	}{
		{"no state", nil, false},
		{"first batch planned (the kick)", []*BatchState{st("b1", PhasePlanned)}, false},
		{"first batch's rotation off", []*BatchState{st("b1", PhaseRotationOff)}, true},
		{"a task running", []*BatchState{st("b1", PhaseRunning)}, true},
		{"first finished, second not started", []*BatchState{st("b1", PhaseVerified)}, true},
		{"first finished, second planned", []*BatchState{st("b1", PhaseVerified), st("b2", PhasePlanned)}, true},
		{"two finished, the last submitted", []*BatchState{st("b1", PhaseVerified), st("b2", PhaseVerified), st("b3", PhaseSubmitted)}, true},
		{"every batch finished", []*BatchState{st("b1", PhaseVerified), st("b2", PhaseVerified), st("b3", PhaseVerified)}, false},
		{"failed and restored counts as finished", []*BatchState{st("b1", PhaseVerified), st("b2", PhaseVerified),
			{ID: "b3", Phase: PhaseFailed, RotationRestored: true, Verified: true}}, false},
		{"failed, rotation not yet restored", []*BatchState{st("b1", PhaseVerified), st("b2", PhaseVerified), st("b3", PhaseFailed)}, true},
	} {
		byID := map[string]*BatchState{}
		for _, s := range tt.states {
			byID[s.ID] = s
		}
		assert.Equal(t, tt.want, laneAtWork(batches, byID), tt.name)
	}
}
