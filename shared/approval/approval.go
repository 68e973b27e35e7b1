package approval

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// Modes of KMSMIG_APPROVAL.
const (
	// ModeAuto: migrate starts a plan without approval (rehearsals, small
	// teams).
	ModeAuto = "auto"
	// ModeRequired: migrate switches nothing off and submits nothing for a
	// run until an approval of its plan's digest is in the store.
	ModeRequired = "required"
)

// Errors of Approve and Check; test with errors.Is. In each case Approve
// writes nothing.
var (
	// ErrUnknownRun: the store has no plan for the run.
	ErrUnknownRun = errors.New("approval: unknown run")
	// ErrDigestMismatch: the digest given is not the one of the run's
	// current plan.
	ErrDigestMismatch = errors.New("approval: digest is not the current plan's")
	// ErrNothingToApprove: the plan has no pending batch.
	ErrNothingToApprove = errors.New("approval: the plan has no batch to approve")
	// ErrNoDigest: the plan was stored without a digest (by a kmsmig
	// before the approval gate); discover must plan the run again.
	ErrNoDigest = errors.New("approval: the plan carries no digest")
)

// Identity is who approved: the caller identity of the approver's
// credentials (STS GetCallerIdentity), never a name they typed.
type Identity struct {
	AccountID    string `json:"accountId"`
	IdentityType string `json:"identityType,omitempty"`
	Arn          string `json:"arn,omitempty"`
	PrincipalID  string `json:"principalId,omitempty"`
}

// String is the identity as the status and the audit trail show it.
func (i Identity) String() string {
	if i.Arn != "" {
		return i.Arn
	}
	return "account " + i.AccountID
}

// Approval is an approval of one digest of a run's plan
// (statekeys.Approval).
type Approval struct {
	RunID  string    `json:"runId"`
	Digest string    `json:"digest"`
	By     Identity  `json:"by"`
	At     time.Time `json:"at"`
	// Summary is what the approver was shown.
	Summary Summary `json:"summary"`
	// Batches is the digest of each batch approved (BatchDigests): a
	// re-plan whose pending batches are all among them, unchanged (only
	// fewer of them, because some have started since), is still covered.
	Batches map[string]string `json:"batches"`
	// Earlier lists the digests approved before this one, oldest first (a
	// re-plan needed a new approval).
	Earlier []string `json:"earlier,omitempty"`
	// Recorded is set once the functions' audit trail holds the approval
	// (migrate writes it the first time it finds it).
	Recorded bool `json:"recorded,omitempty"`
}

// MarkRecorded notes that the audit trail holds the approval of digest
// (nothing changes when the approval is of another digest by now).
func MarkRecorded(ctx context.Context, s runstate.Store, runID, digest string) error {
	_, err := runstate.MutateJSON(ctx, s, statekeys.Approval(runID), func(a *Approval, exists bool) error {
		if !exists || a.Digest != digest || a.Recorded {
			return errUnchanged
		}
		a.Recorded = true
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

// covers reports whether every pending batch of the plan is one the
// approval approved, unchanged.
func (a Approval) covers(p *plan.Plan, statuses map[string]plan.Status) bool {
	for id, sum := range BatchDigests(p, statuses) {
		if a.Batches[id] != sum {
			return false
		}
	}
	return true
}

// Plan reads the run's plan and the statuses of its batches. Unknown run:
// ErrUnknownRun.
func Plan(ctx context.Context, s runstate.Store, runID string) (plan.Plan, map[string]plan.Status, error) {
	p, _, err := runstate.GetJSON[plan.Plan](ctx, s, statekeys.Plan(runID))
	if errors.Is(err, runstate.ErrNotFound) {
		return plan.Plan{}, nil, fmt.Errorf("%w: %s (no plan in this store)", ErrUnknownRun, runID)
	}
	if err != nil {
		return plan.Plan{}, nil, fmt.Errorf("approval: read the plan of %s: %w", runID, err)
	}
	st, err := Statuses(ctx, s, runID)
	return p, st, err
}

// Statuses reads the plan status of every batch of a run that has a state
// (batches without one are pending), runstate.ReadConcurrency at a time: a
// run of a thousand lanes has more than a thousand states, read on every
// approval and every re-plan.
func Statuses(ctx context.Context, s runstate.Store, runID string) (map[string]plan.Status, error) {
	keys, err := s.List(ctx, statekeys.BatchPrefix(runID))
	if err != nil {
		return nil, fmt.Errorf("approval: list the batch states of %s: %w", runID, err)
	}
	type status struct {
		ID     string      `json:"id"`
		Status plan.Status `json:"planStatus"`
	}
	vs, errs := runstate.GetAllJSON[status](ctx, s, keys)
	out := make(map[string]plan.Status, len(keys))
	for i, b := range vs {
		switch err := errs[i]; {
		case errors.Is(err, runstate.ErrNotFound):
			continue // removed since the listing
		case err != nil:
			return nil, fmt.Errorf("approval: read batch state %s: %w", keys[i], err)
		}
		out[b.ID] = b.Status
	}
	return out, nil
}

// Read returns the run's approval; found is false when there is none.
func Read(ctx context.Context, s runstate.Store, runID string) (a Approval, found bool, err error) {
	a, _, err = runstate.GetJSON[Approval](ctx, s, statekeys.Approval(runID))
	if errors.Is(err, runstate.ErrNotFound) {
		return Approval{}, false, nil
	}
	if err != nil {
		return Approval{}, false, fmt.Errorf("approval: read the approval of %s: %w", runID, err)
	}
	return a, true, nil
}

// Approve records that by approved the run's plan of digest want (empty:
// the plan's current digest, which the caller has shown). changed is false
// when that digest was already approved (nothing written). Unknown run:
// ErrUnknownRun; a plan without digest: ErrNoDigest; want not the plan's:
// ErrDigestMismatch; no pending batch: ErrNothingToApprove. In each of
// those cases nothing is written. A concurrent re-plan between the read
// and the write is caught by re-reading the plan inside the
// compare-and-swap.
func Approve(ctx context.Context, s runstate.Store, runID, want string, by Identity, at time.Time) (a Approval, changed bool, err error) {
	p, st, err := Plan(ctx, s, runID)
	if err != nil {
		return Approval{}, false, err
	}
	if err := Approvable(&p, st, want); err != nil {
		return Approval{}, false, err
	}
	sum := Summarize(&p, st)
	_, err = runstate.MutateJSON(ctx, s, statekeys.Approval(runID), func(cur *Approval, exists bool) error {
		// The plan may have been re-planned since it was read.
		p2, st2, err := Plan(ctx, s, runID)
		if err != nil {
			return err
		}
		if p2.Digest != p.Digest {
			return fmt.Errorf("%w: the plan of %s changed while it was being approved (now %s): read it again", ErrDigestMismatch, runID, p2.Digest)
		}
		if err := Approvable(&p2, st2, want); err != nil {
			return err
		}
		if exists && cur.Digest == p.Digest {
			a = *cur
			return errUnchanged
		}
		earlier := cur.Earlier
		if exists {
			earlier = append(earlier, cur.Digest)
		}
		*cur = Approval{RunID: runID, Digest: p.Digest, By: by, At: at.UTC(), Summary: sum, Batches: BatchDigests(&p2, st2), Earlier: earlier}
		a = *cur
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return a, false, nil
	}
	if err != nil {
		return Approval{}, false, err
	}
	return a, true, nil
}

var errUnchanged = errors.New("unchanged")

// Approvable is Approve's checks of the plan, without writing: a plan
// without digest (ErrNoDigest), want not its digest (ErrDigestMismatch),
// no pending batch (ErrNothingToApprove).
func Approvable(p *plan.Plan, st map[string]plan.Status, want string) error {
	if p.Digest == "" {
		return fmt.Errorf("%w: run %s was planned by a kmsmig without the approval gate: run discover again", ErrNoDigest, p.RunID)
	}
	if want != "" && want != p.Digest {
		return fmt.Errorf("%w: given %s, the plan of %s is %s", ErrDigestMismatch, want, p.RunID, p.Digest)
	}
	if len(Pending(p, st)) == 0 {
		return fmt.Errorf("%w: run %s has no pending batch", ErrNothingToApprove, p.RunID)
	}
	return nil
}

// Decision is what the gate found for a run.
type Decision struct {
	Approved bool
	// Reason says why not: "no approval" or "digest mismatch" (the plan
	// was re-planned after the approval); empty when approved.
	Reason string
	// PlanDigest is the plan's digest; Approval the approval found (nil
	// when none).
	PlanDigest string
	Approval   *Approval
}

// Reasons of a refusal.
const (
	ReasonNoApproval     = "no approval"
	ReasonDigestMismatch = "digest mismatch"
	ReasonNoDigest       = "plan without digest"
)

// Why is the refusal as a sentence naming the command that approves.
func (d Decision) Why(runID string) string {
	switch d.Reason {
	case "":
		return ""
	case ReasonDigestMismatch:
		return fmt.Sprintf("awaiting approval: the plan of %s changed since %s approved %s (now %s): run kmsmig approve --run %s",
			runID, d.Approval.By, d.Approval.Digest, d.PlanDigest, runID)
	case ReasonNoDigest:
		return fmt.Sprintf("awaiting approval: the plan of %s carries no digest (planned by an earlier kmsmig): run discover again, then kmsmig approve --run %s", runID, runID)
	}
	return fmt.Sprintf("awaiting approval: run kmsmig approve --run %s (plan %s)", runID, d.PlanDigest)
}

// Check decides whether the run's plan is approved: an approval of the
// digest its plan carries, or of batches that include every pending batch
// of the plan unchanged (a re-plan after some batches started, that
// changed none of the others). Unknown run: ErrUnknownRun.
func Check(ctx context.Context, s runstate.Store, runID string) (Decision, error) {
	p, err := readPlan(ctx, s, runID)
	if err != nil {
		return Decision{}, err
	}
	d := Decision{PlanDigest: p.Digest}
	a, found, err := Read(ctx, s, runID)
	if err != nil {
		return Decision{}, err
	}
	if found {
		d.Approval = &a
	}
	switch {
	case p.Digest == "":
		d.Reason = ReasonNoDigest
	case !found:
		d.Reason = ReasonNoApproval
	case a.Digest == p.Digest:
		d.Approved = true
	default:
		st, err := Statuses(ctx, s, runID)
		if err != nil {
			return Decision{}, err
		}
		if d.Approved = a.covers(&p, st); !d.Approved {
			d.Reason = ReasonDigestMismatch
		}
	}
	return d, nil
}

// readPlan returns the run's plan: the one ctx carries (plan.NewContext:
// the engine's lanes of one step ask the gate each), else the store's.
// Unknown run: ErrUnknownRun.
func readPlan(ctx context.Context, s runstate.Store, runID string) (plan.Plan, error) {
	if p, ok := plan.FromContext(ctx, runID); ok {
		return p, nil
	}
	p, _, err := runstate.GetJSON[plan.Plan](ctx, s, statekeys.Plan(runID))
	if errors.Is(err, runstate.ErrNotFound) {
		return plan.Plan{}, fmt.Errorf("%w: %s (no plan in this store)", ErrUnknownRun, runID)
	}
	if err != nil {
		return plan.Plan{}, fmt.Errorf("approval: read the plan of %s: %w", runID, err)
	}
	return p, nil
}

// Gate is the approval gate for the engine (migration.Approvals): it
// admits a run whose plan is approved.
type Gate struct {
	Store runstate.Store
}

// Approved reports whether runID's plan is approved; why is the refusal
// naming the command to run. Unknown run: ErrUnknownRun.
func (g Gate) Approved(ctx context.Context, runID string) (ok bool, why string, err error) {
	d, err := Check(ctx, g.Store, runID)
	if err != nil {
		return false, "", err
	}
	return d.Approved, d.Why(runID), nil
}

// Request is discover's record that a run's plan awaits approval
// (statekeys.ApprovalRequest), written under KMSMIG_APPROVAL=required
// only: its presence says the run needs an approval.
type Request struct {
	RunID   string    `json:"runId"`
	Digest  string    `json:"digest"`
	At      time.Time `json:"at"`
	Summary Summary   `json:"summary"`
}

// RequestApproval records that the run's plan (p, whose digest discover
// has set) awaits approval and returns the gate's decision on it.
func RequestApproval(ctx context.Context, s runstate.Store, p *plan.Plan, statuses map[string]plan.Status, at time.Time) (Decision, Summary, error) {
	sum := Summarize(p, statuses)
	_, err := runstate.MutateJSON(ctx, s, statekeys.ApprovalRequest(p.RunID), func(r *Request, _ bool) error {
		*r = Request{RunID: p.RunID, Digest: p.Digest, At: at.UTC(), Summary: sum}
		return nil
	})
	if err != nil {
		return Decision{}, sum, fmt.Errorf("approval: record the request of %s: %w", p.RunID, err)
	}
	d, err := Check(ctx, s, p.RunID)
	return d, sum, err
}

// Status is a run's approval as kmsmig status and the reports show it.
type Status struct {
	// Required is true when discover asked for an approval of the run.
	Required bool `json:"required"`
	Decision
}

// ReadStatus reads a run's approval status. Unknown run: ErrUnknownRun.
func ReadStatus(ctx context.Context, s runstate.Store, runID string) (Status, error) {
	_, _, err := runstate.GetJSON[Request](ctx, s, statekeys.ApprovalRequest(runID))
	if err != nil && !errors.Is(err, runstate.ErrNotFound) {
		return Status{}, fmt.Errorf("approval: read the request of %s: %w", runID, err)
	}
	d, cerr := Check(ctx, s, runID)
	if cerr != nil {
		return Status{}, cerr
	}
	return Status{Required: err == nil, Decision: d}, nil
}

// Line is the status as one line: approved by whom and when, or awaiting
// approval with the command to run; empty when no approval is required
// and none was given.
func (st Status) Line(runID string) string {
	switch {
	case st.Approved:
		return fmt.Sprintf("approved by %s at %s (digest %s)", st.Approval.By, st.Approval.At.UTC().Format("2006-01-02 15:04Z"), st.Approval.Digest)
	case st.Required:
		return st.Why(runID)
	}
	return ""
}
