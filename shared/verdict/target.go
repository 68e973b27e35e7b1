package verdict

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/rules"
)

// directory is every instance of the inventory by ID, so that an explicit
// target shared from another account's lane can be found, and so that
// every lane measures an instance's quota the same way.
type directory map[string]*dirEntry

type dirEntry struct {
	inst   estate.Instance // owner resolved; the owner's view when there is one
	seenBy estate.Lane
	// keyUsed and secretUsed are the highest usage any lane's view reports:
	// views are taken at slightly different times, and the higher one is
	// the safe one.
	keyUsed, secretUsed int
}

func newDirectory(lanes []*estate.LaneInventory) directory {
	d := directory{}
	for _, li := range lanes {
		for _, in := range li.Instances {
			if in.Owner == "" {
				in.Owner = li.Lane.Account
			}
			e, ok := d[in.ID]
			if !ok {
				d[in.ID] = &dirEntry{inst: in, seenBy: li.Lane, keyUsed: in.KeyUsed, secretUsed: in.SecretUsed}
				continue
			}
			if in.Owner == li.Lane.Account && e.inst.Owner != e.seenBy.Account {
				e.inst, e.seenBy = in, li.Lane
			}
			e.keyUsed = max(e.keyUsed, in.KeyUsed)
			e.secretUsed = max(e.secretUsed, in.SecretUsed)
		}
	}
	return d
}

func (e *dirEntry) freeKeys() int    { return max(e.inst.KeyQuota-e.keyUsed, 0) }
func (e *dirEntry) freeSecrets() int { return max(e.inst.SecretQuota-e.secretUsed, 0) }

// examine returns what disqualifies in as a target of lane (blockers) and
// what merely deserves a warning. visible says whether the lane's own
// account listed the instance: an account only sees instances it owns or
// that were shared with it, so when the sharing list is unknown (the public
// API does not report it) visibility stands for sharing.
func examine(in estate.Instance, lane estate.Lane, visible bool, s Settings, asOf time.Time) []Finding {
	var fs []Finding
	add := func(r Reason, format string, args ...any) {
		fs = append(fs, Finding{Reason: r, Severity: r.Severity(), InstanceID: in.ID, Remediation: fmt.Sprintf(format, args...)})
	}
	sharedByVisibility := visible && len(in.SharedWith) == 0
	if !in.UsableBy(lane.Account, lane.Account) && !sharedByVisibility {
		add(InstanceNotShared, "Instance %s is owned by account %s and not shared with account %s; the owner must share it within the resource directory.",
			in.ID, in.Owner, lane.Account)
	}
	minimum, how := s.MinSoftwareImage, "upgrade its image in the KMS console"
	if in.Kind == estate.InstanceHardware {
		minimum, how = s.MinHardwareImage, "ask the account manager for a version upgrade"
	}
	switch c, err := estate.CompareVersions(in.ImageVersion, minimum); {
	case err != nil:
		add(InstanceImageUnverified, "Instance %s did not report a usable image version (%q); check in the console that it runs %s or later, and %s if it is older.",
			in.ID, in.ImageVersion, minimum, how)
	case c < 0:
		add(InstanceImageTooOld, "Instance %s (%s) runs image %s, older than the required %s; %s before migrating.",
			in.ID, kindName(in.Kind), in.ImageVersion, minimum, how)
	}
	switch rules.CheckInstance(in.Status, in.Expires, asOf) {
	case rules.InstanceExpired:
		add(InstanceExpired, "Instance %s expired on %s; renew it before migrating: the migration tool refuses an expired instance, and once it is released the data its keys protect cannot be decrypted.",
			in.ID, in.Expires.UTC().Format(time.DateOnly))
	case rules.InstanceNotConnected:
		add(InstanceNotConnected, "Instance %s is %s, not %s; the migration tool refuses any other status: finish its VPC connection (or fix what the console shows) and run discovery again.",
			in.ID, cmp.Or(in.Status, "of unreported status"), rules.StatusConnected)
	}
	// Auto-renewal off is a warning whenever it is off (the guide
	// recommends it for every instance); louder when the end is near.
	warnBefore := asOf.AddDate(0, 0, s.ExpiryWarningDays)
	switch {
	case in.AutoRenew:
	case !in.Expires.IsZero() && in.Expires.After(asOf) && in.Expires.Before(warnBefore):
		add(InstanceExpiringNoRenew, "Instance %s expires on %s without auto-renewal; turn auto-renewal on: once it is released, the data its keys protect cannot be decrypted.",
			in.ID, in.Expires.UTC().Format(time.DateOnly))
	case in.Expires.IsZero() || in.Expires.After(asOf):
		add(InstanceNoAutoRenew, "Instance %s has auto-renewal off%s; the migration guide recommends it for every instance: once an expired instance is released, the data its keys protect cannot be decrypted.",
			in.ID, endsOn(in.Expires))
	}
	return fs
}

func endsOn(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " (it ends on " + t.UTC().Format(time.DateOnly) + ")"
}

func kindName(k estate.InstanceKind) string {
	if k == "" {
		return "kind unknown"
	}
	return string(k)
}

func blocking(fs []Finding) (Finding, bool) {
	for _, f := range fs {
		if f.Severity == SeverityBlocker || f.Severity == SeverityDecision {
			return f, true
		}
	}
	return Finding{}, false
}

// chooseTarget picks the lane's target instance. An explicit choice in
// Settings.Targets wins and is checked like any other. Otherwise the
// candidates are the instances discovered in the lane's region; the default
// is the usable one owned by the lane's account with the lowest ID, then
// the usable shared one with the lowest ID. Quota does not take part in the
// choice, so that a lane's target does not flip between runs as quota is
// spent.
func chooseTarget(li *estate.LaneInventory, dir directory, s Settings, asOf time.Time) LaneFinding {
	lane := li.Lane
	lf := LaneFinding{Lane: lane}
	var cands []estate.Instance
	for _, in := range li.Instances {
		if in.Region == lane.Region {
			if in.Owner == "" {
				in.Owner = lane.Account
			}
			cands = append(cands, in)
		}
	}
	slices.SortFunc(cands, func(a, b estate.Instance) int {
		return cmp.Or(-cmp.Compare(boolRank(a.Owner == lane.Account), boolRank(b.Owner == lane.Account)), cmp.Compare(a.ID, b.ID))
	})
	var usable []string
	for _, in := range cands {
		fs := examine(in, lane, true, s, asOf)
		_, blocked := blocking(fs)
		lf.Candidates = append(lf.Candidates, Candidate{
			InstanceID: in.ID, Kind: in.Kind, ImageVersion: in.ImageVersion, Owner: in.Owner, Usable: !blocked, Findings: fs,
		})
		if !blocked {
			usable = append(usable, in.ID)
		}
	}

	if id, ok := s.Targets[lane]; ok {
		lf.explicit(li, id, dir, s, asOf)
	} else {
		lf.byDefault(usable, unshared(lane, dir))
	}
	if p := li.TaskAPI; p.Unavailable() {
		// First: nothing else matters while no task can be created.
		lf.Findings = append([]Finding{{Reason: TaskAPIUnavailable, Severity: TaskAPIUnavailable.Severity(),
			Remediation: taskAPIRemedy(lane, p)}}, lf.Findings...)
	}
	if n := len(li.Errors); n > 0 {
		e := li.Errors[0]
		lf.Findings = append(lf.Findings, Finding{Reason: DiscoveryIncomplete, Severity: DiscoveryIncomplete.Severity(),
			Remediation: fmt.Sprintf("Discovery met %d error(s) in lane %s (first: %s %s %s); run it again before trusting what is absent.",
				n, lane, e.Op, e.Resource, cmp.Or(e.Code, e.Message))})
	}
	return lf
}

// taskAPIRemedy says what to do about a lane whose task API probe failed.
func taskAPIRemedy(lane estate.Lane, p *estate.TaskAPIProbe) string {
	if p.Permanent {
		return fmt.Sprintf("The migration task API is unavailable in lane %s: %s answered %s. Set KMSMIG_TASK_ACTIONS to the provider's task action names (and grant them to the role), or set KMSMIG_BACKEND=observe to start each batch in the console; then run discovery again. No rotation is switched off in this lane until then.",
			lane, p.Action, p.Code)
	}
	return fmt.Sprintf("The migration task API did not answer in lane %s: %s failed with %s. Run discovery again; if it keeps failing, set KMSMIG_TASK_ACTIONS or KMSMIG_BACKEND=observe. No rotation is switched off in this lane until then.",
		lane, p.Action, p.Code)
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (lf *LaneFinding) explicit(li *estate.LaneInventory, id string, dir directory, s Settings, asOf time.Time) {
	lane := lf.Lane
	var in estate.Instance
	found, visible := false, false
	for _, c := range li.Instances {
		if c.ID == id {
			in, found, visible = c, true, true
			if in.Owner == "" {
				in.Owner = lane.Account
			}
			break
		}
	}
	if e, ok := dir[id]; ok && !found {
		in, found = e.inst, true
	}
	switch {
	case !found:
		lf.block(NoTargetInstance, "", "Instance %s, set as the target of lane %s, was not found by discovery; check the ID or run discovery again.", id, lane)
		lf.Choice = "explicit target " + id + " not found"
		return
	case in.Region != lane.Region:
		lf.block(NoTargetInstance, id, "Instance %s, set as the target of lane %s, is in region %s; a lane can only migrate into an instance of its own region.", id, lane, in.Region)
		lf.Choice = "explicit target " + id + " is in another region"
		return
	}
	lf.Choice = "explicit target from settings"
	fs := examine(in, lane, visible, s, asOf)
	lf.Findings = append(lf.Findings, fs...)
	if _, blocked := blocking(fs); !blocked {
		lf.InstanceID = id
	}
}

// unshared returns the instances of lane's region that another account's
// lane discovered and that are not shared with lane's account, lowest ID
// first: when the lane has no instance of its own, sharing one of these is
// the fix.
func unshared(lane estate.Lane, dir directory) []estate.Instance {
	var out []estate.Instance
	for _, e := range dir {
		in := e.inst
		if in.Region == lane.Region && in.Owner != lane.Account && !slices.Contains(in.SharedWith, lane.Account) {
			out = append(out, in)
		}
	}
	slices.SortFunc(out, func(a, b estate.Instance) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func (lf *LaneFinding) byDefault(usable []string, unshared []estate.Instance) {
	lane := lf.Lane
	switch {
	case len(usable) == 1:
		lf.InstanceID = usable[0]
		lf.Choice = "the only usable instance in " + lane.Region
		lf.addWarnings(usable[0])
	case len(usable) > 1:
		lf.InstanceID = usable[0]
		owned := "shared with the account"
		for _, c := range lf.Candidates {
			if c.InstanceID == usable[0] && c.Owner == lane.Account {
				owned = "owned by the account"
			}
		}
		lf.Choice = fmt.Sprintf("%d usable instances in %s (%s); chose %s: %s, lowest ID; set an explicit target to choose another",
			len(usable), lane.Region, strings.Join(usable, ", "), usable[0], owned)
		lf.addWarnings(usable[0])
	case len(lf.Candidates) == 0 && len(unshared) > 0:
		in := unshared[0]
		lf.block(InstanceNotShared, in.ID, "Instance %s in %s belongs to account %s and is not shared with account %s; the owner must share it within the resource directory (or buy an instance for this account).",
			in.ID, lane.Region, in.Owner, lane.Account)
		lf.Choice = "no instance shared with the account in " + lane.Region + "; " + in.ID + " could be"
	case len(lf.Candidates) == 0:
		lf.block(NoTargetInstance, "", "No KMS 3.0 instance in region %s is visible to account %s; buy one or have one shared with the account.", lane.Region, lane.Account)
		lf.Choice = "no instance in " + lane.Region
	default:
		// Every candidate is disqualified: report the preferred one's
		// first problem as the lane's blocker.
		f, _ := blocking(lf.Candidates[0].Findings)
		lf.Findings = append(lf.Findings, f)
		lf.Choice = fmt.Sprintf("none of the %d instances in %s is usable; first choice %s: %s", len(lf.Candidates), lane.Region, lf.Candidates[0].InstanceID, f.Reason)
	}
}

func (lf *LaneFinding) addWarnings(id string) {
	for _, c := range lf.Candidates {
		if c.InstanceID != id {
			continue
		}
		for _, f := range c.Findings {
			if f.Severity == SeverityWarning {
				lf.Findings = append(lf.Findings, f)
			}
		}
	}
}

func (lf *LaneFinding) block(r Reason, id, format string, args ...any) {
	lf.Findings = append(lf.Findings, Finding{Reason: r, Severity: r.Severity(), InstanceID: id, Remediation: fmt.Sprintf(format, args...)})
}
