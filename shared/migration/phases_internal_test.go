package migration

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The table is a state machine without orphans: every phase is declared,
// reached from the start, and leads to an end; only verified and failed
// end; no change is listed twice or goes nowhere.
func TestTransitionTableIsComplete(t *testing.T) {
	out := map[Phase][]Phase{}
	seen := map[[2]Phase]bool{}
	for _, e := range transitions {
		require.False(t, seen[[2]Phase{e.From, e.To}], "%s → %s listed twice", e.From, e.To)
		seen[[2]Phase{e.From, e.To}] = true
		assert.NotEqual(t, e.From, e.To, "self change %s", e.From)
		assert.True(t, e.From == phaseNone || slices.Contains(phases, e.From), "undeclared phase %q", e.From)
		assert.True(t, slices.Contains(phases, e.To), "undeclared phase %q", e.To)
		assert.NotEmpty(t, e.Step, "%s → %s: no step", e.From, e.To)
		assert.NotEmpty(t, e.When, "%s → %s: no condition", e.From, e.To)
		out[e.From] = append(out[e.From], e.To)
	}
	assert.Equal(t, []Phase{PhasePlanned}, out[phaseNone], "a batch starts planned, and only so")

	reach := func(from Phase) map[Phase]bool {
		got := map[Phase]bool{from: true}
		for todo := []Phase{from}; len(todo) > 0; {
			p := todo[0]
			todo = todo[1:]
			for _, q := range out[p] {
				if !got[q] {
					got[q] = true
					todo = append(todo, q)
				}
			}
		}
		return got
	}
	fromStart := reach(phaseNone)
	var terminal []Phase
	for _, p := range phases {
		assert.True(t, fromStart[p], "%s cannot be reached", p)
		if len(out[p]) == 0 {
			terminal = append(terminal, p)
		}
	}
	assert.Equal(t, []Phase{PhaseVerified, PhaseFailed}, terminal)
	for _, p := range phases {
		r := reach(p)
		assert.True(t, r[PhaseVerified] || r[PhaseFailed], "%s leads to no end", p)
	}
	// Abort fails a batch from any phase before its task ended.
	for _, p := range phases {
		assert.Equal(t, !p.Ended(), slices.Contains(sources(PhaseFailed), p), "%s → failed", p)
	}
}

func TestValidHistory(t *testing.T) {
	at := time.Date(2025, 6, 1, 2, 0, 0, 0, time.UTC)
	h := func(pairs ...Phase) []Transition {
		var out []Transition
		for i := 0; i+1 < len(pairs); i += 2 {
			out = append(out, Transition{From: pairs[i], To: pairs[i+1], At: at})
		}
		return out
	}
	tests := []struct {
		name    string
		history []Transition
		bad     string
	}{
		{"migrated", h("", PhasePlanned, PhasePlanned, PhaseRotationOff, PhaseRotationOff, PhaseSubmitting,
			PhaseSubmitting, PhaseSubmitted, PhaseSubmitted, PhaseRunning, PhaseRunning, PhaseCompleted,
			PhaseCompleted, PhaseRotationRestored, PhaseRotationRestored, PhaseVerified), ""},
		{"outside window, then aborted", h("", PhasePlanned, PhasePlanned, PhaseRotationOff, PhaseRotationOff, PhasePlanned,
			PhasePlanned, PhaseFailed), ""},
		{"observe backend", h("", PhasePlanned, PhasePlanned, PhaseRotationOff, PhaseRotationOff, PhaseAwaitingOperator,
			PhaseAwaitingOperator, PhaseCompleted), ""},
		{"just started", h("", PhasePlanned), ""},
		{"empty", nil, "empty history"},
		{"starts elsewhere", h("", PhaseRotationOff), `entry 0: migration: phase change not in the transition table: "" → "rotation-off"`},
		{"starts from a phase", h(PhasePlanned, PhaseRotationOff), `entry 0 goes "planned" → "rotation-off", but the batch was ""`},
		{"gap", h("", PhasePlanned, PhaseRotationOff, PhaseSubmitting), `entry 1 goes "rotation-off" → "submitting", but the batch was "planned"`},
		{"skips the intent", h("", PhasePlanned, PhasePlanned, PhaseRotationOff, PhaseRotationOff, PhaseSubmitted), `entry 2: `},
		{"leaves failed", h("", PhasePlanned, PhasePlanned, PhaseFailed, PhaseFailed, PhasePlanned), `entry 2: `},
		{"restarts", h("", PhasePlanned, PhasePlanned, PhaseRotationOff, "", PhasePlanned), `entry 2 goes "" → "planned"`},
		{"unknown phase", h("", PhasePlanned, PhasePlanned, "verifying"), `entry 1: `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidHistory(tt.history)
			if tt.bad == "" {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrIllegalTransition)
			assert.Contains(t, err.Error(), tt.bad)
		})
	}
}

// A change the table does not allow is never written.
func TestIllegalTransitionIsRefused(t *testing.T) {
	s := BatchState{ID: "b", Phase: PhaseRotationOff, History: []Transition{{To: PhasePlanned}, {From: PhasePlanned, To: PhaseRotationOff}}}
	before := s
	err := s.to(PhaseSubmitted, time.Now(), "req", "")
	require.ErrorIs(t, err, ErrIllegalTransition)
	assert.Equal(t, before, s, "the record is unchanged")
	require.NoError(t, s.to(PhaseSubmitting, time.Now(), "req", ""))
	assert.Equal(t, PhaseSubmitting, s.Phase)
	assert.NoError(t, ValidHistory(s.History))
}

// Markers of the generated transition table in docs/design.md.
const (
	docTableBegin = "<!-- transitions: generated from shared/migration/phases.go by TestDesignDocShowsTransitionTable; do not edit -->"
	docTableEnd   = "<!-- end of transitions -->"
)

// renderTransitions renders the transition table as the design doc shows
// it.
func renderTransitions() string {
	var b strings.Builder
	b.WriteString("| From | To | Step | When |\n|---|---|---|---|\n")
	for _, e := range transitions {
		from := "`" + string(e.From) + "`"
		if e.From == phaseNone {
			from = "(new)"
		}
		b.WriteString("| " + from + " | `" + string(e.To) + "` | " + e.Step + " | " + e.When + " |\n")
	}
	return b.String()
}

// docs/design.md shows the transition table the code enforces; set
// UPDATE_DESIGN_DOC=1 to rewrite it after changing the table.
func TestDesignDocShowsTransitionTable(t *testing.T) {
	const path = "../../docs/design.md"
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	doc := string(data)
	i, j := strings.Index(doc, docTableBegin), strings.Index(doc, docTableEnd)
	require.True(t, i >= 0 && j > i, "docs/design.md lacks the markers %q … %q", docTableBegin, docTableEnd)
	got := doc[i+len(docTableBegin)+1 : j]
	want := renderTransitions()
	if got != want && os.Getenv("UPDATE_DESIGN_DOC") == "1" {
		doc = doc[:i+len(docTableBegin)+1] + want + doc[j:]
		require.NoError(t, os.WriteFile(path, []byte(doc), 0o644))
		return
	}
	assert.Equal(t, want, got, "docs/design.md's transition table differs from phases.go (UPDATE_DESIGN_DOC=1 rewrites it)")
}
