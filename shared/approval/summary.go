package approval

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/kmsmig/kmsmig/shared/plan"
)

// Summary is what a person approves: the pending batches' lanes, batches,
// resources and the rotation policies they switch off, and what the plan
// leaves out (blockers, per reason).
type Summary struct {
	Digest      string         `json:"digest"`
	Lanes       []LaneSummary  `json:"lanes"`
	Batches     int            `json:"batches"`
	Keys        int            `json:"keys"`
	Secrets     int            `json:"secrets"`
	RotationOff int            `json:"rotationOff"`
	Blockers    map[string]int `json:"blockers,omitempty"`
	Blocked     int            `json:"blocked"`
}

// LaneSummary is one lane of a Summary.
type LaneSummary struct {
	Lane        string   `json:"lane"`
	InstanceID  string   `json:"instanceId"`
	Batches     []string `json:"batches"`
	Keys        int      `json:"keys"`
	Secrets     int      `json:"secrets"`
	RotationOff []string `json:"rotationOff,omitempty"`
	Stopped     string   `json:"stopped,omitempty"`
}

// Summarize summarises the plan's pending batches.
func Summarize(p *plan.Plan, statuses map[string]plan.Status) Summary {
	s := Summary{Digest: p.Digest}
	for _, lp := range p.Lanes {
		ls := LaneSummary{Lane: lp.Lane.String(), InstanceID: lp.InstanceID, Stopped: lp.Stopped}
		for _, b := range lp.Batches {
			if statuses[b.ID].Frozen() {
				continue
			}
			ls.Batches = append(ls.Batches, b.ID)
			ls.Keys += len(b.Keys)
			ls.Secrets += len(b.Secrets)
			for _, k := range b.KeysRotationOff {
				ls.RotationOff = append(ls.RotationOff, "key "+k)
			}
			for _, n := range b.SecretsRotationOff {
				ls.RotationOff = append(ls.RotationOff, "secret "+n)
			}
		}
		for _, x := range lp.Excluded {
			if s.Blockers == nil {
				s.Blockers = map[string]int{}
			}
			s.Blockers[string(x.Reason)]++
			s.Blocked++
		}
		if len(ls.Batches) == 0 {
			continue
		}
		s.Batches += len(ls.Batches)
		s.Keys += ls.Keys
		s.Secrets += ls.Secrets
		s.RotationOff += len(ls.RotationOff)
		s.Lanes = append(s.Lanes, ls)
	}
	return s
}

// Write prints the summary for a person to read before approving.
func (s Summary) Write(w io.Writer, runID string) {
	fmt.Fprintf(w, "Plan of run %s (digest %s)\n", runID, s.Digest)
	fmt.Fprintf(w, "  %d batches in %d lanes: %d keys, %d secrets; %d automatic rotation policies to switch off (given back after each batch)\n",
		s.Batches, len(s.Lanes), s.Keys, s.Secrets, s.RotationOff)
	for _, l := range s.Lanes {
		fmt.Fprintf(w, "  %s → %s: %d batches (%s), %d keys, %d secrets\n", l.Lane, l.InstanceID, len(l.Batches),
			strings.Join(l.Batches, ", "), l.Keys, l.Secrets)
		if len(l.RotationOff) > 0 {
			fmt.Fprintf(w, "    rotation switched off: %s\n", strings.Join(l.RotationOff, ", "))
		}
		if l.Stopped != "" {
			fmt.Fprintf(w, "    planning stopped: %s\n", l.Stopped)
		}
	}
	if s.Blocked == 0 {
		fmt.Fprintf(w, "  Blockers: none (nothing left out)\n")
		return
	}
	fmt.Fprintf(w, "  Blockers: %d resources left out:", s.Blocked)
	for _, r := range slices.Sorted(maps.Keys(s.Blockers)) {
		fmt.Fprintf(w, " %s %d;", r, s.Blockers[r])
	}
	fmt.Fprintln(w)
}
