package migration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// The observe backend is for accounts whose migration is started in the
// console or by Alibaba Cloud support, because the migration tool's task
// API is not available to them. Preparation is the task backend's
// (Disable: ledger, rotation off; Submit's pre-flight re-checks); then,
// instead of CreateTask, the batch moves rotation-off → awaiting-operator
// and its exact resource list is published for the operator (handoff
// documents, an audit record, an INFO alert). Poll observes every resource
// with DescribeKey/DescribeSecret: once all show the batch's instance id,
// or Handoff.Deadline has passed, the batch moves to completed with
// per-resource outcomes as a task would give them, the unmoved failing
// with ReasonNotMovedByOperator; Restore and verification are unchanged.

// Backends (Config.Backend).
const (
	// BackendTask creates the provider's migration task and follows it.
	BackendTask = "task"
	// BackendObserve publishes the batch for an operator and detects the
	// moves by observation only.
	BackendObserve = "observe"
)

// DefaultObserveTimeout is how long a published batch is watched by
// default.
const DefaultObserveTimeout = 24 * time.Hour

// Handoff records the publication of a batch for an operator (observe
// backend). Since and Deadline are fixed when the batch is published;
// the rest follows what poll observes.
type Handoff struct {
	// Since is when the batch entered awaiting-operator.
	Since time.Time `json:"since"`
	// Deadline is when observation ends: Since plus Config.ObserveTimeout
	// as it was then. What has not moved by then is reported.
	Deadline time.Time `json:"deadline"`
	// JSONKey and MarkdownKey are the handoff documents (statekeys.Handoff).
	JSONKey     string `json:"jsonKey"`
	MarkdownKey string `json:"markdownKey"`
	// Published is set once the documents are written and the publication
	// is recorded (audit); until then poll publishes again. PublishedAt
	// and PublishedBy (request id) say by which invocation.
	Published   bool      `json:"published,omitempty"`
	PublishedAt time.Time `json:"publishedAt,omitzero"`
	PublishedBy string    `json:"publishedBy,omitempty"`
	// Moved counts the resources last observed in the batch's instance;
	// FirstMoveAt and LastMoveAt are when poll first saw one, and when the
	// count last changed.
	Moved       int       `json:"moved"`
	FirstMoveAt time.Time `json:"firstMoveAt,omitzero"`
	LastMoveAt  time.Time `json:"lastMoveAt,omitzero"`
	// EndedAt is when the observation ended (every resource moved, or the
	// deadline passed) and EndedBy by which request; TimedOut says why.
	EndedAt  time.Time `json:"endedAt,omitzero"`
	EndedBy  string    `json:"endedBy,omitempty"`
	TimedOut bool      `json:"timedOut,omitempty"`
}

// HandoffNotice tells the caller of a step that it has just published a
// batch for an operator, so that it raises the INFO alert once.
type HandoffNotice struct {
	InstanceID  string    `json:"instanceId"`
	Keys        int       `json:"keys"`
	Secrets     int       `json:"secrets"`
	Deadline    time.Time `json:"deadline"`
	JSONKey     string    `json:"jsonKey"`
	MarkdownKey string    `json:"markdownKey"`
}

// HandoffDocument is what the operator works from: the exact resources of
// one batch and the instance to move them into. It is stored as JSON and
// as a Markdown line list at statekeys.Handoff.
type HandoffDocument struct {
	RunID       string    `json:"runId"`
	BatchID     string    `json:"batchId"`
	Account     string    `json:"account"`
	Region      string    `json:"region"`
	InstanceID  string    `json:"instanceId"`
	KeyIDs      []string  `json:"keyIds"`
	SecretNames []string  `json:"secretNames"`
	Attempt     int       `json:"attempt"`
	PublishedAt time.Time `json:"publishedAt"`
	Deadline    time.Time `json:"deadline"`
	// RotationOff lists the resources whose automatic rotation kmsmig
	// switched off for this batch ("key:<id>", "secret:<name>"); it is
	// restored when the batch ends.
	RotationOff []string `json:"rotationOff,omitempty"`
}

// HandoffKeys is statekeys.Handoff. It remains for shared/app until that
// package switches to statekeys; new code calls statekeys.Handoff.
func HandoffKeys(runID, batchID string) (jsonKey, markdownKey string) {
	return statekeys.Handoff(runID, batchID)
}

// handOff is the observe backend's submission: batch s, prepared and
// re-checked by submitFresh, moves rotation-off → awaiting-operator
// (CAS: one invocation wins) with its handoff deadline, dropped resources
// (gone, scheduled for deletion, disabled) are left out, and the batch is
// published.
func (e *Engine) handOff(ctx context.Context, s BatchState, drops []dropped) (StepResult, error) {
	res := StepResult{BatchID: s.ID, Step: "submit", Phase: s.Phase}
	if len(drops) == len(s.Keys)+len(s.Secrets) {
		return e.failWith(ctx, s, []Phase{PhaseRotationOff}, ReasonAllDropped, "no resource of the batch is left to migrate: every one was dropped", drops)
	}
	now := e.now()
	timeout := e.cfg().ObserveTimeout
	st, won, err := e.transition(ctx, s.RunID, s.ID, []Phase{PhaseRotationOff}, PhaseAwaitingOperator, "", func(st *BatchState) {
		st.Deferred = ""
		for _, d := range drops {
			st.drop(d)
		}
		jk, mk := statekeys.Handoff(st.RunID, st.ID)
		st.Handoff = &Handoff{Since: now, Deadline: now.Add(timeout), JSONKey: jk, MarkdownKey: mk}
	})
	if err != nil {
		return res, err
	}
	res.Phase = st.Phase
	if !won {
		res.Outcome = OutcomeUnchanged
		if st.Phase == PhaseRotationOff {
			res.Outcome = OutcomeBusy
		}
		return res, nil
	}
	e.logDrops(ctx, &st, drops, "handoff")
	return e.publish(ctx, st, res)
}

// publish writes the handoff documents of batch s (awaiting-operator) and
// records the publication once: the invocation that records it logs the
// audit record and returns the notice in res.Handoff. The documents are
// derived from the stored state alone, so writing them again is harmless.
func (e *Engine) publish(ctx context.Context, s BatchState, res StepResult) (StepResult, error) {
	if s.Handoff == nil {
		return res, fmt.Errorf("migration: publish %s: the batch records no handoff", s.ID)
	}
	doc, err := e.handoffDocument(ctx, s)
	if err != nil {
		return res, err
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return res, err
	}
	for key, body := range map[string][]byte{s.Handoff.JSONKey: append(data, '\n'), s.Handoff.MarkdownKey: doc.Markdown()} {
		if _, err := runstate.Mutate(ctx, e.Store, key, func([]byte, bool) ([]byte, error) { return body, nil }); err != nil {
			return res, fmt.Errorf("migration: publish %s: write %s: %w", s.ID, key, err)
		}
	}
	now, rid := e.now(), requestID(ctx)
	st, won, err := e.mutateBatch(ctx, s.RunID, s.ID, func(st *BatchState) (bool, error) {
		if st.Phase != PhaseAwaitingOperator || st.Handoff == nil || st.Handoff.Published {
			return false, nil
		}
		st.Handoff.Published, st.Handoff.PublishedAt, st.Handoff.PublishedBy, st.UpdatedAt = true, now, rid, now
		return true, nil
	})
	if err != nil {
		// The write may have landed with its reply lost: then the audit
		// record is this call's to give, or nobody gives it. (The alert
		// is not: the invocation fails; the documents are in place.)
		if got, ok := e.wrote(ctx, s.RunID, s.ID, func(b *BatchState) bool {
			return b.Handoff != nil && b.Handoff.Published && b.Handoff.PublishedAt.Equal(now) && b.Handoff.PublishedBy == rid
		}); ok {
			out, _ := e.announce(ctx, got, doc, res)
			return out, err
		}
		return res, err
	}
	res.Phase = st.Phase
	if !won {
		if res.Outcome == "" {
			res.Outcome = OutcomeUnchanged
		}
		return res, nil
	}
	return e.announce(ctx, st, doc, res)
}

// announce writes the audit record of a publication and puts its notice in
// res.
func (e *Engine) announce(ctx context.Context, st BatchState, doc HandoffDocument, res StepResult) (StepResult, error) {
	e.log(ctx, &st, resourceRef{}, "HandOff", "published", "", fmt.Sprintf(
		"batch ready to start in the console: %d keys and %d secrets of %s into instance %s, before %s; list at %s",
		len(doc.KeyIDs), len(doc.SecretNames), st.Lane, st.InstanceID, doc.Deadline.Format(time.RFC3339), st.Handoff.MarkdownKey))
	res.Phase, res.Outcome = st.Phase, OutcomeUpdated
	res.Handoff = &HandoffNotice{InstanceID: st.InstanceID, Keys: len(doc.KeyIDs), Secrets: len(doc.SecretNames),
		Deadline: doc.Deadline, JSONKey: st.Handoff.JSONKey, MarkdownKey: st.Handoff.MarkdownKey}
	return res, nil
}

// wrote re-reads a batch after a write that returned an error and reports
// whether the write landed anyway (mine recognises it): a store may apply
// a write and lose its reply. The read is detached from ctx, which may be
// what ended.
func (e *Engine) wrote(ctx context.Context, runID, batchID string, mine func(*BatchState) bool) (BatchState, bool) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	s, err := e.readBatch(rctx, runID, batchID)
	if err != nil || !mine(&s) {
		return BatchState{}, false
	}
	return s, true
}

// handoffDocument builds the document of batch s, listing which of its
// resources this batch holds rotation off for (from the ledger).
func (e *Engine) handoffDocument(ctx context.Context, s BatchState) (HandoffDocument, error) {
	doc := HandoffDocument{
		RunID: s.RunID, BatchID: s.ID, Account: s.Lane.Account, Region: s.Lane.Region, InstanceID: s.InstanceID,
		KeyIDs: slices.Clone(s.Keys), SecretNames: slices.Clone(s.Secrets), Attempt: s.Attempt,
		PublishedAt: s.Handoff.Since, Deadline: s.Handoff.Deadline,
	}
	if doc.KeyIDs == nil {
		doc.KeyIDs = []string{}
	}
	if doc.SecretNames == nil {
		doc.SecretNames = []string{}
	}
	for _, r := range s.resources() {
		le, ok, err := e.ledgerEntry(ctx, s.Lane, r)
		if err != nil {
			return doc, err
		}
		if ok && le.HeldBy(s.RunID, s.ID) {
			doc.RotationOff = append(doc.RotationOff, attemptKey(r))
		}
	}
	return doc, nil
}

// Markdown renders the document for the operator: what to do, then one
// line per resource.
func (d HandoffDocument) Markdown() []byte {
	var b strings.Builder
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }
	fmt.Fprintf(&b, "# Batch %s: ready to start in the console\n\n", d.BatchID)
	fmt.Fprintf(&b, "Run `%s`, account %s, region %s, attempt %d. Published %s.\n\n", d.RunID, d.Account, d.Region, d.Attempt, ts(d.PublishedAt))
	fmt.Fprintf(&b, "In the KMS console of account %s, region %s, create one migration task into instance **%s** "+
		"with exactly the %d keys and %d secrets below (manual selection), and start it before **%s**. "+
		"kmsmig watches every resource for the instance id; whatever has not moved by then is reported as %s.\n\n",
		d.Account, d.Region, d.InstanceID, len(d.KeyIDs), len(d.SecretNames), ts(d.Deadline), ReasonNotMovedByOperator)
	if len(d.RotationOff) > 0 {
		fmt.Fprintf(&b, "Automatic rotation of %d of them (%s) is switched off until the batch ends; kmsmig restores it.\n\n",
			len(d.RotationOff), strings.Join(d.RotationOff, ", "))
	}
	fmt.Fprintf(&b, "## Keys (%d)\n\n", len(d.KeyIDs))
	for _, id := range d.KeyIDs {
		fmt.Fprintf(&b, "- `%s`\n", id)
	}
	fmt.Fprintf(&b, "\n## Secrets (%d)\n\n", len(d.SecretNames))
	for _, n := range d.SecretNames {
		fmt.Fprintf(&b, "- `%s`\n", n)
	}
	return []byte(b.String())
}

// pollObserved is Poll for a batch awaiting its operator: it publishes the
// batch if that did not happen yet (a crash after the hand-off), observes
// every resource, and ends the batch when all have moved or the deadline
// has passed; otherwise it records how many have moved.
func (e *Engine) pollObserved(ctx context.Context, s BatchState) (StepResult, error) {
	res := StepResult{BatchID: s.ID, Step: "poll", Phase: s.Phase}
	if s.Handoff == nil {
		// Not written by handOff (a hand-edited record): watch from now.
		now := e.now()
		timeout := e.cfg().ObserveTimeout
		st, _, err := e.mutateBatch(ctx, s.RunID, s.ID, func(st *BatchState) (bool, error) {
			if st.Phase != PhaseAwaitingOperator || st.Handoff != nil {
				return false, nil
			}
			jk, mk := statekeys.Handoff(st.RunID, st.ID)
			st.Handoff = &Handoff{Since: now, Deadline: now.Add(timeout), JSONKey: jk, MarkdownKey: mk}
			return true, nil
		})
		if err != nil || st.Phase != PhaseAwaitingOperator {
			res.Phase, res.Outcome = st.Phase, OutcomeUnchanged
			return res, err
		}
		s = st
	}
	if !s.Handoff.Published {
		var err error
		if res, err = e.publish(ctx, s, res); err != nil {
			return res, err
		}
		res.Step = "poll"
	}

	now := e.now()
	m, err := e.observeMoves(ctx, s, func(resourceRef) (string, string) {
		return ReasonNotMovedByOperator, fmt.Sprintf("not in %s when the observation ended at %s", s.InstanceID, s.Handoff.Deadline.UTC().Format(time.RFC3339))
	})
	if err != nil {
		return res, err
	}
	outcomes, moved, unmoved := m.Outcomes, m.Moved, m.Unmoved
	timedOut := !now.Before(s.Handoff.Deadline)
	if unmoved == 0 || timedOut {
		out, err := e.endObservation(ctx, s, outcomes, moved, unmoved > 0)
		if res.Handoff != nil {
			out.Handoff = res.Handoff
		}
		return out, err
	}

	// Still waiting: record the progress when it changed.
	st, changed, err := e.mutateBatch(ctx, s.RunID, s.ID, func(st *BatchState) (bool, error) {
		if st.Phase != PhaseAwaitingOperator || st.Handoff == nil || st.Handoff.Moved == moved {
			return false, nil
		}
		if st.Handoff.FirstMoveAt.IsZero() && moved > 0 {
			st.Handoff.FirstMoveAt = now
		}
		st.Handoff.Moved, st.Handoff.LastMoveAt, st.UpdatedAt = moved, now, now
		return true, nil
	})
	if err != nil {
		return res, err
	}
	res.Phase = st.Phase
	res.Reason = fmt.Sprintf("awaiting the operator: %d of %d resources in %s; observed until %s",
		moved, len(outcomes), s.InstanceID, s.Handoff.Deadline.UTC().Format(time.RFC3339))
	if res.Outcome != OutcomeUpdated {
		res.Outcome = OutcomeWaiting
	}
	if changed {
		e.log(ctx, &st, resourceRef{}, "ObserveMoves", "updated", "", res.Reason)
		res.Outcome = OutcomeUpdated
	}
	return res, nil
}

// endObservation records the observed outcomes of batch s (→ completed),
// plans retries (none of the observe backend's own failures is
// retryable) and chains rotate, as the task backend's completion does.
func (e *Engine) endObservation(ctx context.Context, s BatchState, outcomes []ResourceOutcome, moved int, timedOut bool) (StepResult, error) {
	res := StepResult{BatchID: s.ID, Step: "poll"}
	reason := ""
	if timedOut {
		reason = "observation timed out"
	}
	now, rid := e.now(), requestID(ctx)
	st, won, err := e.transition(ctx, s.RunID, s.ID, []Phase{PhaseAwaitingOperator}, PhaseCompleted, reason, func(st *BatchState) {
		if st.Handoff != nil {
			if st.Handoff.FirstMoveAt.IsZero() && moved > 0 {
				st.Handoff.FirstMoveAt = now
			}
			if st.Handoff.Moved != moved {
				st.Handoff.LastMoveAt = now
			}
			st.Handoff.Moved, st.Handoff.EndedAt, st.Handoff.EndedBy, st.Handoff.TimedOut = moved, now, rid, timedOut
		}
		st.record(outcomes)
	})
	if err != nil {
		if got, ok := e.wrote(ctx, s.RunID, s.ID, func(b *BatchState) bool {
			return b.Phase.Ended() && b.Handoff != nil && b.Handoff.EndedAt.Equal(now) && b.Handoff.EndedBy == rid
		}); ok {
			e.logOutcomes(ctx, &got, outcomes)
		}
		return res, err
	}
	res.Phase = st.Phase
	if !won {
		res.Outcome = OutcomeUnchanged
		return res, nil
	}
	e.logOutcomes(ctx, &st, outcomes)
	res.Outcome, res.Reason = OutcomeUpdated, reason
	if err := e.planRetries(ctx, st); err != nil {
		return res, err
	}
	e.chain(ctx, e.cfg().Functions.Rotate, st.RunID, st.ID, "", "restore")
	return res, nil
}

// EndObservation ends the observation of a batch awaiting its operator
// now instead of at its deadline: for a batch the console refused, so that
// its rotation comes back without waiting for KMSMIG_OBSERVE_TIMEOUT. It
// brings the deadline forward (compare-and-swap; a batch in another phase
// is left alone: OutcomeUnchanged) and polls, which records what moved and
// reports the rest NotMovedByOperator; Restore then runs as usual. No
// state: ErrNoState. Cancellation: ctx.Err().
func (e *Engine) EndObservation(ctx context.Context, runID, batchID string) (StepResult, error) {
	now := e.now()
	st, changed, err := e.mutateBatch(ctx, runID, batchID, func(st *BatchState) (bool, error) {
		if st.Phase != PhaseAwaitingOperator || st.Handoff == nil || !now.Before(st.Handoff.Deadline) {
			return false, nil
		}
		st.Handoff.Deadline = now
		return true, nil
	})
	if err != nil {
		return StepResult{BatchID: batchID, Step: "end-observation"}, err
	}
	if st.Phase != PhaseAwaitingOperator {
		return StepResult{BatchID: batchID, Step: "end-observation", Outcome: OutcomeUnchanged, Phase: st.Phase}, nil
	}
	if changed {
		e.log(ctx, &st, resourceRef{}, "EndObservation", "updated", "", "observation ended by the operator at "+now.UTC().Format(time.RFC3339))
	}
	return e.Poll(ctx, runID, batchID)
}
