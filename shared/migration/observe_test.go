package migration_test

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/testinfra/stack"
)

const (
	hzB1 = "1111000011110001/cn-hangzhou/b0001"
	hzB2 = "1111000011110001/cn-hangzhou/b0002"
)

// The demo's rotating resources of hzB1, which go through the ledger.
var hzRotating = []string{"key:a1000001-0000-4000-8000-000000000002", "secret:rds/orders"}

// observer returns an engine of the observe backend (a new function
// instance) without the task API: any call to it would panic, proving the
// backend never uses it.
func (e *env) observer(cfg migration.Config) *migration.Engine {
	cfg.Backend = migration.BackendObserve
	eng := e.engine(e.store, cfg)
	eng.Tasks = nil
	return eng
}

// handoff reads the published JSON document of a batch.
func (e *env) handoff(t *testing.T, batchID string) migration.HandoffDocument {
	t.Helper()
	jk, _ := statekeys.Handoff(runID, batchID)
	doc, _, err := runstate.GetJSON[migration.HandoffDocument](t.Context(), e.store, jk)
	require.NoError(t, err, jk)
	return doc
}

// operate plays the operator: it reads the batch's published list and
// creates the migration task from it, as the console would, through the KMS
// adapter; keep (if not nil) selects the resources the operator starts.
// The twin then moves them.
func (e *env) operate(t *testing.T, batchID string, keep func(kind, id string) bool) {
	t.Helper()
	doc := e.handoff(t, batchID)
	req := migration.TaskRequest{InstanceID: doc.InstanceID}
	for _, id := range doc.KeyIDs {
		if keep == nil || keep("key", id) {
			req.KeyIDs = append(req.KeyIDs, id)
		}
	}
	for _, n := range doc.SecretNames {
		if keep == nil || keep("secret", n) {
			req.SecretNames = append(req.SecretNames, n)
		}
	}
	_, err := e.tasks.CreateTask(t.Context(), estate.Lane{Account: doc.Account, Region: doc.Region}, req)
	require.NoError(t, err)
}

// dropFromPlan removes secrets from every batch of the stored plan (the
// demo's clashing names, which no console task can move).
func (e *env) dropFromPlan(t *testing.T, names ...string) {
	t.Helper()
	_, err := runstate.MutateJSON(t.Context(), e.store, statekeys.Plan(runID), func(p *plan.Plan, _ bool) error {
		for i := range p.Lanes {
			for j := range p.Lanes[i].Batches {
				b := &p.Lanes[i].Batches[j]
				b.Secrets = slices.DeleteFunc(b.Secrets, func(n string) bool { return slices.Contains(names, n) })
			}
		}
		return nil
	})
	require.NoError(t, err)
}

// rotationOff reports whether KMS shows the rotation of a resource off.
func (e *env) rotationOff(t *testing.T, l estate.Lane, ref string) bool {
	t.Helper()
	kind, id, _ := strings.Cut(ref, ":")
	if kind == "key" {
		k, err := e.kms.Key(t.Context(), l, id)
		require.NoError(t, err)
		return !k.Rotation.Enabled
	}
	s, err := e.kms.Secret(t.Context(), l, estate.Secret{Name: id})
	require.NoError(t, err)
	return !s.Rotation.Enabled
}

func TestAwaitingOperatorIsInFlight(t *testing.T) {
	p := migration.PhaseAwaitingOperator
	assert.Equal(t, plan.StatusSubmitted, p.PlanStatus(), "re-planning must keep the batch")
	assert.True(t, p.PlanStatus().Frozen())
	assert.True(t, p.InFlight())
	assert.False(t, p.Ended(), "rotation must stay off while the operator may be moving it")
	assert.False(t, migration.Classify(migration.ReasonNotMovedByOperator).Retryable, "reported, not retried")
}

// The operator starts the published batch in the console; poll sees every
// resource in the instance and completes the batch without waiting for the
// timeout; rotation is restored and verified, and the lane goes on.
func TestObserveOperatorMovesBatch(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	e.dropFromPlan(t, "app/existing-name", "shared/dup-name")
	ctx := t.Context()
	eng := e.observer(migration.Config{})

	res, err := eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	assert.Equal(t, migration.PhaseAwaitingOperator, res.Phase)
	assert.Equal(t, migration.OutcomeUpdated, res.Outcome)
	require.NotNil(t, res.Handoff, "the first publication tells the caller to alert")
	assert.Equal(t, 4, res.Handoff.Keys)
	assert.Equal(t, 3, res.Handoff.Secrets)

	s := e.batch(t, hzB1)
	assert.Equal(t, migration.PhaseAwaitingOperator, s.Phase)
	assert.Equal(t, plan.StatusSubmitted, s.PlanStatus)
	require.NotNil(t, s.Handoff)
	assert.True(t, s.Handoff.Published)
	assert.Equal(t, s.Handoff.Since.Add(migration.DefaultObserveTimeout), s.Handoff.Deadline)
	assert.Empty(t, s.TaskID)

	doc := e.handoff(t, hzB1)
	assert.Equal(t, "kst-hzdemo01", doc.InstanceID)
	assert.Equal(t, s.Keys, doc.KeyIDs)
	assert.Equal(t, s.Secrets, doc.SecretNames)
	assert.ElementsMatch(t, hzRotating, doc.RotationOff)
	_, mk := statekeys.Handoff(runID, hzB1)
	md, err := e.store.Get(ctx, mk)
	require.NoError(t, err)
	for _, id := range append(slices.Clone(doc.KeyIDs), doc.SecretNames...) {
		assert.Contains(t, string(md.Data), "- `"+id+"`\n")
	}
	for _, r := range hzRotating {
		assert.True(t, e.rotationOff(t, laneHZ, r), "%s: rotation must be off before the operator starts", r)
	}
	recs := e.audit.find("HandOff", "published")
	require.Len(t, recs, 1)
	assert.Equal(t, audit.LevelInfo, recs[0].Level)
	assert.Contains(t, recs[0].Message, "batch ready to start in the console")
	assert.Equal(t, hzB1, recs[0].BatchID)

	// Before the operator: nothing moves, nothing is published again, the
	// lane is held, the sweep leaves the ledger alone.
	tasks, err := e.tasks.ListTasks(ctx, laneHZ)
	require.NoError(t, err)
	assert.Empty(t, tasks, "the observe backend never creates a task")
	for range 2 {
		res, err = eng.MigrateLane(ctx, runID, laneHZ)
		require.NoError(t, err)
		assert.Equal(t, migration.OutcomeWaiting, res.Outcome)
		res, err = eng.Poll(ctx, runID, hzB1)
		require.NoError(t, err)
		assert.Equal(t, migration.OutcomeWaiting, res.Outcome)
		assert.Nil(t, res.Handoff)
	}
	res, err = eng.Disable(ctx, runID, hzB2)
	require.NoError(t, err)
	assert.Equal(t, migration.OutcomeWaiting, res.Outcome, "one active batch per lane")
	sw, err := eng.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, sw.Held)
	assert.Len(t, e.audit.find("HandOff", ""), 1)

	e.operate(t, hzB1, nil)
	res, err = eng.Poll(ctx, runID, hzB1)
	require.NoError(t, err)
	assert.Equal(t, migration.PhaseCompleted, res.Phase)
	assert.Equal(t, migration.OutcomeUpdated, res.Outcome)
	s = e.batch(t, hzB1)
	assert.Equal(t, 7, s.Handoff.Moved)
	assert.False(t, s.Handoff.TimedOut)
	require.Len(t, s.Resources, 7)
	for _, o := range s.Resources {
		assert.Equal(t, migration.ResultMigrated, o.Result, o.ID)
		assert.Equal(t, "kst-hzdemo01", o.InstanceID, o.ID)
	}

	res, err = eng.Restore(ctx, runID, hzB1)
	require.NoError(t, err)
	assert.Equal(t, migration.PhaseVerified, res.Phase)
	assert.Empty(t, e.batch(t, hzB1).Problems)
	e.checkNoRotationLeftOff(t)

	// The lane's next batch (a secret under a CMK of b0001) goes the same way.
	res, err = eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseAwaitingOperator, res.Phase)
	e.operate(t, hzB2, nil)
	res, err = eng.PollLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	assert.Equal(t, migration.PhaseCompleted, res.Phase)
	_, err = eng.Restore(ctx, runID, hzB2)
	require.NoError(t, err)
	p, err := eng.Status(ctx, runID)
	require.NoError(t, err)
	assert.True(t, p.Done(), "%v", p.Active)
	e.checkMigrated(t)
	e.checkNoRotationLeftOff(t)
	tasks, err = e.tasks.ListTasks(ctx, laneHZ)
	require.NoError(t, err)
	assert.Len(t, tasks, 2, "only the operator's tasks")
}

// A batch the operator never starts is reported when the observation times
// out, and its rotation is given back.
func TestObserveTimeoutReportsUnmoved(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	eng := e.observer(migration.Config{ObserveTimeout: time.Hour})

	res, err := eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseAwaitingOperator, res.Phase)
	s := e.batch(t, hzB1)
	assert.Equal(t, s.Handoff.Since.Add(time.Hour), s.Handoff.Deadline)

	e.clock.Advance(59 * time.Minute)
	res, err = eng.PollLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	assert.Equal(t, migration.OutcomeWaiting, res.Outcome)
	assert.Equal(t, migration.PhaseAwaitingOperator, res.Phase)

	e.clock.Advance(2 * time.Minute)
	res, err = eng.PollLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	assert.Equal(t, migration.PhaseCompleted, res.Phase)
	s = e.batch(t, hzB1)
	assert.True(t, s.Handoff.TimedOut)
	assert.True(t, s.RetriesPlanned)
	require.Len(t, s.Resources, len(s.Keys)+len(s.Secrets))
	for _, o := range s.Resources {
		assert.Equal(t, migration.ResultFailed, o.Result, o.ID)
		assert.Equal(t, migration.ReasonNotMovedByOperator, o.ReasonCode, o.ID)
		assert.False(t, o.Retryable, o.ID)
		assert.Empty(t, o.RetryBatch, o.ID)
	}
	assert.Len(t, e.planOf(t).Lanes[0].Batches, 2, "no retry batch")

	res, err = eng.Restore(ctx, runID, hzB1)
	require.NoError(t, err)
	assert.Equal(t, migration.PhaseVerified, res.Phase)
	assert.Empty(t, e.batch(t, hzB1).Problems)
	e.checkNoRotationLeftOff(t)
	for _, r := range hzRotating {
		assert.False(t, e.rotationOff(t, laneHZ, r), r)
	}

	rep, err := eng.BuildReport(ctx, runID)
	require.NoError(t, err)
	require.Len(t, rep.Failures, len(s.Resources))
	for _, f := range rep.Failures {
		assert.Equal(t, migration.ReasonNotMovedByOperator, f.ReasonCode)
		assert.NotEmpty(t, f.Remediation)
	}
	assert.Len(t, e.audit.find("ResourceResult", migration.ResultFailed), len(s.Resources))
}

// The operator starts only the keys: poll records the partial move, and at
// the timeout the secrets are reported while the keys count as migrated.
func TestObservePartialMoveReportsTheRest(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	eng := e.observer(migration.Config{ObserveTimeout: 2 * time.Hour})

	_, err := eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	e.operate(t, hzB1, func(kind, _ string) bool { return kind == "key" })

	res, err := eng.Poll(ctx, runID, hzB1)
	require.NoError(t, err)
	assert.Equal(t, migration.OutcomeUpdated, res.Outcome, "progress recorded")
	assert.Equal(t, migration.PhaseAwaitingOperator, res.Phase)
	assert.Contains(t, res.Reason, "4 of 8")
	s := e.batch(t, hzB1)
	assert.Equal(t, 4, s.Handoff.Moved)
	assert.False(t, s.Handoff.FirstMoveAt.IsZero())
	res, err = eng.Poll(ctx, runID, hzB1)
	require.NoError(t, err)
	assert.Equal(t, migration.OutcomeWaiting, res.Outcome)
	assert.Len(t, e.audit.find("ObserveMoves", ""), 1, "progress logged once per change")

	e.clock.Advance(3 * time.Hour)
	res, err = eng.Poll(ctx, runID, hzB1)
	require.NoError(t, err)
	assert.Equal(t, migration.PhaseCompleted, res.Phase)
	s = e.batch(t, hzB1)
	var migrated, reported []string
	for _, o := range s.Resources {
		switch o.Result {
		case migration.ResultMigrated:
			migrated = append(migrated, o.ID)
		default:
			assert.Equal(t, migration.ReasonNotMovedByOperator, o.ReasonCode, o.ID)
			reported = append(reported, o.ID)
		}
	}
	assert.ElementsMatch(t, s.Keys, migrated)
	assert.ElementsMatch(t, s.Secrets, reported)

	_, err = eng.Restore(ctx, runID, hzB1)
	require.NoError(t, err)
	s = e.batch(t, hzB1)
	assert.Equal(t, migration.PhaseVerified, s.Phase)
	assert.Empty(t, s.Problems)
	e.checkNoRotationLeftOff(t)
	rep, err := eng.BuildReport(ctx, runID)
	require.NoError(t, err)
	assert.Equal(t, 4, rep.Lanes[0].Migrated)
	assert.Equal(t, 4, rep.Lanes[0].Failed)
}

// Every observe step run concurrently by several function instances, and
// again, converges: one publication, one completion, one verification.
func TestObserveStepsConcurrentlyAndTwice(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	e.dropFromPlan(t, "app/existing-name", "shared/dup-name")
	ctx := t.Context()
	const n = 4
	run := func(step func(eng *migration.Engine) (migration.StepResult, error)) []migration.StepResult {
		out := make([]migration.StepResult, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { out[i], errs[i] = step(e.observer(migration.Config{})) })
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		return out
	}
	notices := func(rs []migration.StepResult) int {
		c := 0
		for _, r := range rs {
			if r.Handoff != nil {
				c++
			}
		}
		return c
	}

	rs := run(func(eng *migration.Engine) (migration.StepResult, error) { return eng.MigrateLane(ctx, runID, laneHZ) })
	assert.Equal(t, 1, notices(rs), "%+v", rs)
	assert.Len(t, e.audit.find("HandOff", ""), 1)
	assert.Equal(t, migration.PhaseAwaitingOperator, e.batch(t, hzB1).Phase)

	rs = run(func(eng *migration.Engine) (migration.StepResult, error) { return eng.Poll(ctx, runID, hzB1) })
	assert.Equal(t, map[string]int{migration.OutcomeWaiting: n}, outcomes(rs))

	e.operate(t, hzB1, nil)
	rs = run(func(eng *migration.Engine) (migration.StepResult, error) { return eng.Poll(ctx, runID, hzB1) })
	assert.Equal(t, 1, outcomes(rs)[migration.OutcomeUpdated], "%+v", rs)
	s := e.batch(t, hzB1)
	require.Equal(t, migration.PhaseCompleted, s.Phase)
	assert.Len(t, e.audit.find("ResourceResult", ""), len(s.Resources), "each result recorded once")
	for range 2 {
		res, err := e.observer(migration.Config{}).Poll(ctx, runID, hzB1)
		require.NoError(t, err)
		assert.Equal(t, migration.OutcomeUnchanged, res.Outcome)
	}

	rs = run(func(eng *migration.Engine) (migration.StepResult, error) { return eng.Restore(ctx, runID, hzB1) })
	assert.Equal(t, map[string]int{migration.OutcomeUpdated: 1, migration.OutcomeUnchanged: n - 1}, outcomes(rs))
	assert.Equal(t, migration.PhaseVerified, e.batch(t, hzB1).Phase)
	e.checkNoRotationLeftOff(t)
}

// A crash between the hand-off and the publication: poll publishes.
func TestObservePublishesAfterCrash(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	eng := e.observer(migration.Config{})
	_, err := eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)

	// Undo the publication: the state as a crash right after the
	// transition leaves it.
	_, err = runstate.MutateJSON(ctx, e.store, statekeys.Batch(runID, hzB1), func(s *migration.BatchState, _ bool) error {
		s.Handoff.Published = false
		return nil
	})
	require.NoError(t, err)
	jk, mk := statekeys.Handoff(runID, hzB1)
	for _, k := range []string{jk, mk} {
		obj, err := e.store.Get(ctx, k)
		require.NoError(t, err)
		require.NoError(t, e.store.Delete(ctx, k, obj.Version))
	}

	// Several polls at once: one of them publishes.
	const n = 4
	rs := make([]migration.StepResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { rs[i], errs[i] = e.observer(migration.Config{}).PollLane(ctx, runID, laneHZ) })
	}
	wg.Wait()
	var published []migration.StepResult
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, migration.PhaseAwaitingOperator, rs[i].Phase)
		if rs[i].Handoff != nil {
			published = append(published, rs[i])
		}
	}
	require.Len(t, published, 1, "poll publishes what the crash left unpublished, once: %+v", rs)
	assert.Equal(t, "poll", published[0].Step)
	assert.True(t, e.batch(t, hzB1).Handoff.Published)
	assert.Equal(t, hzB1, e.handoff(t, hzB1).BatchID)
	res, err := eng.PollLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	assert.Nil(t, res.Handoff)
	assert.Len(t, e.audit.find("HandOff", ""), 2, "one record per publication")

	// An operator's abort ends the wait and gives rotation back.
	res, err = eng.Abort(ctx, runID, hzB1, "moving this lane by hand")
	require.NoError(t, err)
	assert.Equal(t, migration.PhaseFailed, res.Phase)
	_, err = eng.Restore(ctx, runID, hzB1)
	require.NoError(t, err)
	e.checkNoRotationLeftOff(t)
}

// The whole demo estate on the observe backend: the operator starts every
// batch as it is published; the names that clash in the shared instance
// never move and are reported when their batch times out.
func TestObserveFullRunWithOperator(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}})
	ctx := t.Context()
	eng := e.observer(migration.Config{})
	started := map[string]bool{}
	var p migration.Progress
	for range 30 {
		var err error
		p, err = eng.Step(ctx, runID)
		require.NoError(t, err)
		if p.Done() {
			break
		}
		waiting := false
		for _, l := range e.lanes {
			n, err := eng.Next(ctx, runID, l)
			require.NoError(t, err)
			if n.State == nil || n.State.Phase != migration.PhaseAwaitingOperator {
				continue
			}
			if !started[n.Batch.ID] {
				e.operate(t, n.Batch.ID, nil)
				started[n.Batch.ID] = true
			} else {
				waiting = true
			}
		}
		if waiting {
			e.clock.Advance(migration.DefaultObserveTimeout + time.Minute)
		}
	}
	require.True(t, p.Done(), "%v", p.Active)
	assert.Len(t, started, 4)

	migrated, failed := e.checkMigrated(t)
	planned, clashing := e.planned()
	assert.Equal(t, planned-clashing, migrated)
	assert.Equal(t, clashing, failed)
	for _, lp := range e.planOf(t).Lanes {
		for _, b := range lp.Batches {
			for _, o := range e.batch(t, b.ID).Resources {
				if _, ok := permanent[o.ID]; ok {
					assert.Equal(t, migration.ReasonNotMovedByOperator, o.ReasonCode, o.ID)
				}
			}
		}
	}
	e.checkNoRotationLeftOff(t)
	assert.Zero(t, e.audit.actions()["CreateTask"], "the engine never calls the task API")
}

// An operator who knows the console refused a batch ends its observation
// at once: the batch completes with the resources reported, and rotation
// comes back without waiting for the timeout. Ending twice, or ending a
// batch that is not awaiting its operator, changes nothing.
func TestEndObservationRestoresAtOnce(t *testing.T) {
	e := newEnv(t, envOptions{stack: stack.Options{Unthrottled: true}, lanes: []estate.Lane{laneHZ}})
	ctx := t.Context()
	eng := e.observer(migration.Config{ObserveTimeout: 24 * time.Hour})

	_, err := eng.MigrateLane(ctx, runID, laneHZ)
	require.NoError(t, err)
	for _, r := range hzRotating {
		require.True(t, e.rotationOff(t, laneHZ, r), r)
	}
	e.clock.Advance(5 * time.Minute)
	res, err := eng.EndObservation(ctx, runID, hzB1)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseCompleted, res.Phase)
	s := e.batch(t, hzB1)
	require.True(t, s.Handoff.TimedOut)
	for _, o := range s.Resources {
		require.Equal(t, migration.ReasonNotMovedByOperator, o.ReasonCode, o.ID)
	}
	again, err := eng.EndObservation(ctx, runID, hzB1)
	require.NoError(t, err)
	require.Equal(t, migration.OutcomeUnchanged, again.Outcome)

	res, err = eng.Restore(ctx, runID, hzB1)
	require.NoError(t, err)
	require.Equal(t, migration.PhaseVerified, res.Phase)
	e.checkNoRotationLeftOff(t)
	assert.Len(t, e.audit.find("EndObservation", "updated"), 1)
}
