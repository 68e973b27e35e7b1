package kms

import (
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
