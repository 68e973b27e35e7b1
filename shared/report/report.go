package report

import (
	"time"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

// Markdown listing defaults.
const (
	// DefaultMaxRows is how many rows one Markdown listing shows before it
	// says "… and N more".
	DefaultMaxRows = 200
	// DefaultMaxIDs is how many key IDs and secret names a batch row shows
	// in Markdown.
	DefaultMaxIDs = 3
	// DefaultJSONName is the file the Markdown points to for what it
	// leaves out.
	DefaultJSONName = "report.json"
)

// RunIDMismatch is the warning reason the report adds when the inventory,
// the verdicts and the plan name different runs: the report then mixes
// runs and its figures cannot be trusted together.
const RunIDMismatch verdict.Reason = "run-id-mismatch"

// Options tune Build. The zero value is valid and gives the defaults.
type Options struct {
	// BatchStatus is the recorded status of batches by batch ID, as the
	// run state holds it. When nil or empty the task status column stays
	// empty; otherwise a planned batch missing from it counts as pending,
	// as plan.Replan reads it.
	BatchStatus map[string]plan.Status
	// Verbose lists service keys one by one; without it they are only
	// counted per lane.
	Verbose bool
	// MaxRows caps each Markdown listing (0: DefaultMaxRows). JSON is never
	// capped.
	MaxRows int
	// MaxIDs caps the IDs a Markdown batch row shows (0: DefaultMaxIDs).
	MaxIDs int
	// JSONName is the file name the Markdown cites for what it leaves out
	// (empty: DefaultJSONName).
	JSONName string
	// Previous is the campaign's previous run; when it has an inventory the
	// report gains its changes section. Nil: no section.
	Previous *Previous
}

// Limits is how Markdown caps its listings, recorded in the Report so that
// a report decoded from JSON renders the same Markdown.
type Limits struct {
	// MaxRows is the most rows one Markdown listing shows.
	MaxRows int `json:"maxRows"`
	// MaxIDs is the most IDs a Markdown batch row shows.
	MaxIDs int `json:"maxIds"`
	// JSONName is the file the Markdown cites for what it leaves out.
	JSONName string `json:"jsonName"`
}

// Report is the discovery and plan report of one run. Build fills it;
// every list is in a deterministic order, so the same inputs give the same
// JSON byte for byte, and a Report decoded from that JSON renders the same
// Markdown. Sections whose input was not given (verdicts, plan) are empty.
type Report struct {
	RunID        string    `json:"runId"`
	DiscoveredAt time.Time `json:"discoveredAt,omitzero"`
	Summary      Summary   `json:"summary"`
	// Regions is the migration console's table: one row per lane.
	Regions []RegionRow `json:"regions,omitempty"`
	// Blocked groups the blocked resources that need a person by reason,
	// blockers before decisions; service keys are not among them.
	Blocked  []BlockedGroup `json:"blocked,omitempty"`
	Warnings []Warning      `json:"warnings,omitempty"`
	// ServiceKeys counts service keys per lane (lanes without any are
	// left out).
	ServiceKeys []ServiceKeys `json:"serviceKeys,omitempty"`
	// Changes is what changed since the previous run; nil without one
	// (Options.Previous).
	Changes *Changes `json:"changes,omitempty"`
	// Plan is nil when Build got no plan.
	Plan *PlanSection `json:"plan,omitempty"`
	// Terraform is nil when no key or secret migrates or has migrated.
	Terraform *Terraform `json:"terraform,omitempty"`
	Limits    Limits     `json:"limits"`
}

// LaneRef names a lane as two fields, so that JSON consumers can filter on
// the account or the region without parsing `account/region`.
type LaneRef struct {
	Account string `json:"account"`
	Region  string `json:"region"`
}

// Lane returns the estate lane r names.
func (r LaneRef) Lane() estate.Lane { return estate.Lane{Account: r.Account, Region: r.Region} }

func refOf(l estate.Lane) LaneRef { return LaneRef{Account: l.Account, Region: l.Region} }

// Summary is the report at a glance.
type Summary struct {
	Lanes    int `json:"lanes"`
	Accounts int `json:"accounts"`
	Regions  int `json:"regions"`
	Keys     int `json:"keys"`
	Secrets  int `json:"secrets"`
	// Verdicts counts resources per verdict kind, every kind present;
	// nil without verdicts. Its "blocked" includes service keys.
	Verdicts map[verdict.Kind]int `json:"verdicts,omitempty"`
	// Blocked counts blocked resources that need a person: service keys
	// excluded. ByReason splits it by reason code.
	Blocked  int                    `json:"blocked"`
	ByReason map[verdict.Reason]int `json:"byReason,omitempty"`
	// ServiceKeys counts service keys: no action needed.
	ServiceKeys    int `json:"serviceKeys"`
	Batches        int `json:"batches"`
	PlannedKeys    int `json:"plannedKeys"`
	PlannedSecrets int `json:"plannedSecrets"`
	// RotationOff counts planned resources whose automatic rotation must
	// be switched off before their batch and back on after it.
	RotationOff int `json:"rotationOff"`
	// Excluded counts resources the planner left out although their
	// verdict would migrate (filters, a CMK not planned, a quota stop).
	Excluded int `json:"excluded"`
	Warnings int `json:"warnings"`
	// TerraformResources counts the keys and secrets that carry, or will
	// carry, dkms_instance_id.
	TerraformResources int `json:"terraformResources"`
	// IncompleteLanes are the lanes where discovery met errors: what they
	// list is true, but something may be missing.
	IncompleteLanes []IncompleteLane `json:"incompleteLanes,omitempty"`
}

// IncompleteLane is a lane whose discovery met errors, with the errors.
type IncompleteLane struct {
	LaneRef
	Errors []estate.DiscoveryError `json:"errors"`
}

// RegionRow is one row of the migration console's per-region table, for
// one (account, region). Service keys are counted apart: they never
// migrate, so they are not "not migrated".
type RegionRow struct {
	LaneRef
	KeysNotMigrated    int `json:"keysNotMigrated"`
	KeysMigrated       int `json:"keysMigrated"`
	SecretsNotMigrated int `json:"secretsNotMigrated"`
	SecretsMigrated    int `json:"secretsMigrated"`
	ServiceKeys        int `json:"serviceKeys"`
	// TargetInstance is the lane's target; empty when it has none, and
	// then NoTargetReason says why (when the verdicts say).
	TargetInstance string         `json:"targetInstance,omitempty"`
	NoTargetReason verdict.Reason `json:"noTargetReason,omitempty"`
	Batches        int            `json:"batches"`
	// Tasks counts the lane's batches per status; nil when no batch
	// status was given.
	Tasks map[plan.Status]int `json:"tasks,omitempty"`
	// DiscoveryErrors > 0 marks an incomplete lane.
	DiscoveryErrors int `json:"discoveryErrors,omitempty"`
	// TaskAPI is what discovery's probe of the migration task API found:
	// "available", or "unavailable <code>"; empty when the lane was not
	// probed (the observe backend).
	TaskAPI string `json:"taskApi,omitempty"`
}

// TaskAPIWords says what a task API probe found, as the report shows it:
// "available", "unavailable <code>", or "" when there was no probe.
func TaskAPIWords(p *estate.TaskAPIProbe) string {
	switch {
	case p == nil:
		return ""
	case p.Available:
		return "available"
	}
	return "unavailable " + p.Code
}

// BlockedGroup is every blocked resource sharing one reason code, with the
// reason table's remediation sentence.
type BlockedGroup struct {
	Reason    verdict.Reason    `json:"reason"`
	Severity  verdict.Severity  `json:"severity"`
	Action    string            `json:"action"`
	Count     int               `json:"count"`
	Resources []BlockedResource `json:"resources"`
}

// BlockedResource identifies one blocked key or secret. Detail is the
// verdict's own remediation, with names and figures.
type BlockedResource struct {
	LaneRef
	Resource verdict.ResourceKind `json:"resource"`
	// ID is the key ID or the secret name.
	ID      string   `json:"id"`
	Aliases []string `json:"aliases,omitempty"`
	// EncryptionKeyID is the CMK of a secret, empty under the
	// system-managed key.
	EncryptionKeyID string `json:"encryptionKeyId,omitempty"`
	Detail          string `json:"detail,omitempty"`
}

// Warning is something a person should act on that blocks nothing: an
// instance expiring without auto-renewal, an unverified image, incomplete
// discovery, a plan stopped by quota, inputs from different runs. One
// warning about one instance seen from several lanes is reported once.
type Warning struct {
	Reason     verdict.Reason `json:"reason"`
	InstanceID string         `json:"instanceId,omitempty"`
	Lanes      []LaneRef      `json:"lanes,omitempty"`
	Message    string         `json:"message"`
}

// ServiceKeys is the count of one lane's service keys; Keys lists them
// only when Options.Verbose was set.
type ServiceKeys struct {
	LaneRef
	Count int      `json:"count"`
	Keys  []KeyRef `json:"keys,omitempty"`
}

// KeyRef identifies a key by ID, aliases and creator.
type KeyRef struct {
	ID      string   `json:"id"`
	Aliases []string `json:"aliases,omitempty"`
	Creator string   `json:"creator,omitempty"`
}

// PlanSection is the batch plan, lane by lane, with every ID.
type PlanSection struct {
	Settings plan.Settings `json:"settings"`
	Lanes    []PlanLane    `json:"lanes,omitempty"`
}

// PlanLane is the plan of one lane: batches in the order they run, and
// what the plan leaves out.
type PlanLane struct {
	LaneRef
	InstanceID      string      `json:"instanceId,omitempty"`
	Batches         []BatchRow  `json:"batches,omitempty"`
	Excluded        []Exclusion `json:"excluded,omitempty"`
	AlreadyMigrated int         `json:"alreadyMigrated,omitempty"`
	// Stopped says why planning stopped short (instance quota).
	Stopped string `json:"stopped,omitempty"`
}

// BatchRow is one batch (one migration task) with all its IDs.
type BatchRow struct {
	ID         string `json:"id"`
	Seq        int    `json:"seq"`
	InstanceID string `json:"instanceId"`
	// Status is the recorded status; empty when no status was given.
	Status             plan.Status `json:"status,omitempty"`
	KeyCount           int         `json:"keyCount"`
	SecretCount        int         `json:"secretCount"`
	Keys               []string    `json:"keys,omitempty"`
	Secrets            []string    `json:"secrets,omitempty"`
	KeysRotationOff    []string    `json:"keysRotationOff,omitempty"`
	SecretsRotationOff []string    `json:"secretsRotationOff,omitempty"`
}

// Exclusion is a resource the plan leaves out. Planner is true when the
// planner, not the classification, left it out (filters, a CMK not
// planned, a quota stop); the others are also under Report.Blocked or
// Report.ServiceKeys.
type Exclusion struct {
	Resource verdict.ResourceKind `json:"resource"`
	ID       string               `json:"id"`
	Reason   verdict.Reason       `json:"reason"`
	Detail   string               `json:"detail,omitempty"`
	Planner  bool                 `json:"planner,omitempty"`
}

// Terraform resource types of the alicloud provider, the values of
// TerraformResource.Type.
const (
	// TerraformKey is the resource type of a KMS key.
	TerraformKey = "alicloud_kms_key"
	// TerraformSecret is the resource type of a KMS secret.
	TerraformSecret = "alicloud_kms_secret"
)

// Terraform is the guidance for Terraform-managed estates: after migration
// a key or secret carries dkms_instance_id, and a configuration that does
// not know it makes `terraform plan` destroy and recreate the resource.
// The attribute lists are the lifecycle.ignore_changes lists to add (for
// alicloud provider versions up to DropInstanceIDAfter); Resources maps
// every affected key and secret to the instance ID to write instead.
type Terraform struct {
	KeyIgnoreChanges    []string `json:"keyIgnoreChanges"`
	SecretIgnoreChanges []string `json:"secretIgnoreChanges"`
	// HardwareToSoftware is the attribute to add to a key's list when the
	// key moves from hardware to software protection.
	HardwareToSoftware string `json:"hardwareToSoftwareAttribute"`
	// DropInstanceIDAfter is the last alicloud provider version whose
	// lists keep dkms_instance_id; later versions drop it.
	DropInstanceIDAfter string              `json:"dropInstanceIdAfterProvider"`
	Resources           []TerraformResource `json:"resources"`
}

// TerraformResource is one key or secret that gains (or, Migrated, has
// gained) dkms_instance_id.
type TerraformResource struct {
	LaneRef
	// Type is TerraformKey or TerraformSecret.
	Type string `json:"type"`
	// ID is the key ID or the secret name.
	ID      string   `json:"id"`
	Aliases []string `json:"aliases,omitempty"`
	// InstanceID is the value of dkms_instance_id.
	InstanceID string `json:"dkmsInstanceId"`
	BatchID    string `json:"batchId,omitempty"`
	Migrated   bool   `json:"migrated,omitempty"`
	// AddProtectionLevel marks a key moving from hardware (HSM) to
	// software protection: add protection_level to its ignore_changes.
	AddProtectionLevel bool `json:"addProtectionLevel,omitempty"`
}
