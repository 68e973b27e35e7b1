package app

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

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

// clockFunc makes a func a migration.Clock.
type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

func joinErrors(prefix string, msgs []string) error {
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s", prefix, strings.Join(msgs, "; "))
}
