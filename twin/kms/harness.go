package kms

import (
	"fmt"
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
	// Held is set on the task StallTaskWhen caught, until StallTasks(false)
	// (Pending or Running: it stalls once it runs).
	Held bool
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
			Stalled: tk.status == TaskRunning && (t.faults.stall || tk.held), Held: tk.held,
		})
	}
	return out
}

// Fields AlterOnMigration can change: what a migration must preserve and
// verification compares with the inventory.
const (
	FieldKeySpec         = "KeySpec"
	FieldKeyUsage        = "KeyUsage"
	FieldProtectionLevel = "ProtectionLevel"
	FieldSecretType      = "SecretType"
	// FieldStageLabel renames the ACSCurrent stage label of the secret's
	// current version to the value.
	FieldStageLabel = "StageLabel"
)

// AlterOnMigration makes the next successful migration of the resource
// with this id (a key id or a secret name, in any account) change field
// (one of the Field constants) to value, as a faulty provider would; the
// change applies once, when the task completes. It lets tests prove that
// verification notices what a migration must not change. An unknown field
// is an error.
func (t *Twin) AlterOnMigration(resourceID, field, value string) error {
	switch field {
	case FieldKeySpec, FieldKeyUsage, FieldProtectionLevel, FieldSecretType, FieldStageLabel:
	default:
		return fmt.Errorf("kms: AlterOnMigration: field %q: want KeySpec, KeyUsage, ProtectionLevel, SecretType or StageLabel", field)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.faults.alter == nil {
		t.faults.alter = map[string][2]string{}
	}
	t.faults.alter[resourceID] = [2]string{field, value}
	return nil
}

// alterKey and alterSecret apply a pending AlterOnMigration to a resource
// that has just migrated. The caller holds t.mu.
func (t *Twin) alterKey(k *key) {
	a, ok := t.faults.alter[k.id]
	if !ok {
		return
	}
	switch a[0] {
	case FieldKeySpec:
		k.spec = a[1]
	case FieldKeyUsage:
		k.usage = a[1]
	case FieldProtectionLevel:
		k.protection = a[1]
	default:
		return // a secret field: not for a key
	}
	delete(t.faults.alter, k.id)
}

func (t *Twin) alterSecret(s *secret) {
	a, ok := t.faults.alter[s.name]
	if !ok {
		return
	}
	switch a[0] {
	case FieldSecretType:
		s.secretType = a[1]
	case FieldStageLabel:
		for i := range s.versions {
			for j, st := range s.versions[i].stages {
				if st == "ACSCurrent" {
					s.versions[i].stages[j] = a[1]
				}
			}
		}
	default:
		return
	}
	delete(t.faults.alter, s.name)
}
