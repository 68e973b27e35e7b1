// Package migration owns the execution of a migration plan: the batch state
// machine and its steps (one task per batch, one active task per lane) and
// the rotation ledger, so that no automatic rotation this project switched
// off stays off.
//
// # State machine
//
// A batch's state lives at runs/<run>/batches/<account>/<region>/b<seq>.json
// (BatchState; every key is named by shared/statekeys). Phases, in order:
//
//	planned → rotation-off → submitting → submitted|scheduled → running
//	        → completed → rotation-restored → verified
//
// and the terminal failed (reason code, attempt); the observe backend
// waits in awaiting-operator instead of submitting … running. Each record
// carries planStatus, the planner's view (pending, submitted, running,
// done, failed), so that discover can re-plan around it.
//
// phases.go declares every phase and the transition table: every phase
// change the engine makes, and no other. A change outside it is refused
// (ErrIllegalTransition) and never written; ValidHistory checks a
// recorded history against it.
//
// Every step (Disable, Submit, Poll, Restore, Sweep, Abort) is
// level-triggered: it reads the batch state and the world (KMS), performs
// at most the next step and records it with compare-and-swap. A step that
// loses the CAS re-reads and decides again. Any step may run twice,
// concurrently, or after a crash at any point, and converges to one
// outcome. Nothing is held in memory between calls.
//
// # Rotation ledger
//
// Before a resource's rotation is switched off, its ledger entry
// (runs/<run>/rotation/<account>/<region>/<key|secret>/<id>.json) is created
// if absent with the policy read from KMS at that moment; an existing entry
// keeps its original policy. After the batch ends, migrated or failed,
// Restore sets exactly the recorded policy and reads it back. A refusal
// because a migration task holds the resource (the control plane is frozen
// while a task runs) leaves the entry off and is retried later; Sweep
// restores every entry still off whose batch has finished, failed or gone.
//
// # Exactly one task per batch
//
// Submission records its intent (rotation-off → submitting, CAS) before
// CreateTask and the task id after it. A batch found in submitting after a
// crash adopts the lane's task created after the intent, in the batch's
// instance with the batch's key and secret counts, that no other batch
// claims; only when there is none does it submit again.
//
// # Completion
//
// A Completed task is never taken on its word: every resource is observed
// with DescribeKey/DescribeSecret and counts as migrated only when it shows
// the batch's instance id. Failures are classified (Classify): retryable
// ones go into a new batch appended to the lane's plan (attempt+1, up to
// Config.MaxAttempts), permanent ones are reported.
//
// # Dropped resources
//
// Owners change their estates between nights. A resource that no longer
// exists, or a key scheduled for deletion or disabled (DescribeKey's
// KeyState), is dropped (drop.go): left out of the task or the handoff
// (or, seen after it, not counted as unmoved), recorded ResultDropped with
// its reason, audited as dropped, listed apart in the run report, never
// retried, never alerted as a failure and not counted as an attempt. A
// batch left with nothing fails with ReasonAllDropped. The rotation of a
// key disabled while kmsmig held it off cannot come back until the key is
// enabled: that does not hold the lane; verification reports it and the
// sweep restores it once the owner enables the key.
//
// # Backends
//
// Config.Backend chooses how a batch moves. BackendTask creates the
// provider's task as above. BackendObserve is for accounts whose migration
// is started in the console or by support: after the same preparation, the
// batch moves rotation-off → awaiting-operator (planStatus submitted) and
// its exact resource list is published at statekeys.Handoff; poll then observes
// every resource and moves the batch to completed once all show the
// instance id, or when Config.ObserveTimeout has passed, the unmoved
// failing with ReasonNotMovedByOperator (observe.go).
//
// # A task backend that cannot run
//
// taskapi.go decides, in one place, what a failed task call means: a call
// the lane cannot make (cloud.ErrActionUnavailable) blocks the lane for the
// run and is never retried; a refusal with a code no table lists is
// retried once and blocks the account. The batch holding rotation off fails
// and gets it back through Restore; Disable fails later batches of a
// blocked lane or account without switching anything off (TaskAPIBlock at
// statekeys.TaskAPIBlock).
//
// # Files
//
// phases.go (phases, transition table, ValidHistory), state.go (BatchState),
// engine.go (Engine, Config, CAS helpers), lane.go (lanes and the driver
// steps), disable.go, submit.go, drop.go, poll.go, moves.go (what moved),
// observe.go (observe backend), retry.go (retry planning, chaining),
// restore.go, verify.go, sweep.go, abort.go, ledger.go, window.go
// (window and estimate), landed.go, report.go, reasons.go, interfaces.go,
// taskapi.go (task API blocks).
//
// The package imports no SDK: the KMS adapter satisfies KMS directly and
// Tasks (Client.Tasks); shared/aliyun/fc satisfies Invoker.
package migration
