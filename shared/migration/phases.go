package migration

import (
	"errors"
	"fmt"
	"time"

	"github.com/kmsmig/kmsmig/shared/plan"
)

// Phase is where a batch is in its state machine (transitions below).
type Phase string

// The phases, in the order of a batch that migrates; verified and failed
// are terminal.
const (
	PhasePlanned     Phase = "planned"
	PhaseRotationOff Phase = "rotation-off"
	PhaseSubmitting  Phase = "submitting"
	PhaseSubmitted   Phase = "submitted"
	PhaseScheduled   Phase = "scheduled"
	PhaseRunning     Phase = "running"
	// PhaseAwaitingOperator is the observe backend's submitted (between
	// rotation-off and completed): the batch is published for an operator,
	// who starts the move in the console, and poll watches every resource
	// for the batch's instance id. Its planStatus is submitted: in flight,
	// frozen for re-planning.
	PhaseAwaitingOperator Phase = "awaiting-operator"
	PhaseCompleted        Phase = "completed"
	PhaseRotationRestored Phase = "rotation-restored"
	PhaseVerified         Phase = "verified"
	PhaseFailed           Phase = "failed"
)

// phases lists every phase, in the order above.
var phases = []Phase{
	PhasePlanned, PhaseRotationOff, PhaseSubmitting, PhaseSubmitted, PhaseScheduled, PhaseRunning,
	PhaseAwaitingOperator, PhaseCompleted, PhaseRotationRestored, PhaseVerified, PhaseFailed,
}

// phaseNone is the phase of a batch before its first transition.
const phaseNone Phase = ""

// edge is one phase change the engine makes: Step is the engine step that
// makes it, When what has happened then.
type edge struct {
	From, To Phase
	Step     string
	When     string
}

// transitions is the batch state machine: every phase change the engine
// makes, and no other. BatchState.to refuses a change that is not here, and
// ValidHistory checks a recorded history against it. A failed batch stays
// failed: its rotation is restored and verified without a phase change
// (RotationRestored, Verified). docs/design.md shows this table; a test
// keeps the two in step.
var transitions = []edge{
	{phaseNone, PhasePlanned, "Disable", "the batch's state is created from the plan"},
	{PhasePlanned, PhaseRotationOff, "Disable", "the lane is free (or, pipelining, its previous batch's task runs), the window admits the batch, the batch holds its instance's turn (manual tasks), every rotation is off (ledger first)"},
	{PhasePlanned, PhaseFailed, "Disable, Abort, RetireEarlier", "the lane's task backend cannot run or the target instance has expired or is not Connected (nothing switched off); or an operator aborts the batch; or a later run became current (superseded)"},
	{PhaseRotationOff, PhasePlanned, "Submit", "the window no longer admits the batch (also while it waits, prepared ahead, for the previous task), or the run is paused or awaits approval: rotation given back"},
	{PhaseRotationOff, PhaseSubmitting, "Submit, Poll, Restore", "the lane is free (or, pipelining, its previous batch's task has ended); the intent is recorded (CAS: one submitter wins), before CreateTask"},
	{PhaseRotationOff, PhaseAwaitingOperator, "Submit", "observe backend: the batch is published for an operator"},
	{PhaseRotationOff, PhaseFailed, "Submit, Abort, RetireEarlier", "the instance is gone, has expired, is not Connected or lacks quota, no resource is left, or the task API cannot be listed; or aborted; or superseded"},
	{PhaseSubmitting, PhaseSubmitted, "Submit", "the task is created or adopted (manual task)"},
	{PhaseSubmitting, PhaseScheduled, "Submit", "the task is created or adopted (automatic task)"},
	{PhaseSubmitting, PhaseFailed, "Submit, Abort", "CreateTask is refused on the merits or for good, or no resource is left; or aborted"},
	{PhaseSubmitted, PhaseScheduled, "Poll", "the task reports Scheduled"},
	{PhaseSubmitted, PhaseRunning, "Poll", "the task reports Running"},
	{PhaseSubmitted, PhaseCompleted, "Poll", "the task is Completed or unknown to the provider; every resource observed"},
	{PhaseSubmitted, PhaseFailed, "Abort", "an operator aborts the batch"},
	{PhaseScheduled, PhaseSubmitted, "Poll", "the task reports Pending (or a status the engine does not know)"},
	{PhaseScheduled, PhaseRunning, "Poll", "the task reports Running"},
	{PhaseScheduled, PhaseCompleted, "Poll", "the task is Completed or unknown to the provider; every resource observed"},
	{PhaseScheduled, PhaseFailed, "Abort", "an operator aborts the batch"},
	{PhaseRunning, PhaseSubmitted, "Poll", "the task reports Pending (or a status the engine does not know)"},
	{PhaseRunning, PhaseScheduled, "Poll", "the task reports Scheduled"},
	{PhaseRunning, PhaseCompleted, "Poll", "the task is Completed or unknown to the provider; every resource observed"},
	{PhaseRunning, PhaseFailed, "Abort", "an operator aborts the batch"},
	{PhaseAwaitingOperator, PhaseCompleted, "Poll", "observe backend: every resource shows the instance id, or the deadline passed"},
	{PhaseAwaitingOperator, PhaseFailed, "Abort", "an operator aborts the batch"},
	{PhaseCompleted, PhaseRotationRestored, "Restore", "every ledger entry of the batch is back to its recorded policy (read back)"},
	{PhaseRotationRestored, PhaseVerified, "Restore", "every resource verified against the inventory and the ledger"},
}

// allowed holds the From → To pairs of transitions.
var allowed = func() map[[2]Phase]bool {
	m := make(map[[2]Phase]bool, len(transitions))
	for _, t := range transitions {
		m[[2]Phase{t.From, t.To}] = true
	}
	return m
}()

// ErrIllegalTransition: a phase change the transition table does not
// allow. The engine never writes one; it is a programming error, or a
// record written by something else.
var ErrIllegalTransition = errors.New("migration: phase change not in the transition table")

// checkTransition returns nil when the table allows from → to, and an
// error matching ErrIllegalTransition when it does not.
func checkTransition(from, to Phase) error {
	if allowed[[2]Phase{from, to}] {
		return nil
	}
	return fmt.Errorf("%w: %q → %q", ErrIllegalTransition, from, to)
}

// sources returns every phase the table allows to move to phase to, in the
// table's order.
func sources(to Phase) []Phase {
	var out []Phase
	for _, t := range transitions {
		if t.To == to && t.From != phaseNone {
			out = append(out, t.From)
		}
	}
	return out
}

// PlanStatus maps a phase onto the planner's view: pending until
// submitting, then submitted, running, done or failed.
func (p Phase) PlanStatus() plan.Status {
	switch p {
	case PhasePlanned, PhaseRotationOff, "":
		return plan.StatusPending
	case PhaseSubmitting, PhaseSubmitted, PhaseScheduled, PhaseAwaitingOperator:
		return plan.StatusSubmitted
	case PhaseRunning:
		return plan.StatusRunning
	case PhaseFailed:
		return plan.StatusFailed
	default:
		return plan.StatusDone
	}
}

// InFlight reports whether a task may be running for the batch (or being
// created).
func (p Phase) InFlight() bool {
	return p == PhaseSubmitting || p == PhaseSubmitted || p == PhaseScheduled || p == PhaseRunning ||
		p == PhaseAwaitingOperator
}

// Ended reports whether the batch's task is over (completed, failed, or
// beyond): rotation may then be restored.
func (p Phase) Ended() bool {
	return p == PhaseCompleted || p == PhaseRotationRestored || p == PhaseVerified || p == PhaseFailed
}

// Transition is one phase change of a batch, for the timeline.
type Transition struct {
	From      Phase     `json:"from,omitempty"`
	To        Phase     `json:"to"`
	At        time.Time `json:"at"`
	RequestID string    `json:"requestId,omitempty"`
	Reason    string    `json:"reason,omitempty"`
}

// ValidHistory checks a batch's recorded history against the transition
// table: it starts with the batch's creation (→ planned), each entry
// starts where the one before it ended, and every change is in the table.
// It returns nil, or an error matching ErrIllegalTransition that names the
// first entry at fault.
func ValidHistory(h []Transition) error {
	if len(h) == 0 {
		return fmt.Errorf("%w: empty history (a batch starts with → %s)", ErrIllegalTransition, PhasePlanned)
	}
	prev := phaseNone
	for i, t := range h {
		if t.From != prev {
			return fmt.Errorf("%w: entry %d goes %q → %q, but the batch was %q", ErrIllegalTransition, i, t.From, t.To, prev)
		}
		if err := checkTransition(t.From, t.To); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		prev = t.To
	}
	return nil
}

// to moves the batch to phase p and records the transition. A change the
// transition table does not allow is refused (ErrIllegalTransition) and
// leaves the record as it was.
func (s *BatchState) to(p Phase, at time.Time, requestID, reason string) error {
	if err := checkTransition(s.Phase, p); err != nil {
		return fmt.Errorf("batch %s: %w", s.ID, err)
	}
	s.History = append(s.History, Transition{From: s.Phase, To: p, At: at, RequestID: requestID, Reason: reason})
	s.Phase = p
	s.PlanStatus = p.PlanStatus()
	s.UpdatedAt = at
	return nil
}
