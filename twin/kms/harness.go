package kms

import (
	"fmt"
	"slices"
	"time"
)

// Harness controls: what a test or a rehearsal does to the estate that the
// twin serves no API for, and what it reads of the provider's side. They
// act at once, under the twin's lock, and are never reachable over HTTP.

// TaskInfo is a migration task as the provider sees it, for a harness
// (DescribeMigrationTask is the caller's view).
type TaskInfo struct {
	ID         string
	Lane       Lane
	InstanceID string
	Method     string
	Status     string // TaskPending, TaskScheduled, TaskRunning, TaskCompleted
	Keys       int
	Secrets    int
	Created    time.Time
	// Ready is the earliest start: the MigrationTime, or creation plus
	// Timing.QueueDelay.
	Ready    time.Time
	Started  time.Time
	Due      time.Time // when a Running task completes, unless stalled
	Finished time.Time
	// Stalled is set while StallTasks holds the Running task past Due.
	Stalled bool
}

// Tasks returns every migration task of every account, in creation order,
// brought up to the clock first.
func (t *Twin) Tasks() []TaskInfo {
	t.advance()
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]TaskInfo, 0, len(t.taskOrder))
	for _, id := range t.taskOrder {
		tk := t.tasks[id]
		out = append(out, TaskInfo{
			ID: tk.id, Lane: tk.lane, InstanceID: tk.instanceID, Method: tk.method, Status: tk.status,
			Keys: len(tk.keys), Secrets: len(tk.secrets), Created: tk.created, Ready: tk.ready,
			Started: tk.started, Due: tk.due, Finished: tk.finished,
			Stalled: tk.status == TaskRunning && t.faults.stall,
		})
	}
	return out
}

// DeleteKey removes a key and its aliases from the estate at once, as if
// its owner had scheduled its deletion and the pending period had run out
// (the twin serves no ScheduleKeyDeletion): afterwards every call naming it
// answers Forbidden.KeyNotFound and a task that lists it is refused. Secrets
// it encrypted keep naming it. A key that an unfinished migration task holds
// cannot be deleted (the control plane is frozen), nor can a service key.
func (t *Twin) DeleteKey(l Lane, keyID string) error {
	t.advance()
	t.mu.Lock()
	defer t.mu.Unlock()
	rs := t.region(l)
	k := rs.lookupKey(keyID)
	switch {
	case k == nil:
		return errKeyNotFound(keyID)
	case k.service:
		return fmt.Errorf("kms: delete key %s: a service key belongs to its product", k.id)
	case t.inActiveTask(l, resKey, k.id):
		return errInMigration("key", k.id, "in progress")
	}
	rs.keys = slices.DeleteFunc(rs.keys, func(x *key) bool { return x == k })
	delete(rs.keyByID, k.id)
	for _, a := range k.aliases {
		delete(rs.aliases, a)
	}
	if in := t.instances[k.dkms]; in != nil {
		in.keysUsed--
	}
	return nil
}

// AddSecret creates a secret in the lane as CreateSecret would (the twin
// serves no CreateSecret), from its inventory form: the name must be new
// in the lane, the account and region must be the estate's, and an
// encryption key must exist in the lane. CreateTime defaults to the
// twin's clock. It is listed after the lane's other secrets.
func (t *Twin) AddSecret(l Lane, si SecretInventory) error {
	t.advance()
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.accounts[l.Account]
	if a == nil || !slices.Contains(t.regions, l.Region) {
		return fmt.Errorf("kms: add secret: lane %s is not in the estate", l)
	}
	if !reSecret.MatchString(si.SecretName) {
		return errParam("SecretName", "It must be 1 to 192 of A-Z a-z 0-9 _ / + = . @ -.")
	}
	rs := a.regions[l.Region]
	if rs == nil {
		rs = newRegionState()
		a.regions[l.Region] = rs
	}
	if rs.secretsBy[si.SecretName] != nil {
		return errParam("SecretName", "A secret named "+si.SecretName+" already exists.")
	}
	if si.EncryptionKeyID != "" && rs.lookupKey(si.EncryptionKeyID) == nil {
		return errKeyNotFound(si.EncryptionKeyID)
	}
	if si.CreateTime == "" {
		si.CreateTime = fmtTime(t.opts.Clock.Now())
	}
	s := si.build(l.Account, l.Region)
	rs.secrets = append(rs.secrets, s)
	rs.secretsBy[s.name] = s
	return nil
}
