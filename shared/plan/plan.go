package plan

import (
	"fmt"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

// Exclusion reasons the planner adds to the verdict reason codes.
const (
	// NotIncluded: include filters are set and none matches the resource.
	NotIncluded verdict.Reason = "not-included"
	// ExcludedByFilter: an exclude filter matches the resource.
	ExcludedByFilter verdict.Reason = "excluded-by-filter"
	// CMKNotPlanned: the secret's CMK must migrate first but is not in
	// this plan (filtered out, or stopped by quota).
	CMKNotPlanned verdict.Reason = "cmk-not-planned"
	// InFlightInEarlierRun: a batch of an earlier run of the campaign is
	// migrating the resource now; it is planned again, if it still needs
	// to move, by the first discover after that batch ends.
	InFlightInEarlierRun verdict.Reason = "in-flight-in-earlier-run"
)

// Held is a resource that a batch of another run holds in flight (its
// task may be migrating it right now): the planner leaves it out and
// counts it against its instance's quota.
type Held struct {
	Lane       estate.Lane          `json:"lane"`
	Resource   verdict.ResourceKind `json:"resource"`
	ID         string               `json:"id"`
	InstanceID string               `json:"instanceId"`
	RunID      string               `json:"runId"`
	BatchID    string               `json:"batchId"`
}

// Status is the progress of one batch, as the run state records it. The
// planner only needs to tell pending batches from the others.
type Status string

// Batch statuses, in the order a batch goes through them; failed ends a
// batch like done.
const (
	StatusPending   Status = "pending"
	StatusSubmitted Status = "submitted"
	StatusRunning   Status = "running"
	StatusDone      Status = "done"
	StatusFailed    Status = "failed"
)

// Frozen reports whether a batch with this status may no longer change:
// anything but pending (an empty status counts as pending).
func (s Status) Frozen() bool { return s != "" && s != StatusPending }

// InFlight reports whether the batch's resources may be migrating right
// now (submitted or running, or a status this version does not know), so
// that no other batch may carry them.
func (s Status) InFlight() bool { return s.Frozen() && s != StatusDone && s != StatusFailed }

// Batch is one migration task: keys and secrets of one lane that go into
// one instance together. Seq orders the batches of a lane; a batch runs
// only after every batch of its lane with a lower Seq has finished.
type Batch struct {
	// ID is `<account>/<region>/b<seq>`, unique within a run and never
	// reused by Replan for different content once frozen.
	ID         string      `json:"id"`
	Lane       estate.Lane `json:"lane"`
	InstanceID string      `json:"instanceId"`
	Seq        int         `json:"seq"`
	Keys       []string    `json:"keys,omitempty"`
	Secrets    []string    `json:"secrets,omitempty"`
	// KeysRotationOff and SecretsRotationOff name the batch's resources
	// whose automatic rotation must be switched off before the task is
	// submitted and back on once they have migrated.
	KeysRotationOff    []string `json:"keysRotationOff,omitempty"`
	SecretsRotationOff []string `json:"secretsRotationOff,omitempty"`
}

// BatchID returns the ID of batch seq of lane.
func BatchID(lane estate.Lane, seq int) string { return fmt.Sprintf("%s/b%04d", lane, seq) }

// Exclusion is a resource the plan leaves out, with the reason code (a
// verdict reason or one of the planner's) and a sentence saying what to do.
type Exclusion struct {
	Resource verdict.ResourceKind `json:"resource"`
	ID       string               `json:"id"`
	Reason   verdict.Reason       `json:"reason"`
	Detail   string               `json:"detail,omitempty"`
}

// LanePlan is the plan of one lane.
type LanePlan struct {
	Lane       estate.Lane `json:"lane"`
	InstanceID string      `json:"instanceId,omitempty"`
	// Batches run in order; frozen batches kept by Replan come first.
	Batches  []Batch     `json:"batches,omitempty"`
	Excluded []Exclusion `json:"excluded,omitempty"`
	// AlreadyMigrated counts the lane's resources that need nothing.
	AlreadyMigrated int `json:"alreadyMigrated,omitempty"`
	// Stopped says why planning stopped short of the lane's migratable
	// resources (the target instance's quota), empty when it did not.
	Stopped string `json:"stopped,omitempty"`
}

// Plan is the migration plan of a run: lanes in canonical order, each with
// its batches.
type Plan struct {
	RunID    string     `json:"runId"`
	Settings Settings   `json:"settings"`
	Lanes    []LanePlan `json:"lanes"`
	// Digest is the digest of the plan's pending batches when discover
	// stored it (shared/approval.Digest): what an approval names. The
	// retry batches the engine appends later do not change it (they retry
	// approved resources); a re-plan by discover computes it afresh.
	Digest string `json:"digest,omitempty"`
}

// Batch returns the batch with id and true, or false when the plan has no
// such batch.
func (p *Plan) Batch(id string) (Batch, bool) {
	for _, lp := range p.Lanes {
		for _, b := range lp.Batches {
			if b.ID == id {
				return b, true
			}
		}
	}
	return Batch{}, false
}

// BatchCount returns the number of batches across all lanes.
func (p *Plan) BatchCount() int {
	n := 0
	for _, lp := range p.Lanes {
		n += len(lp.Batches)
	}
	return n
}
