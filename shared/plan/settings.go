package plan

import (
	"errors"
	"fmt"
)

// Limits of one migration task.
const (
	// DefaultMaxKeys and DefaultMaxSecrets are the migration tool's
	// headline limits: 50 keys and 50 secrets per task.
	DefaultMaxKeys    = 50
	DefaultMaxSecrets = 50
	// MaxPerKind is the largest accepted MaxKeys or MaxSecrets.
	MaxPerKind = 50
)

// Settings shape a plan. They are recorded in the Plan so that Replan
// applies the same ones.
type Settings struct {
	// MaxKeys and MaxSecrets bound one batch, each 1..50.
	MaxKeys    int `json:"maxKeys"`
	MaxSecrets int `json:"maxSecrets"`
	// MaxResources, when not zero (1..100), also bounds keys and secrets
	// together, for the console's reading of the limit ("up to 50 keys and
	// secrets in total").
	MaxResources int `json:"maxResources,omitempty"`
	// Include, when not empty, plans only resources matching at least one
	// filter; Exclude leaves out every resource matching any filter. See
	// ParseFilter for the syntax.
	Include []string `json:"include,omitempty"`
	Exclude []string `json:"exclude,omitempty"`
}

// DefaultSettings returns 50 keys and 50 secrets per batch, no combined
// limit and no filters.
func DefaultSettings() Settings {
	return Settings{MaxKeys: DefaultMaxKeys, MaxSecrets: DefaultMaxSecrets}
}

// Validate returns every problem of s joined, each naming the field or the
// filter at fault.
func (s Settings) Validate() error {
	_, _, err := s.compile()
	return err
}

func (s Settings) compile() (include, exclude []Filter, err error) {
	var errs []error
	if s.MaxKeys < 1 || s.MaxKeys > MaxPerKind {
		errs = append(errs, fmt.Errorf("plan: settings maxKeys %d: must be between 1 and %d", s.MaxKeys, MaxPerKind))
	}
	if s.MaxSecrets < 1 || s.MaxSecrets > MaxPerKind {
		errs = append(errs, fmt.Errorf("plan: settings maxSecrets %d: must be between 1 and %d", s.MaxSecrets, MaxPerKind))
	}
	if s.MaxResources < 0 || s.MaxResources > 2*MaxPerKind {
		errs = append(errs, fmt.Errorf("plan: settings maxResources %d: must be 0 (no combined limit) or between 1 and %d", s.MaxResources, 2*MaxPerKind))
	}
	parse := func(field string, raw []string) []Filter {
		fs := make([]Filter, 0, len(raw))
		for i, r := range raw {
			f, err := ParseFilter(r)
			if err != nil {
				errs = append(errs, fmt.Errorf("plan: settings %s[%d]: %w", field, i, err))
				continue
			}
			fs = append(fs, f)
		}
		return fs
	}
	include, exclude = parse("include", s.Include), parse("exclude", s.Exclude)
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return include, exclude, nil
}

// keysPerBatch and secretRoom give the effective room of a batch: keys
// first (they release secrets), then secrets in what is left.
func (s Settings) keysPerBatch() int {
	if s.MaxResources > 0 {
		return min(s.MaxKeys, s.MaxResources)
	}
	return s.MaxKeys
}

func (s Settings) secretRoom(keys int) int {
	if s.MaxResources > 0 {
		return min(s.MaxSecrets, s.MaxResources-keys)
	}
	return s.MaxSecrets
}
