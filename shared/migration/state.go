package migration

import (
	"slices"
	"time"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

// ResourceKind is "key" or "secret", as in verdicts.
type ResourceKind = verdict.ResourceKind

// Resource kinds.
const (
	KindKey    = verdict.ResourceKey
	KindSecret = verdict.ResourceSecret
)

// Intent is a submission in progress: recorded before CreateTask so that a
// crash leaves a trace to recover from.
type Intent struct {
	// ID tells competing submitters apart.
	ID string    `json:"id"`
	At time.Time `json:"at"`
	// Since is the time of the batch's first intent: a task created after
	// it (less Config.AdoptSkew) may be the batch's.
	Since         time.Time `json:"since"`
	Automatic     bool      `json:"automatic,omitempty"`
	MigrationTime time.Time `json:"migrationTime,omitzero"`
	// Listed is set when Known was recorded: the lane's tasks were listed
	// before the batch's first CreateTask.
	Listed bool `json:"listed,omitempty"`
	// Known are the lane's tasks that existed before the batch's first
	// CreateTask and look like its task (same instance, same key and
	// secret counts). Recovery never adopts them, and adopts any other
	// unclaimed look-alike whatever its creation time says: comparing the
	// provider's timestamps with this engine's clock (Since) goes wrong
	// when the clocks disagree by more than Config.AdoptSkew, and then a
	// batch submits twice. Intents without Listed use Since.
	Known []string `json:"known,omitempty"`
	// Refused is set when the provider refused the CreateTask of this
	// intent on its merits: no task was created, so recovery need not wait
	// for the lease. It is also set when the batch was aborted in
	// submitting and, the lease over, no task of the intent was found
	// (Code NoTaskCreated).
	Refused bool   `json:"refused,omitempty"`
	Code    string `json:"code,omitempty"`
}

// Outcome of one resource of a batch.
const (
	// ResultMigrated: KMS shows the resource in the batch's instance.
	ResultMigrated = "migrated"
	// ResultFailed: the resource did not move; retried when its reason is
	// retryable, else reported (and alerted).
	ResultFailed = "failed"
	// ResultDropped: the resource was left out of the batch because it no
	// longer exists, is scheduled for deletion or is disabled (its owner's
	// decision, made after it was planned). Not a failure: never retried,
	// never alerted, not an attempt; the run report lists it apart.
	ResultDropped = "dropped"
)

// ResourceOutcome is what happened to one resource of a batch, as observed.
type ResourceOutcome struct {
	Kind ResourceKind `json:"kind"`
	ID   string       `json:"id"`
	// Result is migrated (the resource shows the batch's instance id),
	// failed or dropped.
	Result string `json:"result"`
	// ReasonCode is the provider's (or the engine's) reason for a failure
	// or a drop.
	ReasonCode string `json:"reasonCode,omitempty"`
	Message    string `json:"message,omitempty"`
	// Retryable is the classification of ReasonCode (see Classify).
	Retryable bool `json:"retryable,omitempty"`
	// Attempt is the attempt the batch was for the resource; 0 for a
	// resource dropped before its task, which was never attempted.
	Attempt int `json:"attempt"`
	// InstanceID is the instance the resource was observed in.
	InstanceID string `json:"instanceId,omitempty"`
	// RetryBatch is the batch the resource was re-planned into, if any.
	RetryBatch string `json:"retryBatch,omitempty"`
}

// BatchState is the stored state machine of one batch. Its resources are
// copied from the plan when the batch starts, so that the record is
// self-contained.
type BatchState struct {
	ID         string      `json:"id"`
	RunID      string      `json:"runId"`
	Lane       estate.Lane `json:"lane"`
	Seq        int         `json:"seq"`
	InstanceID string      `json:"instanceId"`
	Keys       []string    `json:"keys,omitempty"`
	Secrets    []string    `json:"secrets,omitempty"`

	Phase      Phase       `json:"phase"`
	PlanStatus plan.Status `json:"planStatus"`
	// Attempt is 1 for a planned batch and one more than its source for a
	// retry batch (RetryOf).
	Attempt int    `json:"attempt"`
	RetryOf string `json:"retryOf,omitempty"`
	// Attempts holds, for resources retried from an earlier batch, the
	// attempt this batch is for them ("key:<id>" or "secret:<name>");
	// absent means 1.
	Attempts map[string]int `json:"attempts,omitempty"`

	Intent *Intent `json:"intent,omitempty"`
	// Ahead is set when the batch's rotation went off while the lane's
	// previous batch's task ran (pipelining, pipeline.go): AheadProven
	// when KMS accepted a rotation change meanwhile (the provider does not
	// freeze the control plane beyond the task's resources), AheadUnproven
	// when no change was needed.
	Ahead string `json:"ahead,omitempty"`
	// AheadRefused is set when KMS refused to prepare the batch while the
	// previous batch's task ran: it is prepared once that batch has
	// finished, as without pipelining.
	AheadRefused bool `json:"aheadRefused,omitempty"`
	// Deferred says why the last submission was put off (instance busy,
	// outside the window).
	Deferred string `json:"deferred,omitempty"`
	// TurnWait is set on a planned batch that waits for its instance's
	// turn (turn.go): another lane's batch is prepared for the instance.
	// Poll retries it (its lane is at work) until it takes the turn.
	TurnWait bool `json:"turnWait,omitempty"`

	TaskID          string    `json:"taskId,omitempty"`
	TaskStatus      string    `json:"taskStatus,omitempty"`
	TaskStatusSince time.Time `json:"taskStatusSince,omitzero"`
	TaskCreated     time.Time `json:"taskCreated,omitzero"`
	TaskStarted     time.Time `json:"taskStarted,omitzero"`
	TaskEnded       time.Time `json:"taskEnded,omitzero"`
	// Stalled is set when the task's status has not changed for
	// Config.StallAfter; the poller alerts.
	Stalled bool `json:"stalled,omitempty"`
	// Handoff is the observe backend's publication of the batch (nil for
	// the task backend).
	Handoff *Handoff `json:"handoff,omitempty"`

	Resources []ResourceOutcome `json:"resources,omitempty"`
	// RetriesPlanned is set once the retryable failures have been appended
	// to the plan (or there were none).
	RetriesPlanned bool `json:"retriesPlanned,omitempty"`

	// Reason and Message explain a failed batch.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// RotationRestored is set once every ledger entry of the batch is back
	// to its recorded policy (for failed batches, whose phase stays failed).
	RotationRestored bool `json:"rotationRestored,omitempty"`
	// Verified is set once verification ran; Problems are what it found
	// different from the inventory and the ledger.
	Verified bool     `json:"verified,omitempty"`
	Problems []string `json:"problems,omitempty"`

	History   []Transition `json:"history,omitempty"`
	UpdatedAt time.Time    `json:"updatedAt"`
}

// Finished reports whether the batch no longer holds its lane: verified, or
// failed with its rotation restored and verified.
func (s *BatchState) Finished() bool {
	return s.Phase == PhaseVerified || (s.Phase == PhaseFailed && s.RotationRestored && s.Verified)
}

// resources lists the batch's resources, keys first.
func (s *BatchState) resources() []resourceRef {
	out := make([]resourceRef, 0, len(s.Keys)+len(s.Secrets))
	for _, id := range s.Keys {
		out = append(out, resourceRef{KindKey, id})
	}
	for _, n := range s.Secrets {
		out = append(out, resourceRef{KindSecret, n})
	}
	return out
}

// outcome returns the recorded outcome of a resource, or nil.
func (s *BatchState) outcome(r resourceRef) *ResourceOutcome {
	for i := range s.Resources {
		if s.Resources[i].Kind == r.Kind && s.Resources[i].ID == r.ID {
			return &s.Resources[i]
		}
	}
	return nil
}

// resourceRef names one key or secret of a lane.
type resourceRef struct {
	Kind ResourceKind
	ID   string
}

func (r resourceRef) String() string { return string(r.Kind) + " " + r.ID }

// newBatchState starts the state of plan batch b.
func newBatchState(runID string, b plan.Batch, attempt int, retryOf string, now time.Time) BatchState {
	s := BatchState{
		ID: b.ID, RunID: runID, Lane: b.Lane, Seq: b.Seq, InstanceID: b.InstanceID,
		Keys: slices.Clone(b.Keys), Secrets: slices.Clone(b.Secrets),
		Attempt: max(attempt, 1), RetryOf: retryOf, UpdatedAt: now,
	}
	s.Phase, s.PlanStatus = PhasePlanned, plan.StatusPending
	s.History = []Transition{{To: PhasePlanned, At: now}}
	return s
}
