package kms

import (
	"fmt"
	"slices"
	"time"
)

// Test controls. These are not KMS operations (the twin serves no key or
// secret life-cycle calls): tests use them to change an estate between two
// nights of a campaign the way its owners do in the console. Like the
// console, they are refused (Rejected.MigrationInProgress) while a running
// migration task holds the resource (a deletion: while any unfinished task
// does, since a task never loses a resource it was created with); an
// unknown key or secret is Forbidden.KeyNotFound or
// Forbidden.ResourceNotFound.

// pendingWindow is the waiting period SetKeyState gives a key scheduled
// for deletion.
const pendingWindow = 7 * 24 * time.Hour

// SetKeyState puts key keyID of lane l in state: Disabled (disabled by its
// owner), PendingDeletion (deletion scheduled, DeleteDate a week from now),
// Enabled (enabled again, or its deletion cancelled) or PendingImport.
func (t *Twin) SetKeyState(l Lane, keyID, state string) error {
	switch state {
	case "Enabled", "Disabled", "PendingDeletion", "PendingImport":
	default:
		return errParam("KeyState", fmt.Sprintf("%q: want Enabled, Disabled, PendingDeletion or PendingImport", state))
	}
	t.advance()
	t.mu.Lock()
	defer t.mu.Unlock()
	k := t.region(l).lookupKey(keyID)
	if k == nil {
		return errKeyNotFound(keyID)
	}
	if tk := t.runningTaskOf(l, resKey, k.id); tk != nil {
		return errInMigration("key", k.id, tk.id)
	}
	k.state, k.deleteDate = state, time.Time{}
	if state == "PendingDeletion" {
		k.deleteDate = t.opts.Clock.Now().Add(pendingWindow)
	}
	return nil
}

// DeleteSecret removes secret name of lane l, as a forced deletion
// (without recovery window) does.
func (t *Twin) DeleteSecret(l Lane, name string) error {
	t.advance()
	t.mu.Lock()
	defer t.mu.Unlock()
	rs := t.region(l)
	if rs == nil || rs.secretsBy[name] == nil {
		return errSecretNotFound(name)
	}
	if tk := t.unfinishedTaskOf(l, resSecret, name); tk != nil {
		return errInMigration("secret", name, tk.id)
	}
	s := rs.secretsBy[name]
	rs.secrets = slices.DeleteFunc(rs.secrets, func(x *secret) bool { return x == s })
	delete(rs.secretsBy, name)
	return nil
}

// unfinishedTaskOf returns a task of the lane not yet Completed that holds
// a resource, or nil. The caller holds t.mu.
func (t *Twin) unfinishedTaskOf(l Lane, kind, id string) *task {
	for _, tid := range t.taskOrder {
		if tk := t.tasks[tid]; tk.status != TaskCompleted && tk.lane == l && tk.holds(kind, id) {
			return tk
		}
	}
	return nil
}
