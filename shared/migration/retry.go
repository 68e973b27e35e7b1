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
// (CAS on plan.json): keys in one new batch, secrets in the next (a secret
// may wait for a key of the same retry), numbered after the lane's highest
// seq. Failures at Config.MaxAttempts become AttemptsExhausted. It is
// idempotent: resources already in a later batch of the lane are not
// planned again, and RetriesPlanned records that it is done.
func (e *Engine) planRetries(ctx context.Context, s BatchState) error {
	if s.RetriesPlanned || !s.Phase.Ended() {
		return nil
	}
	maxAttempts := e.cfg().MaxAttempts
	var keys, secrets []string
	for _, o := range s.Resources {
		if o.Result != ResultFailed || !o.Retryable || o.Attempt >= maxAttempts {
			continue
		}
		if o.Kind == KindKey {
			keys = append(keys, o.ID)
		} else {
			secrets = append(secrets, o.ID)
		}
	}
	placed := map[resourceRef]string{}
	if len(keys)+len(secrets) > 0 {
		var added []plan.Batch
		_, err := runstate.MutateJSON(ctx, e.Store, statekeys.Plan(s.RunID), func(p *plan.Plan, exists bool) error {
			if !exists {
				return fmt.Errorf("no plan")
			}
			added = nil
			clear(placed)
			for i := range p.Lanes {
				lp := &p.Lanes[i]
				if lp.Lane != s.Lane {
					continue
				}
				top := 0
				for _, b := range lp.Batches {
					top = max(top, b.Seq)
					if b.Seq <= s.Seq {
						continue
					}
					for _, id := range b.Keys {
						placed[resourceRef{KindKey, id}] = b.ID
					}
					for _, n := range b.Secrets {
						placed[resourceRef{KindSecret, n}] = b.ID
					}
				}
				rotKeys, rotSecrets := map[string]bool{}, map[string]bool{}
				for _, b := range lp.Batches {
					if b.ID == s.ID {
						for _, id := range b.KeysRotationOff {
							rotKeys[id] = true
						}
						for _, n := range b.SecretsRotationOff {
							rotSecrets[n] = true
						}
					}
				}
				for _, group := range [][]resourceRef{refs(KindKey, keys), refs(KindSecret, secrets)} {
					var nb plan.Batch
					for _, r := range group {
						if _, ok := placed[r]; ok {
							continue
						}
						if r.Kind == KindKey {
							nb.Keys = append(nb.Keys, r.ID)
							if rotKeys[r.ID] {
								nb.KeysRotationOff = append(nb.KeysRotationOff, r.ID)
							}
						} else {
							nb.Secrets = append(nb.Secrets, r.ID)
							if rotSecrets[r.ID] {
								nb.SecretsRotationOff = append(nb.SecretsRotationOff, r.ID)
							}
						}
					}
					if len(nb.Keys)+len(nb.Secrets) == 0 {
						continue
					}
					top++
					nb.Seq, nb.Lane, nb.InstanceID, nb.ID = top, s.Lane, s.InstanceID, plan.BatchID(s.Lane, top)
					lp.Batches = append(lp.Batches, nb)
					added = append(added, nb)
					for _, id := range nb.Keys {
						placed[resourceRef{KindKey, id}] = nb.ID
					}
					for _, n := range nb.Secrets {
						placed[resourceRef{KindSecret, n}] = nb.ID
					}
				}
				return nil
			}
			return fmt.Errorf("lane %s is not in the plan", s.Lane)
		})
		if err != nil {
			return fmt.Errorf("migration: plan retries of %s: %w", s.ID, err)
		}
		for _, b := range added {
			e.log(ctx, &s, resourceRef{}, "PlanRetry", "created", "",
				fmt.Sprintf("retry batch %s: %s", b.ID, strings.Join(append(slices.Clone(b.Keys), b.Secrets...), ", ")))
		}
	}
	st, changed, err := e.mutateBatch(ctx, s.RunID, s.ID, func(st *BatchState) (bool, error) {
		if st.RetriesPlanned {
			return false, nil
		}
		for i := range st.Resources {
			o := &st.Resources[i]
			if o.Result != ResultFailed {
				continue
			}
			if id, ok := placed[resourceRef{o.Kind, o.ID}]; ok {
				o.RetryBatch = id
			} else if o.Retryable && o.Attempt >= maxAttempts {
				o.Message = fmt.Sprintf("%s (last reason %s after %d attempts)", Classify(ReasonAttemptsExhausted).Remediation, o.ReasonCode, o.Attempt)
				o.ReasonCode, o.Retryable = ReasonAttemptsExhausted, false
			}
		}
		st.RetriesPlanned = true
		return true, nil
	})
	if err != nil {
		return err
	}
	if changed {
		for _, o := range st.Resources {
			if o.Result == ResultFailed && o.RetryBatch == "" {
				e.log(ctx, &st, resourceRef{o.Kind, o.ID}, "ReportFailure", "failed", o.ReasonCode, Classify(o.ReasonCode).Remediation)
			}
		}
	}
	return nil
}

func refs(kind ResourceKind, ids []string) []resourceRef {
	out := make([]resourceRef, len(ids))
	for i, id := range ids {
		out[i] = resourceRef{kind, id}
	}
	return out
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
