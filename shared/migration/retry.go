package migration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// planRetries appends the batch's retryable failures to its lane's plan
// (CAS on plan.json, plan.AppendRetries): keys in one new batch, secrets
// in the next, numbered after the lane's highest seq. Failures at
// Config.MaxAttempts become AttemptsExhausted. It is idempotent: resources
// already in a later batch of the lane are not planned again, and
// RetriesPlanned records that it is done.
func (e *Engine) planRetries(ctx context.Context, s BatchState) error {
	if s.RetriesPlanned || !s.Phase.Ended() {
		return nil
	}
	maxAttempts := e.cfg().MaxAttempts
	retry := plan.Retry{From: plan.Batch{ID: s.ID, Lane: s.Lane, Seq: s.Seq, InstanceID: s.InstanceID}}
	for _, o := range s.Resources {
		if o.Result != ResultFailed || !o.Retryable || o.Attempt >= maxAttempts {
			continue
		}
		if o.Kind == KindKey {
			retry.Keys = append(retry.Keys, o.ID)
		} else {
			retry.Secrets = append(retry.Secrets, o.ID)
		}
	}
	var placed plan.Placement
	if len(retry.Keys)+len(retry.Secrets) > 0 {
		var written plan.Plan
		_, err := runstate.MutateJSON(ctx, e.Store, statekeys.Plan(s.RunID), func(p *plan.Plan, exists bool) error {
			if !exists {
				return fmt.Errorf("no plan")
			}
			var err error
			placed, err = plan.AppendRetries(p, retry)
			written = *p
			return err
		})
		if err != nil {
			return fmt.Errorf("migration: plan retries of %s: %w", s.ID, err)
		}
		written.RunID = s.RunID
		plan.Update(ctx, written) // the rest of the step sees the retry batches
		for _, b := range placed.Added {
			e.log(ctx, &s, resourceRef{}, "PlanRetry", "created", "",
				fmt.Sprintf("retry batch %s: %s", b.ID, strings.Join(append(slices.Clone(b.Keys), b.Secrets...), ", ")))
		}
	}
	return e.recordRetries(ctx, s, placed, maxAttempts)
}

// recordRetries records on batch s where each failure was re-planned
// (RetryBatch) and which ran out of attempts (AttemptsExhausted), sets
// RetriesPlanned, and logs the failures reported for good.
func (e *Engine) recordRetries(ctx context.Context, s BatchState, placed plan.Placement, maxAttempts int) error {
	st, changed, err := e.mutateBatch(ctx, s.RunID, s.ID, func(st *BatchState) (bool, error) {
		if st.RetriesPlanned {
			return false, nil
		}
		for i := range st.Resources {
			o := &st.Resources[i]
			if o.Result != ResultFailed {
				continue
			}
			if id, ok := placed.Carrier(o.Kind, o.ID); ok {
				o.RetryBatch = id
			} else if o.Retryable && o.Attempt >= maxAttempts {
				o.Message = fmt.Sprintf("%s (last reason %s after %d attempts)", Classify(ReasonAttemptsExhausted).Remediation, o.ReasonCode, o.Attempt)
				o.ReasonCode, o.Retryable = ReasonAttemptsExhausted, false
			}
		}
		st.RetriesPlanned = true
		return true, nil
	})
	if err != nil || !changed {
		return err
	}
	for _, o := range st.Resources {
		if o.Result == ResultFailed && o.RetryBatch == "" {
			e.log(ctx, &st, resourceRef{o.Kind, o.ID}, "ReportFailure", "failed", o.ReasonCode, Classify(o.ReasonCode).Remediation)
		}
	}
	return nil
}

// ChainTaskID derives the FC async task id of a chained invocation from
// the run, the batch (or lane) and the phase: the same step is invoked
// once. It matches FC's rule: a letter or underscore, then letters,
// digits, underscores or hyphens, at most 128.
func ChainTaskID(runID, subject, phase string) string {
	raw := runID + "_" + subject + "_" + phase
	var b strings.Builder
	b.WriteString("kmsmig_")
	for _, c := range raw {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	out := b.String()
	if len(out) > 128 {
		sum := sha256.Sum256([]byte(raw))
		out = out[:128-17] + "_" + hex.EncodeToString(sum[:8])
	}
	return out
}
