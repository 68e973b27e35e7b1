package migration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// A migration is a campaign of many nights. discover starts a run every
// night (OpenRun) and makes it current: migrate starts batches of the
// current run only. Work an earlier run left in flight is never orphaned:
// poll and rotate follow every run of the campaign that is still open,
// a lane's batches wait for any batch of an earlier run in that lane that
// has not finished, the planner leaves out what an earlier run holds in
// flight (Held), an earlier run's batches that never reached their task
// are retired (Retire: failed, Superseded, so their rotation comes back),
// and the rotation ledger is the campaign's (ledger.go). A run closes once
// it is not current and none of its batches holds anything.

// CurrentRun is the document at statekeys.Current.
type CurrentRun struct {
	RunID string    `json:"runId"`
	Since time.Time `json:"since"`
}

// Campaign is the document at statekeys.Campaign: every run discover has
// started, oldest first.
type Campaign struct {
	Runs []CampaignRun `json:"runs"`
}

// CampaignRun is one run of the campaign.
type CampaignRun struct {
	RunID string    `json:"runId"`
	Since time.Time `json:"since"`
	// Closed is set once the run is not current and every batch it
	// started has finished: nothing of it is in flight or holds rotation.
	Closed   bool      `json:"closed,omitempty"`
	ClosedAt time.Time `json:"closedAt,omitzero"`
}

// ErrNoRun: no run has been started (discover has not planned one).
var ErrNoRun = errors.New("migration: no current run: discover has not planned one yet")

// ReasonSuperseded: a batch of an earlier run had not reached its task
// when a later run became current; the later run plans its resources.
const ReasonSuperseded = "SupersededByLaterRun"

// OpenRun adds runID to the campaign (once) and makes it the current run;
// then it retires what earlier runs started but never submitted. since is
// when the run started.
func (e *Engine) OpenRun(ctx context.Context, runID string, since time.Time) error {
	_, err := runstate.MutateJSON(ctx, e.Store, statekeys.Campaign, func(c *Campaign, exists bool) error {
		if !slices.ContainsFunc(c.Runs, func(r CampaignRun) bool { return r.RunID == runID }) {
			c.Runs = append(c.Runs, CampaignRun{RunID: runID, Since: since.UTC()})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migration: add %s to the campaign: %w", runID, err)
	}
	_, err = runstate.MutateJSON(ctx, e.Store, statekeys.Current, func(c *CurrentRun, exists bool) error {
		if exists && c.RunID == runID {
			return nil
		}
		*c = CurrentRun{RunID: runID, Since: since.UTC()}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migration: set current run %s: %w", runID, err)
	}
	_, err = e.RetireEarlier(ctx)
	return err
}

// Current returns the current run. None: ErrNoRun.
func (e *Engine) Current(ctx context.Context) (string, error) {
	c, _, err := runstate.GetJSON[CurrentRun](ctx, e.Store, statekeys.Current)
	if errors.Is(err, runstate.ErrNotFound) {
		return "", ErrNoRun
	}
	if err != nil {
		return "", fmt.Errorf("migration: read current run: %w", err)
	}
	return c.RunID, nil
}

// ActiveRuns returns the runs of the campaign that are not closed, oldest
// first; the current run is always among them (last, unless an earlier
// run was made current again). State written before the campaign index
// existed has only a current run. None: ErrNoRun.
func (e *Engine) ActiveRuns(ctx context.Context) ([]string, error) {
	cur, err := e.Current(ctx)
	if err != nil {
		return nil, err
	}
	c, _, err := runstate.GetJSON[Campaign](ctx, e.Store, statekeys.Campaign)
	if err != nil && !errors.Is(err, runstate.ErrNotFound) {
		return nil, fmt.Errorf("migration: read campaign: %w", err)
	}
	var out []string
	for _, r := range c.Runs {
		if !r.Closed || r.RunID == cur {
			out = append(out, r.RunID)
		}
	}
	if !slices.Contains(out, cur) {
		out = append(out, cur)
	}
	return out, nil
}

// earlier returns the active runs other than runID.
func (e *Engine) others(ctx context.Context, runID string) ([]string, error) {
	runs, err := e.ActiveRuns(ctx)
	if errors.Is(err, ErrNoRun) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(runs, func(r string) bool { return r == runID }), nil
}

// Held lists the resources that batches of active runs other than runID
// hold in flight (submitting or beyond, until their task ends): the
// planner of runID leaves them out.
func (e *Engine) Held(ctx context.Context, runID string) ([]plan.Held, error) {
	others, err := e.others(ctx, runID)
	if err != nil {
		return nil, err
	}
	var out []plan.Held
	for _, r := range others {
		states, err := e.runStates(ctx, r)
		if err != nil {
			return nil, err
		}
		for _, s := range states {
			if !s.Phase.InFlight() {
				continue
			}
			for _, ref := range s.resources() {
				out = append(out, plan.Held{Lane: s.Lane, Resource: ref.Kind, ID: ref.ID, InstanceID: s.InstanceID, RunID: r, BatchID: s.ID})
			}
		}
	}
	return out, nil
}

// runStates reads every batch state of a run (laneStates with the zero
// lane lists every lane).
func (e *Engine) runStates(ctx context.Context, runID string) ([]BatchState, error) {
	return e.laneStates(ctx, runID, estate.Lane{})
}

// RetireEarlier fails, with ReasonSuperseded, every batch of an active run
// other than the current one that started but has not reached its task
// (planned or rotation-off): the current run plans its resources, and
// Restore gives back the rotation it holds. A batch that reaches its task
// meanwhile is left to finish (compare-and-swap on its phase).
func (e *Engine) RetireEarlier(ctx context.Context) ([]StepResult, error) {
	cur, err := e.Current(ctx)
	if errors.Is(err, ErrNoRun) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	others, err := e.others(ctx, cur)
	if err != nil {
		return nil, err
	}
	var out []StepResult
	var errs []error
	for _, r := range others {
		states, err := e.runStates(ctx, r)
		if err != nil {
			return out, err
		}
		for _, s := range states {
			if s.Phase != PhasePlanned && s.Phase != PhaseRotationOff {
				continue
			}
			res, err := e.retire(ctx, s, cur)
			out = append(out, res)
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return out, errors.Join(errs...)
}

// retire ends batch s of an earlier run as failed, ReasonSuperseded,
// without failing its resources: they are not failures, the current run
// plans them.
func (e *Engine) retire(ctx context.Context, s BatchState, cur string) (StepResult, error) {
	res := StepResult{BatchID: s.ID, Step: "retire", Reason: ReasonSuperseded}
	msg := fmt.Sprintf("run %s became current before this batch reached its task; it plans these resources", cur)
	st, won, err := e.transition(ctx, s.RunID, s.ID, []Phase{PhasePlanned, PhaseRotationOff}, PhaseFailed, ReasonSuperseded, func(st *BatchState) {
		st.Reason, st.Message, st.RetriesPlanned = ReasonSuperseded, msg, true
	})
	res.Phase, res.Outcome = st.Phase, OutcomeUpdated
	if !won {
		res.Outcome = OutcomeUnchanged
	}
	return res, err
}

// CloseRuns closes every active run that is not current and whose started
// batches have all finished; it returns the runs it closed.
func (e *Engine) CloseRuns(ctx context.Context) ([]string, error) {
	cur, err := e.Current(ctx)
	if errors.Is(err, ErrNoRun) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	others, err := e.others(ctx, cur)
	if err != nil {
		return nil, err
	}
	var done []string
	for _, r := range others {
		states, err := e.runStates(ctx, r)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(states, func(s BatchState) bool { return !s.Finished() }) {
			done = append(done, r)
		}
	}
	if len(done) == 0 {
		return nil, nil
	}
	now := e.now()
	_, err = runstate.MutateJSON(ctx, e.Store, statekeys.Campaign, func(c *Campaign, exists bool) error {
		for i := range c.Runs {
			if slices.Contains(done, c.Runs[i].RunID) && !c.Runs[i].Closed {
				c.Runs[i].Closed, c.Runs[i].ClosedAt = true, now
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("migration: close runs: %w", err)
	}
	for _, r := range done {
		e.log(ctx, &BatchState{RunID: r}, resourceRef{}, "CloseRun", "updated", "", "nothing of the run is in flight or holds rotation")
	}
	return done, nil
}

// settleElsewhere restores the batches of other active runs in lane l
// whose task has ended (or that were retired) and that have not finished,
// so that the lane is free for runID without waiting for rotate.
func (e *Engine) settleElsewhere(ctx context.Context, runID string, l estate.Lane) error {
	others, err := e.others(ctx, runID)
	if err != nil {
		return err
	}
	for _, r := range others {
		states, err := e.laneStates(ctx, r, l)
		if err != nil {
			return err
		}
		for _, s := range states {
			if s.Phase.Ended() && !s.Finished() {
				if _, err := e.Restore(ctx, r, s.ID); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// laneHeldElsewhere reports whether a batch of another active run holds
// lane l: started, not finished, past planned (rotation off, in flight, or
// ended and not yet restored and verified). One active task per lane holds
// across the campaign. why names the batch.
func (e *Engine) laneHeldElsewhere(ctx context.Context, runID string, s *BatchState) (bool, string, error) {
	others, err := e.others(ctx, runID)
	if err != nil {
		return false, "", err
	}
	for _, r := range others {
		states, err := e.laneStates(ctx, r, s.Lane)
		if err != nil {
			return false, "", err
		}
		for _, o := range states {
			if o.Phase != PhasePlanned && !o.Finished() {
				return true, fmt.Sprintf("waits for %s of run %s (%s)", o.ID, r, o.Phase), nil
			}
		}
	}
	return false, "", nil
}
