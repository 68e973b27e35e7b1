package statekeys

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

// Current holds {"runId", "since"}: the run migrate, poll and rotate work
// on. discover sets it.
const Current = "current"

// Campaign holds the index of every run discover has started (the
// campaign of many nights): poll and rotate follow every run that still
// has work in flight.
const Campaign = "campaign.json"

// Control holds an operator's controls of a run (pause).
func Control(runID string) string { return Run(runID, "control.json") }

// Run is the key of one document of a run (inventory.json, plan.json,
// batches/..., ...): every key of a run starts with Run(runID, "").
func Run(runID, name string) string { return "runs/" + runID + "/" + name }

// Inventory is where discover keeps a run's inventory, the reference of
// verification.
func Inventory(runID string) string { return Run(runID, "inventory.json") }

// Verdicts is where discover keeps a run's verdicts.
func Verdicts(runID string) string { return Run(runID, "verdicts.json") }

// Plan is where discover keeps a run's plan; the engine appends retry
// batches to it.
func Plan(runID string) string { return Run(runID, "plan.json") }

// Estimate is where the run's per-resource task-time estimate lives.
func Estimate(runID string) string { return Run(runID, "estimate.json") }

// DiscoveryReport is where discover writes its report of a run.
func DiscoveryReport(runID string) (jsonKey, markdownKey string) {
	return Run(runID, "report.json"), Run(runID, "report.md")
}

// RunReport is where the engine writes the run report (timeline, per-lane
// figures, failures).
func RunReport(runID string) (jsonKey, markdownKey string) {
	return Run(runID, "report/run.json"), Run(runID, "report/run.md")
}

// DiscoveryFanout is where a discovery split over several discover
// invocations keeps its groups of lanes and which of them finished.
func DiscoveryFanout(runID string) string { return Run(runID, "discovery/fanout.json") }

// LaneInventory is where a fanned-out discovery keeps the inventory of
// lane l as soon as the lane is discovered: a lane with one is never
// discovered again by that run.
func LaneInventory(runID string, l estate.Lane) string {
	return LaneInventoryPrefix(runID) + l.Account + "/" + l.Region + ".json"
}

// LaneInventoryPrefix lists the lane inventories of a run.
func LaneInventoryPrefix(runID string) string { return Run(runID, "discovery/lanes/") }

// Batch is where batch batchID (<account>/<region>/b<seq>) of a run keeps
// its state.
func Batch(runID, batchID string) string { return Run(runID, "batches/"+batchID+".json") }

// BatchPrefix lists every batch state of a run.
func BatchPrefix(runID string) string { return Run(runID, "batches/") }

// LaneBatchPrefix lists the batch states of lane l (of every lane when l is
// zero).
func LaneBatchPrefix(runID string, l estate.Lane) string {
	if l == (estate.Lane{}) {
		return BatchPrefix(runID)
	}
	return BatchPrefix(runID) + l.Account + "/" + l.Region + "/"
}

// InstanceTurn is where a run records which batch is prepared (rotation
// off, no task yet) for KMS 3.0 instance id: one at a time, whatever lane
// it comes from.
func InstanceTurn(runID, id string) string { return Run(runID, "instances/"+Segment(id)+".json") }

// TaskAPIBlock is where migrate records that the task backend cannot run
// in lane l of a run, or in every lane of l.Account when l.Region is
// empty: no rotation is switched off there again in that run.
func TaskAPIBlock(runID string, l estate.Lane) string {
	if l.Region == "" {
		return Run(runID, "blocks/"+l.Account+".json")
	}
	return Run(runID, "blocks/"+l.Account+"/"+l.Region+".json")
}

// Ledger is where the rotation ledger entry of a key or secret (id, its
// key id or secret name) of lane l lives. The ledger belongs to the
// campaign, not to a run: an entry lives from kmsmig's switch-off to its
// verified restore, whatever runs and nights that spans.
func Ledger(l estate.Lane, kind verdict.ResourceKind, id string) string {
	return fmt.Sprintf("%s%s/%s/%s/%s.json", LedgerPrefix, l.Account, l.Region, kind, Segment(id))
}

// LedgerPrefix lists every rotation ledger entry of the campaign.
const LedgerPrefix = "ledger/"

// LegacyLedgerPrefix lists the rotation ledger a run kept under its own
// keys before the ledger became the campaign's (state written by earlier
// versions); the sweep adopts what it finds there.
func LegacyLedgerPrefix(runID string) string { return Run(runID, "rotation/") }

// Handoff is where the observe backend publishes batch batchID for its
// operator: the document as JSON and as a Markdown list.
func Handoff(runID, batchID string) (jsonKey, markdownKey string) {
	base := Run(runID, "handoff/"+batchID)
	return base + ".json", base + ".md"
}

// Approval is where a run's approval lives (shared/approval): the digest
// of the plan a person approved, who and when. The authority migrate
// consults under KMSMIG_APPROVAL=required.
func Approval(runID string) string { return Run(runID, "approval.json") }

// ApprovalRequest is where discover, under KMSMIG_APPROVAL=required,
// records that a run's plan awaits approval (its digest and summary).
func ApprovalRequest(runID string) string { return Run(runID, "approval-request.json") }

// Notice is the once-only marker of a notification about a run (e.g.
// night-ended-2026-11-29T06:00): created by whichever function sends it
// first, so that it is sent once whatever the alert period.
func Notice(runID, name string) string { return Run(runID, "notices/"+Segment(name)+".json") }

// ApprovalSignalPrefix is the prefix, relative to the store's own prefix,
// of the objects that announce an approval to the OSS trigger of migrate
// (suffix .json). They are plain objects outside the store's keys (an
// OSS store writes every key as a log of versions whose names end in
// digits, so no key can match the trigger's suffix); their content is
// never trusted.
const ApprovalSignalPrefix = "approvals/"

// ApprovalSignal is the name, relative to the store's prefix, of the
// object announcing an approval of run runID.
func ApprovalSignal(runID string) string { return ApprovalSignalPrefix + runID + ".json" }

// AlertPrefix holds the alert de-duplication entries, shared by every
// function instance and every run.
const AlertPrefix = "alerts/"

// Alert is where the de-duplication entry of alert key dedupKey lives: a
// fixed-length digest (SHA-256, hex), whatever the key holds. Alert keys
// carry resource names, and a secret named "app/config.obj" or a name of
// hundreds of bytes must not make the key invalid for the store (the
// alert would then be sent every minute). The entry keeps the key itself.
func Alert(dedupKey string) string {
	sum := sha256.Sum256([]byte(dedupKey))
	return AlertPrefix + hex.EncodeToString(sum[:])
}

// MaxSegment is the longest segment Segment returns: with ".json" after it
// a segment is exactly at the stores' limit (240 bytes), so every name
// whose escaped key was valid before keeps that key (ledger entries in
// flight are found again), and a ledger key stays under 512 bytes.
const MaxSegment = 235

// digestSep separates, in a segment too long to be escaped whole, the
// escaped beginning of the name from its digest. Escape never writes it,
// so such a segment never equals the escape of another name.
const digestSep = "~"

// Segment makes a key id or secret name one safe key segment of at most
// MaxSegment bytes: Escape(s) when that fits (the layout stores already
// hold), otherwise the escaped beginning of s, "~" and the SHA-256 (hex) of
// the whole of s. Distinct names give distinct segments either way; no
// segment holds "/" or "..", begins with a dot or ends in ".obj". A secret
// name of 192 characters (KMS's limit) may escape to 576 bytes, and a
// hostile listing can hold any name: neither makes an invalid key.
func Segment(s string) string {
	e := Escape(s)
	if len(e) <= MaxSegment {
		return e
	}
	sum := sha256.Sum256([]byte(s))
	head := e[:MaxSegment-len(digestSep)-2*len(sum)]
	// Never cut an escape (%XX) in two.
	if i := strings.LastIndexByte(head, '%'); i >= 0 && i > len(head)-3 {
		head = head[:i]
	}
	return head + digestSep + hex.EncodeToString(sum[:])
}

// Escape makes a key id or secret name one safe key segment: every byte
// outside [A-Za-z0-9_=+@-] becomes %XX (so "/", "." and "%" never appear
// raw, and no segment can start with a dot or end in ".obj").
func Escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '_', c == '=', c == '+', c == '@', c == '-':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
