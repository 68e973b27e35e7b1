package kms

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kmsmig/kmsmig/twin/acs"
)

// Test controls: what the estate's owners do between two runs of a tool
// under test (create, delete, disable keys and secrets) and what a test
// needs to see of the provider's side (every migration task with its
// resources). They are methods of the twin only, not API operations: no
// handler serves them and no SDK reaches them. The chaos campaign
// (testinfra/chaos) drives them between its simulated nights.
//
// Like the control plane of the real service, they refuse with
// Rejected.MigrationInProgress (409) to touch a resource that a migration
// task has not finished with.

// AddKey creates a key in lane l as if its owner had created it now: k is
// checked as an inventory key (a lower-case UUID not used in the estate,
// aliases unique in the lane; no dkmsInstanceId: a new key lives in KMS
// 1.0). The lane must be one of the estate's.
func (t *Twin) AddKey(l Lane, k KeyInventory) error {
	t.advance()
	t.mu.Lock()
	defer t.mu.Unlock()
	rs, err := t.laneForControl(l)
	if err != nil {
		return err
	}
	c := &inventoryCheck{keyIDs: map[string]string{}, instances: map[string]*instRef{}}
	for _, a := range t.accounts {
		for _, r := range a.regions {
			for _, o := range r.keys {
				c.keyIDs[o.id] = "the estate"
			}
		}
	}
	aliases, laneKeys := map[string]bool{}, map[string]*KeyInventory{}
	for al := range rs.aliases {
		aliases[al] = true
	}
	if k.DKMSInstanceID != "" {
		c.add("key.dkmsInstanceId", "a new key lives in KMS 1.0")
	}
	c.key("key", l.Account, l.Region, &k, aliases, laneKeys)
	if len(c.probs) > 0 {
		return &InventoryError{c.probs}
	}
	if k.CreationDate == "" {
		k.CreationDate = fmtTime(t.opts.Clock.Now().Truncate(time.Second))
	}
	nk := k.build(l.Account, l.Region)
	rs.keys = append(rs.keys, nk)
	rs.keyByID[nk.id] = nk
	for _, al := range nk.aliases {
		rs.aliases[al] = nk
	}
	return nil
}

// AddSecret creates a secret in lane l as if its owner had created it now:
// s is checked as an inventory secret (a name not used in the lane, an
// encryption key of the lane; no dkmsInstanceId).
func (t *Twin) AddSecret(l Lane, s SecretInventory) error {
	t.advance()
	t.mu.Lock()
	defer t.mu.Unlock()
	rs, err := t.laneForControl(l)
	if err != nil {
		return err
	}
	c := &inventoryCheck{keyIDs: map[string]string{}, instances: map[string]*instRef{}}
	names := map[string]bool{}
	for n := range rs.secretsBy {
		names[n] = true
	}
	laneKeys := map[string]*KeyInventory{}
	if s.EncryptionKeyID != "" {
		if k := rs.lookupKey(s.EncryptionKeyID); k != nil {
			laneKeys[s.EncryptionKeyID] = &KeyInventory{KeyID: k.id, KeyUsage: k.usage}
		}
	}
	if s.DKMSInstanceID != "" {
		c.add("secret.dkmsInstanceId", "a new secret lives in KMS 1.0")
	}
	c.secret("secret", l.Account, l.Region, &s, names, laneKeys)
	if len(c.probs) > 0 {
		return &InventoryError{c.probs}
	}
	if s.CreateTime == "" {
		s.CreateTime = fmtTime(t.opts.Clock.Now().Truncate(time.Second))
	}
	ns := s.build(l.Account, l.Region)
	rs.secrets = append(rs.secrets, ns)
	rs.secretsBy[ns.name] = ns
	return nil
}

// RemoveKey deletes a key of lane l at once, as if its pending-deletion
// window had passed: it no longer exists (Forbidden.KeyNotFound).
// Refused while a migration task lists it, and for a service key.
func (t *Twin) RemoveKey(l Lane, id string) error {
	t.advance()
	t.mu.Lock()
	defer t.mu.Unlock()
	rs := t.region(l)
	k := rs.lookupKey(id)
	if k == nil {
		return errKeyNotFound(id)
	}
	if k.service {
		return fmt.Errorf("kms: remove key %s: a service key belongs to its product", k.id)
	}
	if err := t.controlFrozen(l, resKey, k.id); err != nil {
		return err
	}
	rs.keys = slices.DeleteFunc(rs.keys, func(o *key) bool { return o == k })
	delete(rs.keyByID, k.id)
	for _, al := range k.aliases {
		delete(rs.aliases, al)
	}
	if in := t.instances[k.dkms]; in != nil {
		in.keysUsed--
	}
	return nil
}

// RemoveSecret deletes a secret of lane l at once (DeleteSecret with
// ForceDeleteWithoutRecovery): it no longer exists
// (Forbidden.ResourceNotFound). Refused while a migration task lists it.
func (t *Twin) RemoveSecret(l Lane, name string) error {
	t.advance()
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.secret(l, name)
	if s == nil {
		return errSecretNotFound(name)
	}
	if err := t.controlFrozen(l, resSecret, name); err != nil {
		return err
	}
	rs := t.region(l)
	rs.secrets = slices.DeleteFunc(rs.secrets, func(o *secret) bool { return o == s })
	delete(rs.secretsBy, name)
	if in := t.instances[s.dkms]; in != nil {
		in.secretsUsed--
		delete(in.secretNames, name)
	}
	return nil
}

// SetKeyState sets a key's state as its owner would (DisableKey,
// EnableKey, ScheduleKeyDeletion, CancelKeyDeletion): Enabled, Disabled or
// PendingDeletion. Refused while a migration task runs with the key.
func (t *Twin) SetKeyState(l Lane, id, state string) error {
	if !slices.Contains([]string{"Enabled", "Disabled", "PendingDeletion"}, state) {
		return errParam("KeyState", "It must be Enabled, Disabled or PendingDeletion.")
	}
	t.advance()
	t.mu.Lock()
	defer t.mu.Unlock()
	k := t.region(l).lookupKey(id)
	if k == nil {
		return errKeyNotFound(id)
	}
	if tk := t.runningTaskOf(l, resKey, k.id); tk != nil {
		return errInMigration("key", k.id, tk.id)
	}
	if k.service || k.state == "PendingImport" {
		return &acs.Error{Status: http.StatusBadRequest, Code: "Rejected.UnsupportedOperation", Message: "The key's state cannot be changed by its owner."}
	}
	k.state, k.deleteDate = state, time.Time{}
	if state == "PendingDeletion" {
		k.deleteDate = t.opts.Clock.Now().Add(7 * 24 * time.Hour).Truncate(time.Second)
	}
	return nil
}

// SetInstanceStatus sets an instance's status as the provider would
// report it (GetKmsInstance Status): one of the inventory's statuses
// (Connected, Connecting, Disconnected, Error), e.g. when its VPC
// connection breaks. Tasks
// already queued are not affected; new ones are refused unless Connected.
func (t *Twin) SetInstanceStatus(id, status string) error {
	if !slices.Contains(instanceStatuses, status) {
		return errParam("Status", "It must be one of "+strings.Join(instanceStatuses, ", ")+".")
	}
	t.advance()
	t.mu.Lock()
	defer t.mu.Unlock()
	in := t.instances[id]
	if in == nil {
		return errInstanceNotFound(id)
	}
	in.status = status
	return nil
}

// TaskRecord is one migration task as the provider holds it, with the
// resources it lists.
type TaskRecord struct {
	ID         string
	Lane       Lane
	InstanceID string
	Method     string
	Status     string
	Keys       []string
	Secrets    []string
	Created    time.Time
	Started    time.Time
	// Finished is zero while the task has not completed.
	Finished time.Time
}

// TaskLog returns every migration task of the estate, in creation order,
// brought up to the clock.
func (t *Twin) TaskLog() []TaskRecord {
	t.rlock()
	defer t.mu.RUnlock()
	out := make([]TaskRecord, 0, len(t.taskOrder))
	for _, id := range t.taskOrder {
		tk := t.tasks[id]
		out = append(out, TaskRecord{ID: tk.id, Lane: tk.lane, InstanceID: tk.instanceID, Method: tk.method, Status: tk.status,
			Keys: slices.Clone(tk.keys), Secrets: slices.Clone(tk.secrets), Created: tk.created, Started: tk.started, Finished: tk.finished})
	}
	return out
}

// laneForControl returns the state of lane l, which must be a lane of the
// estate (an account of the estate in one of its regions). The caller
// holds t.mu.
func (t *Twin) laneForControl(l Lane) (*regionState, error) {
	a := t.accounts[l.Account]
	if a == nil || !slices.Contains(t.regions, l.Region) {
		return nil, fmt.Errorf("kms: lane %s is not in the estate", l)
	}
	rs := a.regions[l.Region]
	if rs == nil {
		rs = newRegionState()
		a.regions[l.Region] = rs
	}
	return rs, nil
}

// controlFrozen refuses a control-plane change of a resource that a
// migration task lists and has not finished with. The caller holds t.mu.
func (t *Twin) controlFrozen(l Lane, kind, id string) error {
	for _, tid := range t.taskOrder {
		tk := t.tasks[tid]
		if tk.status != TaskCompleted && tk.lane == l && tk.holds(kind, id) {
			return errInMigration(map[string]string{resKey: "key", resSecret: "secret"}[kind], id, tk.id)
		}
	}
	return nil
}
