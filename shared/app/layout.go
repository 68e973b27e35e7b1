package app

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Where a run keeps its state in the run-state store. Everything a later
// function needs is read from here, never from memory.
const (
	// CurrentRunKey holds {"runId": ...}: the run migrate, poll and rotate
	// work on.
	CurrentRunKey = "current"
)

// RunKey returns the key of one document of a run: inventory.json,
// verdicts.json, plan.json, report.json, report.md, ...
func RunKey(runID, name string) string { return "runs/" + runID + "/" + name }

var runIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidateRunID returns an error naming the run id and the rule it breaks.
func ValidateRunID(id string) error {
	if !runIDPattern.MatchString(id) {
		return fmt.Errorf("runId %q: must be 1 to 63 lower-case letters, digits and '-', starting with a letter or digit", id)
	}
	return nil
}

// DefaultRunID names the run of a day: run-YYYYMMDD in UTC.
func DefaultRunID(t time.Time) string { return "run-" + t.UTC().Format("20060102") }

// CurrentRun is the document at CurrentRunKey.
type CurrentRun struct {
	RunID string    `json:"runId"`
	Since time.Time `json:"since"`
}

func joinErrors(prefix string, msgs []string) error {
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s", prefix, strings.Join(msgs, "; "))
}
