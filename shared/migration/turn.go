package migration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// An instance's turn. The provider runs one task per instance at a time,
// and lanes of several accounts (a resource directory's members) or of
// one account share an instance. Rotation goes off for one batch ahead of
// an instance's task, whatever lane it comes from: a batch is prepared
// (Disable switches its rotation off) only when it holds its instance's
// turn, a document of the run (statekeys.InstanceTurn) taken by
// compare-and-swap. Without it every lane of a shared instance switched
// its next batch's rotation off at once and waited for the instance: on a
// generated directory of 99 lanes sharing one instance, 99 batches held
// rotation off while one task ran.
//
// The turn needs no release: its holder keeps it while it is prepared
// and waits for the instance (rotation-off, or submitting without a task),
// and gives it up by getting its task, finishing or failing. A holder
// still planned (its Disable stopped before switching rotation off: a
// window, a deferral, a crash) keeps it for turnLease, then anyone may take
// it. When a lane's task runs and the lane has no next batch to prepare
// ahead, the turn goes to another lane of the instance (prepareForInstance)
// and the poll that sees the task end submits it (submitWaiting), so the
// instance passes from lane to lane without idling.
//
// The turn applies to manual tasks of the task backend (pipelining);
// automatic tasks are created at once for their migration time, and the
// observe backend creates none.

// instanceTurn is the stored turn of one instance.
type instanceTurn struct {
	BatchID string    `json:"batchId"`
	At      time.Time `json:"at"`
}

// turnLease is how long a holder still planned keeps the turn.
const turnLease = 10 * time.Minute

// turnsApply reports whether batches take their instance's turn.
func (e *Engine) turnsApply() bool { return e.pipelining() && !e.cfg().Automatic }

// takeTurn takes (or renews) the turn of s's instance for s; when another
// batch holds it, ok is false, why names that batch, and s records that it
// waits (TurnWait), so that poll retries it.
func (e *Engine) takeTurn(ctx context.Context, s *BatchState) (ok bool, why string, err error) {
	if !e.turnsApply() {
		return true, "", nil
	}
	ok, why, err = e.tryTurn(ctx, s)
	if err != nil || ok != s.TurnWait {
		return ok, why, err
	}
	_, _, err = e.mutateBatch(ctx, s.RunID, s.ID, func(st *BatchState) (bool, error) {
		if st.Phase != PhasePlanned || st.TurnWait == !ok {
			return false, nil
		}
		st.TurnWait = !ok
		return true, nil
	})
	return ok && err == nil, why, err
}

// tryTurn is takeTurn's compare-and-swap.
func (e *Engine) tryTurn(ctx context.Context, s *BatchState) (ok bool, why string, err error) {
	key := statekeys.InstanceTurn(s.RunID, s.InstanceID)
	data, err := json.Marshal(instanceTurn{BatchID: s.ID, At: e.now()})
	if err != nil {
		return false, "", err
	}
	for range runstate.MaxMutateAttempts {
		cur, ver, err := runstate.GetJSON[instanceTurn](ctx, e.Store, key)
		exists := err == nil
		if err != nil && !errors.Is(err, runstate.ErrNotFound) {
			return false, "", err
		}
		if exists && cur.BatchID != s.ID {
			held, err := e.turnHeld(ctx, s.RunID, cur)
			if err != nil || held {
				return false, fmt.Sprintf(turnWaitPrefix+"%s: batch %s is prepared for it (rotation goes off for one batch ahead of an instance's task)", s.InstanceID, cur.BatchID), err
			}
		}
		if exists {
			_, err = e.Store.Update(ctx, key, data, ver)
		} else {
			_, err = e.Store.Create(ctx, key, data)
		}
		if errors.Is(err, runstate.ErrConflict) || errors.Is(err, runstate.ErrNotFound) {
			continue // another batch took or renewed it: look again
		}
		return err == nil, "", err
	}
	return false, fmt.Sprintf(turnWaitPrefix+"%s: its turn is contended", s.InstanceID), nil
}

// turnHeld reports whether t's holder still holds its instance's turn: it
// is prepared and has no task yet, or is still planned within turnLease.
func (e *Engine) turnHeld(ctx context.Context, runID string, t instanceTurn) (bool, error) {
	st, err := e.readBatch(ctx, runID, t.BatchID)
	if errors.Is(err, ErrNoState) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return waitsForInstance(&st) || st.Phase == PhasePlanned && e.now().Sub(t.At) < turnLease, nil
}

// waitsForInstance reports whether batch s has its rotation off and no
// task yet: it is prepared and waits for its instance.
func waitsForInstance(s *BatchState) bool {
	return s.Phase == PhaseRotationOff || s.Phase == PhaseSubmitting && s.TaskID == ""
}

// turnCandidates is how many other lanes prepareForInstance looks at in
// one call: a shared instance may serve a hundred lanes.
const turnCandidates = 8

// prepareForInstance gives the turn of prev's instance, whose task runs
// and whose lane has no batch prepared ahead, to the next batch of another
// lane of the instance: the lanes after prev's in the plan's order come
// first (each lane has its turn), at most turnCandidates of them. It stops
// once a batch is prepared or waits for the instance. An error other than
// the context's is left to the lanes' next migrate.
func (e *Engine) prepareForInstance(ctx context.Context, prev BatchState) error {
	if !e.turnsApply() {
		return nil
	}
	p, err := e.readPlan(ctx, prev.RunID)
	if err != nil {
		return nil
	}
	var lanes []estate.Lane
	at := -1
	for _, lp := range p.Lanes {
		if lp.Lane == prev.Lane {
			at = len(lanes)
			continue
		}
		if slices.ContainsFunc(lp.Batches, func(b plan.Batch) bool { return b.InstanceID == prev.InstanceID }) {
			lanes = append(lanes, lp.Lane)
		}
	}
	if at > 0 {
		lanes = append(lanes[at:], lanes[:at]...)
	}
	for _, l := range lanes[:min(len(lanes), turnCandidates)] {
		nb, err := e.Next(ctx, prev.RunID, l)
		if isContext(err) {
			return err
		}
		if err != nil || nb.Done || nb.Batch.InstanceID != prev.InstanceID {
			continue
		}
		if nb.State != nil && nb.State.Phase != PhasePlanned {
			if waitsForInstance(nb.State) {
				return nil // prepared already
			}
			continue
		}
		res, err := e.Disable(ctx, prev.RunID, nb.Batch.ID)
		if isContext(err) {
			return err
		}
		if err == nil && (res.Phase == PhaseRotationOff || res.Outcome == OutcomeWaiting && isTurnWait(res.Reason)) {
			return nil
		}
	}
	return nil
}

// turnWaitPrefix begins the reason of a step refused its instance's turn.
const turnWaitPrefix = "waits for instance "

// isTurnWait reports whether a step's reason is takeTurn's.
func isTurnWait(reason string) bool { return strings.HasPrefix(reason, turnWaitPrefix) }
