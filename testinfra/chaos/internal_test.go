package chaos

import (
	"context"
	"errors"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	ossstore "github.com/kmsmig/kmsmig/shared/aliyun/oss"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/verdict"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
	osstwin "github.com/kmsmig/kmsmig/twin/oss"
)

// plans draws a schedule's profile and its first n step plans.
func plans(seed uint64, index, n int) (profile, []stepPlan) {
	r := mrand.New(mrand.NewPCG(seed, uint64(index)))
	p := drawProfile(r)
	out := make([]stepPlan, n)
	for i := range out {
		out[i] = drawStep(r, p)
	}
	return p, out
}

// The same seed and index give the same schedule of faults; another seed
// or index gives another.
func TestScheduleIsReproducible(t *testing.T) {
	p1, s1 := plans(42, 7, DefaultSteps)
	p2, s2 := plans(42, 7, DefaultSteps)
	assert.Equal(t, p1, p2)
	assert.Equal(t, s1, s2)
	_, s3 := plans(43, 7, DefaultSteps)
	_, s4 := plans(42, 8, DefaultSteps)
	assert.NotEqual(t, s1, s3)
	assert.NotEqual(t, s1, s4)
}

// Over many schedules every fault kind and every action is drawn.
func TestEveryFaultIsDrawn(t *testing.T) {
	seen := map[string]bool{}
	for i := range 50 {
		p, steps := plans(1, i, DefaultSteps)
		for _, s := range steps {
			seen[actions[s.action].name] = true
			if s.copies > 1 && s.parallel {
				seen[FaultConcurrent] = true
			}
			if s.copies > 1 && !s.parallel {
				seen[FaultDuplicate] = true
			}
			for _, f := range s.faults[:s.copies] {
				seen[FaultCrash] = seen[FaultCrash] || f.crash
				seen[FaultConflict] = seen[FaultConflict] || f.conflict
				seen[FaultSkew] = seen[FaultSkew] || f.skew != 0
			}
			seen[FaultThrottle] = seen[FaultThrottle] || s.toggleThrottle
			seen[FaultTransient] = seen[FaultTransient] || s.toggleErrors
			seen[FaultStall] = seen[FaultStall] || s.toggleStall
			seen[FaultFail] = seen[FaultFail] || s.fail && s.failFor > 0
			seen[FaultFailPerm] = seen[FaultFailPerm] || s.fail && s.failFor == 0
		}
		assert.Positive(t, p.speed)
	}
	for _, a := range actions {
		assert.True(t, seen[a.name], a.name)
	}
	for _, k := range []string{FaultCrash, FaultConflict, FaultDuplicate, FaultConcurrent, FaultSkew, FaultThrottle, FaultTransient, FaultStall, FaultFail, FaultFailPerm} {
		assert.True(t, seen[k], k)
	}
}

// Over many schedules of many nights every configuration and every
// operator's fault is drawn.
func TestEveryNightFaultIsDrawn(t *testing.T) {
	seen := map[string]bool{}
	for i := range 60 {
		n := newNightly(1, i, 3)
		p := n.prof
		seen["observe"] = seen["observe"] || p.Observe
		seen["task"] = seen["task"] || !p.Observe
		seen["automatic"] = seen["automatic"] || p.Automatic
		seen["small batches"] = seen["small batches"] || p.BatchKeys < 50 && p.BatchSecrets < 50
		seen["owners"] = seen["owners"] || p.MaxChanges > 0
		assert.False(t, p.Observe && p.Automatic, "the observe backend is started by the operator")
		assert.Greater(t, p.ObserveTimeout, 24*time.Hour, "observation outlasts a day")
		for range 3 * DefaultSteps {
			o := drawOperatorStep(n.rng, p)
			seen[FaultPause] = seen[FaultPause] || o.pause
			seen[FaultAbort] = seen[FaultAbort] || o.abort
			seen["abort via rotate"] = seen["abort via rotate"] || o.abort && o.viaEvent
			seen["kmsmig abort"] = seen["kmsmig abort"] || o.abort && !o.viaEvent
		}
	}
	for _, k := range []string{"observe", "task", "automatic", "small batches", "owners", FaultPause, FaultAbort, "abort via rotate", "kmsmig abort"} {
		assert.True(t, seen[k], k)
	}
	assert.Equal(t, map[string]string{"KMSMIG_WINDOW": "01:05-01:13", "KMSMIG_BATCH_KEYS": "2", "KMSMIG_BATCH_SECRETS": "3",
		"KMSMIG_BACKEND": "observe", "KMSMIG_OBSERVE_TIMEOUT": "30h0m0s"},
		(&nightly{prof: nightProfile{WindowMinutes: 8, BatchKeys: 2, BatchSecrets: 3, Observe: true, ObserveTimeout: 30 * time.Hour}}).env())
}

// Over many schedules the OSS stream draws both pruning regimes and
// switches the OSS twin's faults on and off; the step stream is the same
// whatever the store.
func TestEveryOSSFaultIsDrawn(t *testing.T) {
	seen := map[string]bool{}
	for i := range 50 {
		r := mrand.New(mrand.NewPCG(1^ossStream, uint64(i)))
		p := drawOSSProfile(r)
		seen["prune at once"] = seen["prune at once"] || p.PruneAtOnce
		seen["prune after"] = seen["prune after"] || !p.PruneAtOnce
		assert.Greater(t, p.ErrorRate, 0.0)
		assert.Greater(t, p.LostRate, 0.0)
		assert.LessOrEqual(t, p.ErrorRate+p.LostRate, 1.0)
		for range DefaultSteps {
			seen["oss faults toggled"] = seen["oss faults toggled"] || drawOSSStep(r, p).toggle
		}
	}
	for _, k := range []string{"prune at once", "prune after", "oss faults toggled"} {
		assert.True(t, seen[k], k)
	}
}

// A schedule on the OSS store writes through the OSS twin's faulty handler
// and reads through its clean one: both are the OSS store, on one bucket.
func TestScheduleOnOSS(t *testing.T) {
	s := converged(t)
	fn, ok := s.store.(*ossstore.Store)
	require.True(t, ok, "functions' store %T", s.store)
	_, ok = s.view.(*ossstore.Store)
	require.True(t, ok, "harness's store %T", s.view)
	assert.NotSame(t, fn, s.view)
	keys, err := s.view.List(t.Context(), statekeys.BatchPrefix(RunID))
	require.NoError(t, err)
	assert.NotEmpty(t, keys, "the run's batches are in the bucket")

	// The faults hit the functions' store only.
	require.NoError(t, s.oss.faulty.SetFaults(osstwin.Faults{ErrorRate: 1}))
	_, err = fn.Get(t.Context(), keys[0])
	require.Error(t, err)
	assert.Contains(t, err.Error(), "InternalError")
	_, err = s.view.Get(t.Context(), keys[0])
	require.NoError(t, err)
	s.countOSS()
	assert.Positive(t, s.res.Faults[FaultOSSError])
}

// A campaign on another store is refused before anything runs.
func TestUnknownState(t *testing.T) {
	_, err := Run(t.Context(), Options{State: "s3"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `state "s3": want "oss"`)
}

// converged starts a schedule and runs it to its end without faults.
func converged(t *testing.T) *schedule {
	t.Helper()
	s, closeFn, err := newSchedule(t.Context(), 1, 0, kmstwin.DemoInventory(), 1, StateOSS)
	require.NoError(t, err)
	t.Cleanup(closeFn)
	require.NoError(t, s.converge(t.Context()))
	s.check(t.Context())
	require.Empty(t, s.res.Violations)
	return s
}

func invariants(vs []Violation) map[string]int {
	out := map[string]int{}
	for _, v := range vs {
		out[v.Invariant]++
	}
	return out
}

// The invariants are not vacuous: each catches what it is about.
func TestChecksCatchViolations(t *testing.T) {
	ctx := t.Context()
	hz := estate.Lane{Account: "1111000011110001", Region: "cn-hangzhou"}
	const rotatingKey = "a1000001-0000-4000-8000-000000000002"

	t.Run("rotation left off", func(t *testing.T) {
		s := converged(t)
		require.NoError(t, s.client.SetKeyRotation(ctx, hz, rotatingKey, estate.Rotation{}))
		s.check(ctx)
		// Against what discovery saw, and against its verified ledger entry.
		assert.Equal(t, map[string]int{InvRotation: 2}, invariants(s.res.Violations), "%v", s.res.Violations)
	})
	t.Run("second task", func(t *testing.T) {
		s := converged(t)
		var inst string
		for _, v := range s.migratable {
			if v.Lane == hz && v.Resource == "key" {
				inst = v.InstanceID
			}
		}
		_, err := s.tasks.CreateTask(ctx, hz, migration.TaskRequest{InstanceID: inst, KeyIDs: []string{rotatingKey}})
		require.NoError(t, err)
		s.check(ctx)
		assert.Equal(t, map[string]int{InvOneTask: 1}, invariants(s.res.Violations), "%v", s.res.Violations)
	})
	t.Run("transition not audited", func(t *testing.T) {
		s := converged(t)
		s.trail.mu.Lock()
		for i := range s.trail.recs {
			if s.trail.recs[i].Action == "Transition" && s.trail.recs[i].Outcome == string(migration.PhaseVerified) {
				s.trail.recs[i].Action = "Lost"
				break
			}
		}
		s.trail.mu.Unlock()
		s.check(ctx)
		assert.Positive(t, invariants(s.res.Violations)[InvAudit], "%v", s.res.Violations)
	})
	t.Run("history off the transition table", func(t *testing.T) {
		s := converged(t)
		keys, err := s.store.List(ctx, statekeys.BatchPrefix(RunID))
		require.NoError(t, err)
		require.NotEmpty(t, keys)
		// Same phases reached, so the audit check still matches; but the
		// second entry no longer starts where the first ended.
		_, err = runstate.MutateJSON(ctx, s.store, keys[0], func(b *migration.BatchState, _ bool) error {
			b.History[1].From = migration.PhaseVerified
			return nil
		})
		require.NoError(t, err)
		s.check(ctx)
		assert.Equal(t, map[string]int{InvHistory: 1}, invariants(s.res.Violations), "%v", s.res.Violations)
	})
	// The owners' invariant: what an owner last set stands, except a
	// switch-off made while kmsmig's ledger entry was off.
	const plainKey = "a1000001-0000-4000-8000-000000000001"
	owned := func(t *testing.T, id string, after estate.Rotation, heldOff, apply bool) *schedule {
		t.Helper()
		s := converged(t)
		s.nights = newNightly(1, 0, 2)
		s.nights.runs = []string{RunID}
		r := resKey{hz, verdict.ResourceKey, id}
		before, _, err := s.policy(ctx, r)
		require.NoError(t, err)
		if apply {
			require.NoError(t, s.client.SetKeyRotation(ctx, hz, id, after))
		}
		s.nights.owners = append(s.nights.owners, ownerChange{Res: r, At: s.st.Clock.Now(), Before: before, After: after, HeldOff: heldOff})
		s.check(ctx)
		return s
	}
	weekly := estate.Rotation{Enabled: true, Interval: 7 * 24 * time.Hour}
	t.Run("owner's policy kept", func(t *testing.T) {
		s := owned(t, plainKey, weekly, false, true)
		assert.Empty(t, s.res.Violations)
	})
	t.Run("owner's policy overwritten", func(t *testing.T) {
		s := owned(t, plainKey, weekly, false, false)
		assert.Equal(t, map[string]int{InvOwner: 1}, invariants(s.res.Violations), "%v", s.res.Violations)
	})
	t.Run("owner's switch-off overwritten", func(t *testing.T) {
		s := owned(t, rotatingKey, estate.Rotation{}, false, false)
		assert.Equal(t, map[string]int{InvOwner: 1}, invariants(s.res.Violations), "%v", s.res.Violations)
	})
	t.Run("owner's switch-off while kmsmig held it off", func(t *testing.T) {
		// Indistinguishable from kmsmig's own: its ledger governs, and the
		// ledger's original (on) is what KMS shows.
		s := owned(t, rotatingKey, estate.Rotation{}, true, false)
		assert.Empty(t, s.res.Violations)
	})

	t.Run("task carrying other resources, resource in two tasks", func(t *testing.T) {
		s := converged(t)
		at := s.st.Clock.Now()
		b := migration.BatchState{ID: "b", RunID: RunID, Keys: []string{"k1"}}
		log := []kmstwin.TaskRecord{
			{ID: "t1", Lane: kmstwin.Lane(hz), Keys: []string{"k1", "k2"}, Created: at, Finished: at.Add(time.Minute)},
			{ID: "t2", Lane: kmstwin.Lane(hz), Keys: []string{"k2"}, Created: at.Add(30 * time.Second)},
			{ID: "t3", Lane: kmstwin.Lane(hz), Keys: []string{"k2"}, Created: at.Add(2 * time.Minute), Finished: at.Add(3 * time.Minute)},
		}
		s.checkTaskLog(map[string]migration.BatchState{"t1": b}, log)
		// t1 carries k2 besides the batch's k1; t2 (unfinished) overlaps
		// t1 and t3 on k2.
		assert.Equal(t, map[string]int{InvOneTask: 3}, invariants(s.res.Violations), "%v", s.res.Violations)
	})
	t.Run("resource neither moved nor reported", func(t *testing.T) {
		s := converged(t)
		// A migratable key that no batch carried: not moved, not reported.
		_, err := runstate.MutateJSON(ctx, s.store, statekeys.Verdicts(RunID), func(vs *verdict.Verdicts, _ bool) error {
			v := s.migratable[0]
			v.ID = "a1000001-0000-4000-8000-0000000000ff"
			vs.Resources = append(vs.Resources, v)
			return nil
		})
		require.NoError(t, err)
		s.check(ctx)
		assert.Equal(t, map[string]int{InvMoved: 1}, invariants(s.res.Violations), "%v", s.res.Violations)
	})
}

// The crash store fails the N-th write before or after applying it, and
// every write after; the conflict store refuses writes without applying
// them.
func TestStoreWrappers(t *testing.T) {
	ctx := context.Background()
	for _, after := range []bool{false, true} {
		dir, err := runstate.OpenDir(t.TempDir())
		require.NoError(t, err)
		c := &CrashStore{Store: dir, N: 2, After: after}
		_, err = c.Create(ctx, "a", []byte("1"))
		require.NoError(t, err)
		_, err = c.Create(ctx, "b", []byte("2"))
		require.ErrorIs(t, err, ErrCrash)
		_, err = dir.Get(ctx, "b")
		assert.Equal(t, after, err == nil, "after=%v: the crashing write landed: %v", after, err)
		_, err = c.Create(ctx, "c", []byte("3"))
		require.ErrorIs(t, err, ErrCrash)
		_, err = c.Get(ctx, "a")
		require.NoError(t, err, "reads go on")
		assert.True(t, c.Crashed())
	}
	dir, err := runstate.OpenDir(t.TempDir())
	require.NoError(t, err)
	cs := NewConflictStore(dir, 0.5, 9)
	for i := range 40 {
		_, err := runstate.Mutate(ctx, cs, "k", func([]byte, bool) ([]byte, error) { return []byte{byte(i)}, nil })
		require.NoError(t, err, "Mutate retries injected conflicts")
	}
	assert.Positive(t, cs.Conflicts())
	_, err = cs.Update(ctx, "k", []byte("x"), "stale")
	assert.True(t, errors.Is(err, runstate.ErrConflict))
}
