package migration

import (
	"context"
	"time"

	"github.com/kmsmig/kmsmig/shared/estate"
)

// Observer reads the current state of keys and secrets. The KMS adapter
// (*kms.Client) implements it.
type Observer interface {
	// Key describes a key (rotation, instance id, tags, version count).
	// Not found: an error matching cloud.ErrNotFound. Cancellation:
	// ctx.Err(). Never conflicts.
	Key(ctx context.Context, l estate.Lane, id string) (estate.Key, error)
	// Secret completes s (by Name) with its rotation, instance id, tags and
	// version count; it never reads the value. Not found: cloud.ErrNotFound.
	// Cancellation: ctx.Err(). Never conflicts.
	Secret(ctx context.Context, l estate.Lane, s estate.Secret) (estate.Secret, error)
	// KeyMetadata is Key in one call (DescribeKey): rotation, instance
	// id and state, without tags nor version count. Errors as Key.
	KeyMetadata(ctx context.Context, l estate.Lane, id string) (estate.Key, error)
	// SecretMetadata is Secret in one call (DescribeSecret): rotation,
	// instance id and tags, without versions nor stage labels. Errors as
	// Secret.
	SecretMetadata(ctx context.Context, l estate.Lane, s estate.Secret) (estate.Secret, error)
	// Aliases returns every alias of the lane by key id. Never not found
	// (an empty map) nor conflicts. Cancellation: ctx.Err().
	Aliases(ctx context.Context, l estate.Lane) (map[string][]string, error)
}

// RotationWriter changes automatic rotation policies. The KMS adapter
// implements it.
type RotationWriter interface {
	// SetKeyRotation sets a key's policy. Not found: cloud.ErrNotFound.
	// Conflict (the key is in a running migration task): cloud.ErrConflict;
	// retry later. Cancellation: ctx.Err(), outcome unknown.
	SetKeyRotation(ctx context.Context, l estate.Lane, keyID string, r estate.Rotation) error
	// SetSecretRotation sets a secret's policy; errors as SetKeyRotation.
	SetSecretRotation(ctx context.Context, l estate.Lane, name string, r estate.Rotation) error
}

// InstanceReader reads a KMS 3.0 instance with its quota and usage. The KMS
// adapter implements it.
type InstanceReader interface {
	// Instance describes instance id as seen from lane l; owner may be
	// empty. Not found: cloud.ErrNotFound. Cancellation: ctx.Err().
	Instance(ctx context.Context, l estate.Lane, id, owner string) (estate.Instance, error)
}

// KMS is everything the engine asks of KMS besides tasks.
type KMS interface {
	Observer
	RotationWriter
	InstanceReader
}

// Tasks is the migration tool's task API. shared/aliyun/kms implements it
// (Client.Tasks), returning these types.
type Tasks interface {
	// CreateTask submits a task and returns its id. It is not idempotent:
	// an error that is not a refusal on the merits (cloud.Retryable, or a
	// cancelled ctx) leaves unknown whether a task was created. Refusals
	// carry the provider's code (cloud.Code); a resource or instance held by
	// another task matches cloud.ErrConflict.
	CreateTask(ctx context.Context, l estate.Lane, req TaskRequest) (string, error)
	// DescribeTask reads a task with its per-resource results (once
	// Completed). Not found: cloud.ErrNotFound. Cancellation: ctx.Err().
	DescribeTask(ctx context.Context, l estate.Lane, id string) (Task, error)
	// ListTasks returns every task of the lane, oldest first, without
	// results. Never not found nor conflicts. Cancellation: ctx.Err().
	ListTasks(ctx context.Context, l estate.Lane) ([]Task, error)
}

// TaskRequest asks for one migration task. Automatic tasks start at
// MigrationTime; manual ones at once.
type TaskRequest struct {
	InstanceID    string
	Automatic     bool
	MigrationTime time.Time
	KeyIDs        []string
	SecretNames   []string
}

// Task statuses as the provider reports them.
const (
	TaskPending   = "Pending"
	TaskScheduled = "Scheduled"
	TaskRunning   = "Running"
	TaskCompleted = "Completed"
)

// Task is a migration task as the provider reports it. Completed only says
// the task ended; Results say what the provider thinks moved.
type Task struct {
	ID          string
	InstanceID  string
	Status      string
	CreateTime  time.Time
	StartTime   time.Time
	EndTime     time.Time
	KeyCount    int
	SecretCount int
	Results     []TaskResult
}

// TaskResult is the provider's outcome for one resource of a task.
type TaskResult struct {
	// Kind is "key" or "secret".
	Kind       ResourceKind
	ID         string
	Status     string // Succeeded, Failed or Skipped
	ReasonCode string
	Message    string
}

// Invoker starts another function asynchronously (FC InvokeFunction).
// shared/aliyun/fc implements it.
type Invoker interface {
	// InvokeAsync queues function with payload. taskID makes the call
	// idempotent: a repeat with the same taskID is accepted (nil) without a
	// second invocation. Not found (no such function): an error matching
	// cloud.ErrNotFound. Cancellation: ctx.Err(), outcome unknown.
	InvokeAsync(ctx context.Context, function string, payload []byte, taskID string) error
}

// Clock tells the engine the time (Engine.Clock; nil: the wall clock).
type Clock interface {
	Now() time.Time
}

// Approvals is the approval gate (shared/approval.Gate): a run whose plan
// is not approved has nothing switched off and nothing submitted, like a
// paused one.
type Approvals interface {
	// Approved reports whether the run's current plan is approved; why
	// says what is awaited and the command to run. Unknown run: an error.
	// Cancellation: ctx.Err().
	Approved(ctx context.Context, runID string) (ok bool, why string, err error)
}
