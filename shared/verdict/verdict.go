package verdict

import (
	"cmp"

	"github.com/kmsmig/kmsmig/shared/estate"
)

// Kind is the one classification a resource receives.
type Kind string

// Verdict kinds.
const (
	// AlreadyMigrated: the resource lives in a KMS 3.0 instance.
	AlreadyMigrated Kind = "already-migrated"
	// Migratable: the resource can go into the lane's target now (a
	// secret under a CMK of this run still waits for that CMK's batch).
	Migratable Kind = "migratable"
	// MigratableOnceRotationOff: as Migratable, but its automatic rotation
	// must be switched off first and back on after the migration.
	MigratableOnceRotationOff Kind = "migratable-once-rotation-off"
	// Blocked: the resource does not migrate; Reason says why.
	Blocked Kind = "blocked"
)

// WillMigrate reports whether a resource with this verdict belongs in a
// plan.
func (k Kind) WillMigrate() bool { return k == Migratable || k == MigratableOnceRotationOff }

// ResourceKind distinguishes keys from secrets in a Verdict.
type ResourceKind string

// Resource kinds; keys order before secrets.
const (
	ResourceKey    ResourceKind = "key"
	ResourceSecret ResourceKind = "secret"
)

// Verdict is the classification of one key or secret of a lane. It carries
// the labels the planner filters on (aliases, tags), so that a plan can be
// made from verdicts alone.
type Verdict struct {
	Lane     estate.Lane  `json:"lane"`
	Resource ResourceKind `json:"resource"`
	// ID is the key ID or the secret name.
	ID      string `json:"id"`
	Verdict Kind   `json:"verdict"`
	// Reason and Remediation are set when Verdict is Blocked.
	Reason      Reason `json:"reason,omitempty"`
	Remediation string `json:"remediation,omitempty"`
	// InstanceID is where the resource goes (the lane's target) or, when
	// already migrated, where it is; empty when blocked.
	InstanceID string `json:"instanceId,omitempty"`
	// DependsOn is the ID of the CMK that migrates in this run and must be
	// in an earlier batch than this secret.
	DependsOn string            `json:"dependsOn,omitempty"`
	Aliases   []string          `json:"aliases,omitempty"`
	Tags      map[string]string `json:"tags,omitempty"`
}

// Compare orders verdicts by lane, keys before secrets, then ID; it is the
// canonical order of Verdicts.Resources.
func (v Verdict) Compare(o Verdict) int {
	return cmp.Or(v.Lane.Compare(o.Lane), cmp.Compare(rank(v.Resource), rank(o.Resource)), cmp.Compare(v.ID, o.ID))
}

func rank(k ResourceKind) int {
	if k == ResourceKey {
		return 0
	}
	return 1
}

// Finding is something Classify noticed about a lane or an instance: a
// blocker that applies to every resource of the lane, or a warning.
type Finding struct {
	Reason      Reason   `json:"reason"`
	Severity    Severity `json:"severity"`
	InstanceID  string   `json:"instanceId,omitempty"`
	Remediation string   `json:"remediation"`
}

// Candidate is an instance considered as a lane's target, with what
// disqualifies it (Usable is false when a finding blocks).
type Candidate struct {
	InstanceID   string              `json:"instanceId"`
	Kind         estate.InstanceKind `json:"kind"`
	ImageVersion string              `json:"imageVersion,omitempty"`
	Owner        string              `json:"owner"`
	Usable       bool                `json:"usable"`
	Findings     []Finding           `json:"findings,omitempty"`
}

// LaneFinding is what Classify concluded about a lane as a whole: the
// target instance and why it was chosen, the candidates, and lane-wide
// findings (a blocker that blocks every resource, and warnings).
type LaneFinding struct {
	Lane estate.Lane `json:"lane"`
	// InstanceID is the chosen target; empty when the lane has none.
	InstanceID string `json:"instanceId,omitempty"`
	// Choice explains how the target was chosen, or why there is none.
	Choice     string      `json:"choice"`
	Candidates []Candidate `json:"candidates,omitempty"`
	Findings   []Finding   `json:"findings,omitempty"`
}

// Blocker returns the lane's blocking finding and true, or false when the
// lane can migrate.
func (lf LaneFinding) Blocker() (Finding, bool) {
	for _, f := range lf.Findings {
		if f.Severity != SeverityWarning && f.Severity != SeverityInfo {
			return f, true
		}
	}
	return Finding{}, false
}

// InstanceUse is how much of one target instance's quota this run spends:
// what is free, what the lanes targeting it would migrate, and what did not
// fit (blocked instance-quota-too-small).
type InstanceUse struct {
	InstanceID      string        `json:"instanceId"`
	Lanes           []estate.Lane `json:"lanes"`
	FreeKeys        int           `json:"freeKeys"`
	FreeSecrets     int           `json:"freeSecrets"`
	Keys            int           `json:"keys"`
	Secrets         int           `json:"secrets"`
	OverflowKeys    int           `json:"overflowKeys,omitempty"`
	OverflowSecrets int           `json:"overflowSecrets,omitempty"`
}

// Counts summarises Verdicts. NeedsAction counts blocked resources whose
// reason asks something of a person (service keys excluded).
type Counts struct {
	Keys        int            `json:"keys"`
	Secrets     int            `json:"secrets"`
	ByVerdict   map[Kind]int   `json:"byVerdict"`
	ByReason    map[Reason]int `json:"byReason,omitempty"`
	NeedsAction int            `json:"needsAction"`
	Warnings    int            `json:"warnings"`
}

// Verdicts is the classification of a whole inventory: one Verdict per
// resource, in canonical order, plus the per-lane and per-instance
// findings. It encodes to stable JSON and is what the planner consumes.
type Verdicts struct {
	RunID     string        `json:"runId"`
	Settings  Settings      `json:"settings"`
	Resources []Verdict     `json:"resources"`
	Lanes     []LaneFinding `json:"lanes"`
	Instances []InstanceUse `json:"instances,omitempty"`
	Counts    Counts        `json:"counts"`
}

// Lane returns the finding of lane l and true, or false when the
// verdicts do not cover l.
func (vs *Verdicts) Lane(l estate.Lane) (LaneFinding, bool) {
	for _, lf := range vs.Lanes {
		if lf.Lane == l {
			return lf, true
		}
	}
	return LaneFinding{}, false
}

// Instance returns the quota use of instance id and true, or false when no
// lane targets it.
func (vs *Verdicts) Instance(id string) (InstanceUse, bool) {
	for _, iu := range vs.Instances {
		if iu.InstanceID == id {
			return iu, true
		}
	}
	return InstanceUse{}, false
}

// Find returns the verdict of the resource named id of kind rk in lane l
// and true, or false when there is none. When several secrets share a
// name, it returns the first one that will migrate, if any.
func (vs *Verdicts) Find(l estate.Lane, rk ResourceKind, id string) (Verdict, bool) {
	var found Verdict
	ok := false
	for _, v := range vs.Resources {
		if v.Lane == l && v.Resource == rk && v.ID == id {
			if v.Verdict.WillMigrate() {
				return v, true
			}
			if !ok {
				found, ok = v, true
			}
		}
	}
	return found, ok
}
