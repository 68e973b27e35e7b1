package approval_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/approval"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

var (
	laneA = estate.Lane{Account: "1111000011110001", Region: "cn-hangzhou"}
	laneB = estate.Lane{Account: "1111000011110001", Region: "cn-shanghai"}
)

func testPlan() *plan.Plan {
	return &plan.Plan{RunID: "run-20260101", Settings: plan.DefaultSettings(), Lanes: []plan.LanePlan{
		{Lane: laneB, InstanceID: "kst-b", Batches: []plan.Batch{
			{ID: plan.BatchID(laneB, 1), Lane: laneB, InstanceID: "kst-b", Seq: 1, Keys: []string{"k3"}},
		}},
		{Lane: laneA, InstanceID: "kst-a", Batches: []plan.Batch{
			{ID: plan.BatchID(laneA, 1), Lane: laneA, InstanceID: "kst-a", Seq: 1, Keys: []string{"k2", "k1"}, KeysRotationOff: []string{"k2"}},
			{ID: plan.BatchID(laneA, 2), Lane: laneA, InstanceID: "kst-a", Seq: 2, Secrets: []string{"s1"}, SecretsRotationOff: []string{"s1"}},
		}, Excluded: []plan.Exclusion{{Resource: verdict.ResourceKey, ID: "k9", Reason: "external-key-material"}}},
	}}
}

func TestCanonicalForm(t *testing.T) {
	got := string(approval.Canonical(testPlan(), nil))
	want := `[{"id":"1111000011110001/cn-hangzhou/b0001","lane":"1111000011110001/cn-hangzhou","instanceId":"kst-a","keys":["k1","k2"],"secrets":[],"keysRotationOff":["k2"],"secretsRotationOff":[]},` +
		`{"id":"1111000011110001/cn-hangzhou/b0002","lane":"1111000011110001/cn-hangzhou","instanceId":"kst-a","keys":[],"secrets":["s1"],"keysRotationOff":[],"secretsRotationOff":["s1"]},` +
		`{"id":"1111000011110001/cn-shanghai/b0001","lane":"1111000011110001/cn-shanghai","instanceId":"kst-b","keys":["k3"],"secrets":[],"keysRotationOff":[],"secretsRotationOff":[]}]`
	assert.Equal(t, want, got)
	assert.True(t, strings.HasPrefix(approval.Digest(testPlan(), nil), "v1:"))
	assert.Len(t, approval.Digest(testPlan(), nil), len("v1:")+64)
}

// The digest is a property of what the pending batches move, not of how
// the plan file is written.
func TestDigestStableAcrossRemarshal(t *testing.T) {
	p := testPlan()
	d := approval.Digest(p, nil)
	for name, enc := range map[string]func(any) ([]byte, error){
		"compact":  json.Marshal,
		"indented": func(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") },
	} {
		t.Run(name, func(t *testing.T) {
			data, err := enc(p)
			require.NoError(t, err)
			var back plan.Plan
			require.NoError(t, json.Unmarshal(data, &back))
			assert.Equal(t, d, approval.Digest(&back, nil))
			// And once more, through a generic map (key order lost).
			var m map[string]any
			require.NoError(t, json.Unmarshal(data, &m))
			data2, err := json.Marshal(m)
			require.NoError(t, err)
			var again plan.Plan
			require.NoError(t, json.Unmarshal(data2, &again))
			assert.Equal(t, d, approval.Digest(&again, nil))
		})
	}
	// Order of lanes and of ids inside a batch, settings, exclusions and
	// the digest field itself do not count.
	q := testPlan()
	q.Lanes[0], q.Lanes[1] = q.Lanes[1], q.Lanes[0]
	q.Lanes[0].Batches[0].Keys = []string{"k1", "k2"}
	q.Lanes[0].Excluded = nil
	q.Settings.MaxKeys = 7
	q.Digest = "v1:whatever"
	assert.Equal(t, d, approval.Digest(q, nil))
}

func TestDigestChangesWithPendingBatches(t *testing.T) {
	base := approval.Digest(testPlan(), nil)
	changes := map[string]func(p *plan.Plan){
		"key added":          func(p *plan.Plan) { p.Lanes[1].Batches[0].Keys = append(p.Lanes[1].Batches[0].Keys, "k4") },
		"key removed":        func(p *plan.Plan) { p.Lanes[1].Batches[0].Keys = []string{"k1"} },
		"secret renamed":     func(p *plan.Plan) { p.Lanes[1].Batches[1].Secrets = []string{"s2"} },
		"target instance":    func(p *plan.Plan) { p.Lanes[0].Batches[0].InstanceID = "kst-other" },
		"rotation to switch": func(p *plan.Plan) { p.Lanes[1].Batches[0].KeysRotationOff = nil },
		"batch id":           func(p *plan.Plan) { p.Lanes[1].Batches[1].ID = plan.BatchID(laneA, 3) },
		"batch added": func(p *plan.Plan) {
			p.Lanes[0].Batches = append(p.Lanes[0].Batches, plan.Batch{ID: plan.BatchID(laneB, 2), Lane: laneB, Seq: 2})
		},
		"batch dropped": func(p *plan.Plan) { p.Lanes[0].Batches = nil },
		"resource moved lanes": func(p *plan.Plan) {
			p.Lanes[0].Batches[0].Keys = nil
			p.Lanes[1].Batches[0].Keys = []string{"k1", "k2", "k3"}
		},
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			p := testPlan()
			change(p)
			assert.NotEqual(t, base, approval.Digest(p, nil))
		})
	}
	// A batch that left the plan (submitted) is no longer pending: its
	// content no longer counts, and the digest differs from the all-pending one.
	st := map[string]plan.Status{plan.BatchID(laneA, 1): plan.StatusSubmitted}
	frozen := approval.Digest(testPlan(), st)
	assert.NotEqual(t, base, frozen)
	p := testPlan()
	p.Lanes[1].Batches[0].Keys = []string{"changed"}
	assert.Equal(t, frozen, approval.Digest(p, st))
}

func newStore(t *testing.T, p *plan.Plan) runstate.Store {
	t.Helper()
	s, err := runstate.OpenDir(t.TempDir())
	require.NoError(t, err)
	if p != nil {
		p.Digest = approval.Digest(p, nil)
		_, err = runstate.MutateJSON(t.Context(), s, statekeys.Plan(p.RunID), func(v *plan.Plan, _ bool) error { *v = *p; return nil })
		require.NoError(t, err)
	}
	return s
}

var approver = approval.Identity{AccountID: "1111000011110001", IdentityType: "Account", Arn: "acs:ram::1111000011110001:root"}

func TestApproveAndCheck(t *testing.T) {
	ctx := t.Context()
	p := testPlan()
	s := newStore(t, p)
	d, err := approval.Check(ctx, s, p.RunID)
	require.NoError(t, err)
	assert.False(t, d.Approved)
	assert.Equal(t, approval.ReasonNoApproval, d.Reason)
	assert.Contains(t, d.Why(p.RunID), "kmsmig approve --run run-20260101")

	at := time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC)
	a, changed, err := approval.Approve(ctx, s, p.RunID, p.Digest, approver, at)
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, p.Digest, a.Digest)
	assert.Equal(t, approver, a.By)
	assert.Equal(t, 3, a.Summary.Batches)
	assert.Equal(t, 2, a.Summary.RotationOff)
	assert.Equal(t, map[string]int{"external-key-material": 1}, a.Summary.Blockers)

	d, err = approval.Check(ctx, s, p.RunID)
	require.NoError(t, err)
	assert.True(t, d.Approved, d.Reason)

	// Approving again changes nothing.
	_, changed, err = approval.Approve(ctx, s, p.RunID, "", approver, at.Add(time.Minute))
	require.NoError(t, err)
	assert.False(t, changed)

	// A re-plan after a batch started that changes no pending batch is
	// still covered, although its digest (fewer pending batches) differs.
	started := testPlan()
	st := map[string]plan.Status{plan.BatchID(laneA, 1): plan.StatusSubmitted}
	started.Digest = approval.Digest(started, st)
	require.NotEqual(t, p.Digest, started.Digest)
	_, err = runstate.MutateJSON(ctx, s, statekeys.Plan(p.RunID), func(v *plan.Plan, _ bool) error { *v = *started; return nil })
	require.NoError(t, err)
	_, err = runstate.MutateJSON(ctx, s, statekeys.Batch(p.RunID, plan.BatchID(laneA, 1)), func(v *map[string]any, _ bool) error {
		*v = map[string]any{"id": plan.BatchID(laneA, 1), "planStatus": "submitted"}
		return nil
	})
	require.NoError(t, err)
	d, err = approval.Check(ctx, s, p.RunID)
	require.NoError(t, err)
	assert.True(t, d.Approved, d.Reason)

	// A re-plan that changes a pending batch needs a new approval.
	q := testPlan()
	q.Lanes[1].Batches[1].Secrets = []string{"s1", "s2"}
	q.Digest = approval.Digest(q, st)
	_, err = runstate.MutateJSON(ctx, s, statekeys.Plan(p.RunID), func(v *plan.Plan, _ bool) error { *v = *q; return nil })
	require.NoError(t, err)
	d, err = approval.Check(ctx, s, p.RunID)
	require.NoError(t, err)
	assert.False(t, d.Approved)
	assert.Equal(t, approval.ReasonDigestMismatch, d.Reason)
	assert.Contains(t, d.Why(p.RunID), "changed since")

	// The old digest is refused, the new one approved.
	_, _, err = approval.Approve(ctx, s, p.RunID, p.Digest, approver, at)
	require.ErrorIs(t, err, approval.ErrDigestMismatch)
	a, changed, err = approval.Approve(ctx, s, p.RunID, q.Digest, approver, at)
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, []string{p.Digest}, a.Earlier)
	assert.Len(t, a.Batches, 2, "the pending batches approved")
	ok, why, err := approval.Gate{Store: s}.Approved(ctx, p.RunID)
	require.NoError(t, err)
	assert.True(t, ok, why)
}

func TestApproveRefusesBadInput(t *testing.T) {
	ctx := t.Context()
	at := time.Now()
	t.Run("unknown run", func(t *testing.T) {
		s := newStore(t, nil)
		_, _, err := approval.Approve(ctx, s, "run-19990101", "", approver, at)
		require.ErrorIs(t, err, approval.ErrUnknownRun)
		_, err = approval.Check(ctx, s, "run-19990101")
		require.ErrorIs(t, err, approval.ErrUnknownRun)
		assertNoApproval(t, s, "run-19990101")
	})
	t.Run("digest mismatch", func(t *testing.T) {
		p := testPlan()
		s := newStore(t, p)
		_, _, err := approval.Approve(ctx, s, p.RunID, "v1:0000", approver, at)
		require.ErrorIs(t, err, approval.ErrDigestMismatch)
		assert.Contains(t, err.Error(), "v1:0000")
		assertNoApproval(t, s, p.RunID)
	})
	t.Run("no batches", func(t *testing.T) {
		p := &plan.Plan{RunID: "run-20260102", Lanes: []plan.LanePlan{{Lane: laneA}}}
		s := newStore(t, p)
		_, _, err := approval.Approve(ctx, s, p.RunID, "", approver, at)
		require.ErrorIs(t, err, approval.ErrNothingToApprove)
		assertNoApproval(t, s, p.RunID)
	})
	t.Run("no digest", func(t *testing.T) {
		p := testPlan()
		s := newStore(t, nil)
		_, err := runstate.MutateJSON(ctx, s, statekeys.Plan(p.RunID), func(v *plan.Plan, _ bool) error { *v = *p; return nil })
		require.NoError(t, err)
		_, _, err = approval.Approve(ctx, s, p.RunID, "", approver, at)
		require.ErrorIs(t, err, approval.ErrNoDigest)
		assertNoApproval(t, s, p.RunID)
		d, err := approval.Check(ctx, s, p.RunID)
		require.NoError(t, err)
		assert.Equal(t, approval.ReasonNoDigest, d.Reason)
	})
}

func assertNoApproval(t *testing.T, s runstate.Store, runID string) {
	t.Helper()
	_, found, err := approval.Read(t.Context(), s, runID)
	require.NoError(t, err)
	assert.False(t, found, "an approval was written")
}

func TestSummaryWrite(t *testing.T) {
	p := testPlan()
	p.Digest = approval.Digest(p, nil)
	var buf bytes.Buffer
	approval.Summarize(p, nil).Write(&buf, p.RunID)
	out := buf.String()
	for _, want := range []string{"3 batches in 2 lanes: 3 keys, 1 secrets; 2 automatic rotation policies",
		"1111000011110001/cn-hangzhou → kst-a: 2 batches", "rotation switched off: key k2, secret s1",
		"Blockers: 1 resources left out: external-key-material 1;", p.Digest} {
		assert.Contains(t, out, want)
	}
}

// Statuses reads every batch state of the run (more than it reads at a
// time, so that the pool is exercised), each under its own id, and names a
// state that is not a batch's JSON.
func TestStatuses(t *testing.T) {
	ctx := t.Context()
	p := testPlan()
	s := newStore(t, p)
	want := map[string]plan.Status{}
	statuses := []plan.Status{plan.StatusDone, plan.StatusRunning, plan.StatusSubmitted}
	for i := range 3*runstate.ReadConcurrency + 5 {
		id := plan.BatchID(laneA, i+1)
		want[id] = statuses[i%len(statuses)]
		_, err := runstate.MutateJSON(ctx, s, statekeys.Batch(p.RunID, id), func(v *map[string]any, _ bool) error {
			*v = map[string]any{"id": id, "planStatus": want[id]}
			return nil
		})
		require.NoError(t, err)
	}
	got, err := approval.Statuses(ctx, s, p.RunID)
	require.NoError(t, err)
	assert.Equal(t, want, got)

	none, err := approval.Statuses(ctx, s, "run-20260102")
	require.NoError(t, err)
	assert.Empty(t, none)

	bad := statekeys.Batch(p.RunID, plan.BatchID(laneB, 9))
	_, err = s.Create(ctx, bad, []byte("{"))
	require.NoError(t, err)
	_, err = approval.Statuses(ctx, s, p.RunID)
	require.ErrorContains(t, err, "approval: read batch state "+bad+": ")
}
