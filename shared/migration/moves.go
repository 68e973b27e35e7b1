package migration

import (
	"context"
	"fmt"
)

// moves is what KMS shows of a batch's resources once its task ended (or
// its operator's observation did): one outcome per resource, and how many
// are in the batch's instance (Moved) and in no instance (Unmoved).
type moves struct {
	Outcomes []ResourceOutcome
	Moved    int
	Unmoved  int
}

// observeMoves owns the rule of completion: a resource has moved only when
// KMS (DescribeKey/DescribeSecret) shows it in the batch's instance,
// whatever a task reports. A resource that no longer exists, or a key
// not moved that is scheduled for deletion or disabled, is dropped
// (dropFor); one in another instance fails with ReasonMigratedElsewhere,
// and one in no instance with the reason code and message unmoved gives
// for it; every failure carries its classification (Classify). An
// observation that fails otherwise is returned as an error.
func (e *Engine) observeMoves(ctx context.Context, s BatchState, unmoved func(r resourceRef) (code, msg string)) (moves, error) {
	var m moves
	// Read observeConcurrency at a time: the instance is idle until the
	// ended batch is observed, unless a batch was prepared ahead.
	rs := s.resources()
	obs, errs := e.observeAll(ctx, s.Lane, rs)
	for i, r := range rs {
		o := ResourceOutcome{Kind: r.Kind, ID: r.ID, Attempt: s.attemptOf(r)}
		seen, err := obs[i], errs[i]
		if isContext(err) {
			return moves{}, err
		}
		d, drop := dropFor(r, seen, err)
		switch {
		case drop && (err != nil || seen.InstanceID == ""):
			o.Result, o.ReasonCode, o.Message = ResultDropped, d.code, d.msg
		case err != nil:
			return moves{}, fmt.Errorf("migration: observe %s of %s: %w", r, s.ID, err)
		case seen.InstanceID == s.InstanceID:
			o.Result, o.InstanceID = ResultMigrated, seen.InstanceID
			m.Moved++
		case seen.InstanceID != "":
			o.Result, o.InstanceID, o.ReasonCode = ResultFailed, seen.InstanceID, ReasonMigratedElsewhere
			o.Message = "the resource lives in instance " + seen.InstanceID
		default:
			o.Result = ResultFailed
			o.ReasonCode, o.Message = unmoved(r)
			m.Unmoved++
		}
		if o.Result == ResultFailed {
			o.Retryable = Classify(o.ReasonCode).Retryable
		}
		m.Outcomes = append(m.Outcomes, o)
	}
	return m, nil
}

// record stores observed outcomes on the batch, replacing any earlier
// outcome of the same resource (one left out of the task, say).
func (s *BatchState) record(outcomes []ResourceOutcome) {
	for _, o := range outcomes {
		if p := s.outcome(resourceRef{o.Kind, o.ID}); p != nil {
			*p = o
		} else {
			s.Resources = append(s.Resources, o)
		}
	}
}

// logOutcomes writes one ResourceResult record per observed outcome.
func (e *Engine) logOutcomes(ctx context.Context, st *BatchState, outcomes []ResourceOutcome) {
	for _, o := range outcomes {
		msg := o.Message
		if o.Result == ResultMigrated {
			msg = "observed in " + o.InstanceID
		}
		e.log(ctx, st, resourceRef{o.Kind, o.ID}, "ResourceResult", o.Result, o.ReasonCode, msg)
	}
}
