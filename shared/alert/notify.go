package alert

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Kinds of notification: not failures, but what the operators should know
// without looking (a plan waits for them; a night's work ended).
const (
	KindApprovalAwaited = "approval-awaited"
	KindNightEnded      = "night-ended"
)

// PlanCounts are the figures of a plan awaiting approval.
type PlanCounts struct {
	Lanes, Batches, Keys, Secrets, RotationOff int
	// Blockers counts the resources the plan leaves out, per reason.
	Blockers map[string]int
}

// ApprovalAwaited tells the operators that run runID's plan of digest
// waits for their approval, with its figures and the command that
// approves it. One per digest: a re-plan that changes the plan notifies
// again.
func ApprovalAwaited(runID, digest string, c PlanCounts, command string) Alert {
	var b strings.Builder
	fmt.Fprintf(&b, "Nothing is switched off or submitted until it is approved.\n\n")
	fmt.Fprintf(&b, "- **batches**: %d in %d lanes\n- **resources**: %d keys, %d secrets\n- **rotation to switch off**: %d policies (given back after each batch)\n",
		c.Batches, c.Lanes, c.Keys, c.Secrets, c.RotationOff)
	if len(c.Blockers) == 0 {
		b.WriteString("- **blockers**: none\n")
	} else {
		var parts []string
		for _, r := range slices.Sorted(maps.Keys(c.Blockers)) {
			parts = append(parts, fmt.Sprintf("%s %d", r, c.Blockers[r]))
		}
		fmt.Fprintf(&b, "- **blockers** (left out): %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(&b, "\nRead it and approve with `%s`", command)
	return Alert{
		Key:      fmt.Sprintf("%s/%s/%s", KindApprovalAwaited, runID, digest),
		Severity: Info,
		Title:    fmt.Sprintf("Plan of %s awaits approval: %d batches, %d keys, %d secrets", runID, c.Batches, c.Keys, c.Secrets),
		Text:     b.String(),
		Fields:   map[string]string{"run_id": runID, "digest": digest, "command": command},
	}
}

// NightFigures are the figures of a night's work that ended.
type NightFigures struct {
	Moved, Failed, Retried, Dropped int
	// Restored counts the rotation policies given back (restored or
	// verified); StillOff those still off.
	Restored, StillOff int
	// Remaining counts the batches of the run that have not finished:
	// they continue in the next window.
	Remaining int
	Done      bool
}

// NightEnded tells the operators that the night's work of run runID (the
// window ending at windowEnd, "YYYY-MM-DD HH:MM") ended: what moved, what
// failed, the rotation given back, and what continues tomorrow.
func NightEnded(runID, windowEnd string, f NightFigures) Alert {
	sev, next := Info, fmt.Sprintf("%d batches continue in the next window.", f.Remaining)
	if f.Done {
		next = "The run is complete: nothing continues."
	}
	if f.Failed > 0 || f.StillOff > 0 {
		sev = Warning
	}
	var b strings.Builder
	fmt.Fprintf(&b, "- **moved**: %d\n- **failed**: %d (retried later: %d)\n- **dropped by their owners**: %d\n- **rotation restored**: %d (still off: %d)\n\n%s",
		f.Moved, f.Failed, f.Retried, f.Dropped, f.Restored, f.StillOff, next)
	return Alert{
		Key:      fmt.Sprintf("%s/%s/%s", KindNightEnded, runID, windowEnd),
		Severity: sev,
		Title:    fmt.Sprintf("Night's work of %s ended: %d moved, %d failed", runID, f.Moved, f.Failed),
		Text:     b.String(),
		Fields:   map[string]string{"run_id": runID, "window_end": windowEnd},
	}
}
