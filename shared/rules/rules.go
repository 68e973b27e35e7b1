package rules

import (
	"slices"
	"time"
)

// StatusConnected is the one instance status (GetKmsInstance Status) in
// which an instance takes migrations. The others the API documents are
// Uninitialized, Connecting, Disconnected and Error.
const StatusConnected = "Connected"

// InstanceProblem says why the migration tool refuses tasks into an
// instance; the zero value means it accepts them.
type InstanceProblem string

// Instance problems, in the order CheckInstance tests them.
const (
	InstanceUsable InstanceProblem = ""
	// InstanceExpired: the instance's end date is not after the moment of
	// the check. An expired instance is released after a grace period,
	// and its keys' data with it.
	InstanceExpired InstanceProblem = "expired"
	// InstanceNotConnected: the instance's status is not Connected (an
	// empty status, not reported, counts as not Connected).
	InstanceNotConnected InstanceProblem = "not-connected"
)

// CheckInstance applies the instance rule to an instance with this status
// and end date at now. A zero expires means the end date is unknown, which
// is not taken as expired (the status still has to be Connected).
func CheckInstance(status string, expires, now time.Time) InstanceProblem {
	switch {
	case !expires.IsZero() && !expires.After(now):
		return InstanceExpired
	case status != StatusConnected:
		return InstanceNotConnected
	}
	return InstanceUsable
}

// MayMigrateInto returns the accounts that may migrate into an instance:
// its owner and the accounts it is shared with, sorted, without
// duplicates or empty IDs.
func MayMigrateInto(owner string, sharedWith []string) []string {
	out := make([]string, 0, 1+len(sharedWith))
	if owner != "" {
		out = append(out, owner)
	}
	for _, a := range sharedWith {
		if a != "" {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// SecretHolders records, for one instance, which of the accounts that may
// migrate into it hold a secret of each name still in KMS 1.0 (in the
// instance's region). Secrets already in an instance do not count: they
// no longer migrate. The zero value is empty and ready to use.
type SecretHolders struct {
	byName map[string][]string // name → accounts, sorted, unique
}

// Add records that account holds a KMS 1.0 secret named name.
func (h *SecretHolders) Add(account, name string) {
	if h.byName == nil {
		h.byName = map[string][]string{}
	}
	accts := h.byName[name]
	if i, found := slices.BinarySearch(accts, account); !found {
		h.byName[name] = slices.Insert(accts, i, account)
	}
}

// OtherHolders applies the duplicate-name rule to account's secret name:
// it returns the other accounts holding a secret of that name, sorted.
// One instance holds one secret per name and names do not change in
// migration, so every copy is refused while another exists, whichever
// account asks first; an empty result means no clash.
func (h SecretHolders) OtherHolders(account, name string) []string {
	var out []string
	for _, a := range h.byName[name] {
		if a != account {
			out = append(out, a)
		}
	}
	return out
}
