package plan

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/verdict"
)

func mustReplan(t *testing.T, prev *Plan, states map[string]Status, vs *verdict.Verdicts) *Plan {
	t.Helper()
	p, err := Replan(prev, states, vs)
	require.NoError(t, err)
	from := 1
	for _, lp := range p.Lanes {
		for _, b := range lp.Batches {
			if states[b.ID].Frozen() {
				from = max(from, b.Seq+1)
			}
		}
	}
	checkInvariants(t, p, vs, from)
	return p
}

func TestStatus(t *testing.T) {
	tests := []struct {
		s                Status
		frozen, inFlight bool
	}{
		{"", false, false},
		{StatusPending, false, false},
		{StatusSubmitted, true, true},
		{StatusRunning, true, true},
		{StatusDone, true, false},
		{StatusFailed, true, false},
		{"verifying", true, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.s), func(t *testing.T) {
			assert.Equal(t, tt.frozen, tt.s.Frozen())
			assert.Equal(t, tt.inFlight, tt.s.InFlight())
		})
	}
}

// Without frozen batches, Replan is New with the previous settings.
func TestReplanWithoutFrozenBatchesIsNew(t *testing.T) {
	s := settings(func(s *Settings) { s.MaxKeys, s.MaxSecrets = 2, 2 })
	vs := verdicts(append(keys(laneA, "k", 5), sv(laneA, "s", "k003"))...)
	prev := mustPlan(t, vs, s)
	prev.RunID = "run-0"
	got := mustReplan(t, prev, map[string]Status{"1111/cn-hangzhou/b0001": StatusPending}, vs)
	want := mustPlan(t, vs, s)
	want.RunID = "run-0"
	assert.Equal(t, want, got)
}

func TestReplanFreezesBatches(t *testing.T) {
	s := settings(func(s *Settings) { s.MaxKeys, s.MaxSecrets = 2, 2 })
	// Six keys in three batches; secret s-k5 waits for k5.
	before := verdicts(append(keys(laneA, "k", 6), sv(laneA, "s-k5", "k005"))...)
	prev := mustPlan(t, before, s)
	require.Equal(t, "k000,k005|;k001,k002|s-k5;k003,k004|", layout(prev.Lanes[0]), "fixture layout")

	b1, b2, b3 := BatchID(laneA, 1), BatchID(laneA, 2), BatchID(laneA, 3)
	tests := []struct {
		name    string
		states  map[string]Status
		after   func(*verdict.Verdicts)
		frozen  []string
		layout  string
		firstID string
	}{
		{
			name:   "done batch migrated, rest replanned after it",
			states: map[string]Status{b1: StatusDone},
			after:  migrate("k000", "k005"),
			frozen: []string{b1},
			// The secret's CMK is in a frozen batch: it may go at once.
			layout:  "k000,k005|;k001,k002|s-k5;k003,k004|",
			firstID: BatchID(laneA, 2),
		},
		{
			name:    "running batch is untouched and its resources not replanned",
			states:  map[string]Status{b1: StatusRunning},
			frozen:  []string{b1},
			layout:  "k000,k005|;k001,k002|s-k5;k003,k004|",
			firstID: BatchID(laneA, 2),
		},
		{
			name:    "frozen later batch: new numbering after it, pending earlier one replanned",
			states:  map[string]Status{b2: StatusSubmitted},
			frozen:  []string{b2},
			layout:  "k001,k002|s-k5;k000,k003|;k004,k005|",
			firstID: BatchID(laneA, 3),
		},
		{
			name:   "done batch whose keys did not migrate is retried",
			states: map[string]Status{b1: StatusDone, b2: StatusFailed},
			after:  migrate("k000", "k001", "k002"),
			frozen: []string{b1, b2},
			// k005 is retried first because s-k5 waits for it.
			layout:  "k000,k005|;k001,k002|s-k5;k003,k005|;k004|s-k5",
			firstID: b3,
		},
		{
			name:    "all frozen, nothing left",
			states:  map[string]Status{b1: StatusDone, b2: StatusDone, b3: StatusDone},
			after:   migrate("k000", "k001", "k002", "k003", "k004", "k005", "s-k5"),
			frozen:  []string{b1, b2, b3},
			layout:  "k000,k005|;k001,k002|s-k5;k003,k004|",
			firstID: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			after := verdicts(append(keys(laneA, "k", 6), sv(laneA, "s-k5", "k005"))...)
			if tt.after != nil {
				tt.after(after)
			}
			p := mustReplan(t, prev, tt.states, after)
			lp := p.Lanes[0]
			assert.Equal(t, tt.layout, layout(lp))
			frozenIDs := map[string]bool{}
			for _, id := range tt.frozen {
				want, _ := prev.Batch(id)
				got, ok := p.Batch(id)
				require.True(t, ok, "frozen batch %s dropped", id)
				assert.Equal(t, want, got, "frozen batch %s changed", id)
				frozenIDs[id] = true
			}
			var newIDs []string
			for _, b := range lp.Batches {
				if !frozenIDs[b.ID] {
					newIDs = append(newIDs, b.ID)
					for id := range frozenIDs {
						fb, _ := p.Batch(id)
						assert.Greater(t, b.Seq, fb.Seq, "new batch %s must come after frozen %s", b.ID, id)
					}
				}
			}
			if tt.firstID == "" {
				assert.Empty(t, newIDs)
			} else {
				require.NotEmpty(t, newIDs)
				assert.Equal(t, tt.firstID, newIDs[0])
			}
		})
	}
}

// migrate marks resources already migrated in fresh verdicts, as discovery
// would see them after a task moved them.
func migrate(ids ...string) func(*verdict.Verdicts) {
	return func(vs *verdict.Verdicts) {
		for i := range vs.Resources {
			v := &vs.Resources[i]
			for _, id := range ids {
				if v.ID == id {
					migrated(v)
				}
			}
			// A secret whose CMK has migrated waits for nothing.
			for _, id := range ids {
				if v.DependsOn == id {
					v.DependsOn = ""
				}
			}
		}
	}
}

// A running batch's resources still take quota room: they have not
// migrated yet, so the instance's usage does not count them.
func TestReplanChargesInFlightBatchesToQuota(t *testing.T) {
	prev := mustPlan(t, verdicts(keys(laneA, "k", 3)...), settings(func(s *Settings) { s.MaxKeys = 2 }))
	require.Len(t, prev.Lanes[0].Batches, 2)
	after := verdictsWithQuota(3, 10, append(keys(laneA, "k", 3), kv(laneA, "kz-new"))...)
	p := mustReplan(t, prev, map[string]Status{BatchID(laneA, 1): StatusRunning}, after)
	lp := p.Lanes[0]
	assert.Equal(t, "k000,k001|;k002|", layout(lp), "2 in flight + 1 new = the 3 free slots")
	require.Len(t, lp.Excluded, 1)
	assert.Equal(t, "kz-new", lp.Excluded[0].ID)
	assert.Equal(t, verdict.InstanceQuotaTooSmall, lp.Excluded[0].Reason)
	assert.Contains(t, lp.Stopped, "room for 1 more keys")
}

// A lane that left the verdicts keeps its frozen batches.
func TestReplanKeepsFrozenBatchesOfVanishedLanes(t *testing.T) {
	prev := mustPlan(t, verdicts(kv(laneA, "a"), kv(laneB, "b")), DefaultSettings())
	p := mustReplan(t, prev, map[string]Status{BatchID(laneB, 1): StatusDone}, verdicts(kv(laneA, "a")))
	require.Len(t, p.Lanes, 2)
	assert.Equal(t, laneB, p.Lanes[1].Lane)
	assert.Equal(t, prev.Lanes[1].Batches, p.Lanes[1].Batches)
}

// Replan applies the previous plan's filters, and a frozen batch keeps the
// instance it was planned for even when the lane's target changed.
func TestReplanKeepsSettingsAndFrozenInstance(t *testing.T) {
	s := settings(func(s *Settings) { s.MaxKeys, s.Exclude = 1, []string{"key:k001"} })
	prev := mustPlan(t, verdicts(keys(laneA, "k", 3)...), s)
	after := verdicts(keys(laneA, "k", 3)...)
	after.Lanes[0].InstanceID = "kst-2"
	after.Instances = append(after.Instances, verdict.InstanceUse{InstanceID: "kst-2", FreeKeys: 10, FreeSecrets: 10})
	p := mustReplan(t, prev, map[string]Status{BatchID(laneA, 1): StatusRunning}, after)
	lp := p.Lanes[0]
	assert.Equal(t, s, p.Settings)
	assert.Equal(t, "k000|;k002|", layout(lp))
	assert.Equal(t, target, lp.Batches[0].InstanceID)
	assert.Equal(t, "kst-2", lp.Batches[1].InstanceID)
	assert.Equal(t, []Exclusion{{Resource: verdict.ResourceKey, ID: "k001", Reason: ExcludedByFilter, Detail: "excluded by filter key:k001"}}, lp.Excluded)
}

func TestReplanIsDeterministic(t *testing.T) {
	rs := keys(laneA, "k", 40)
	for i := range 40 {
		rs = append(rs, sv(laneA, fmt.Sprintf("s%02d", i), fmt.Sprintf("k%03d", (i*3)%40)))
	}
	s := settings(func(s *Settings) { s.MaxKeys, s.MaxSecrets = 5, 5 })
	prev := mustPlan(t, verdicts(rs...), s)
	states := map[string]Status{BatchID(laneA, 1): StatusDone, BatchID(laneA, 2): StatusRunning}
	a, err := json.Marshal(mustReplan(t, prev, states, verdicts(rs...)))
	require.NoError(t, err)
	b, err := json.Marshal(mustReplan(t, prev, states, verdicts(rs...)))
	require.NoError(t, err)
	assert.Equal(t, string(a), string(b))
}
