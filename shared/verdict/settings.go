package verdict

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/kmsmig/kmsmig/shared/estate"
)

// MinImageVersion is the oldest instance image the migration tool accepts
// as a target.
const MinImageVersion = "2.9.0"

// DefaultExpiryWarningDays is how close an expiry without auto-renewal
// must be to raise instance-expiring-no-autorenew.
const DefaultExpiryWarningDays = 30

// Settings tune Classify. The zero value is not valid; start from
// DefaultSettings.
type Settings struct {
	// Targets names the target instance of a lane explicitly; lanes not
	// listed get the default choice (see Classify).
	Targets map[estate.Lane]string `json:"targets,omitempty"`
	// StrictKeyVersions applies the older documentation's rule that keys
	// with several key versions cannot migrate (key-multiple-versions).
	StrictKeyVersions bool `json:"strictKeyVersions,omitempty"`
	// MinSoftwareImage and MinHardwareImage are the oldest acceptable
	// image versions per instance kind.
	MinSoftwareImage string `json:"minSoftwareImage"`
	MinHardwareImage string `json:"minHardwareImage"`
	// ExpiryWarningDays: an instance without auto-renewal that expires
	// within this many days of AsOf raises a warning.
	ExpiryWarningDays int `json:"expiryWarningDays"`
	// AsOf is the moment expiries are measured from; zero means the
	// inventory's DiscoveredAt, which keeps classification reproducible.
	AsOf time.Time `json:"asOf,omitzero"`
}

// DefaultSettings returns the settings used when nothing is configured:
// default targets, lenient key versions, image 2.9.0 for both kinds (the
// hardware minimum is not published; 2.9.0 is assumed), 30 days of expiry
// warning.
func DefaultSettings() Settings {
	return Settings{
		MinSoftwareImage:  MinImageVersion,
		MinHardwareImage:  MinImageVersion,
		ExpiryWarningDays: DefaultExpiryWarningDays,
	}
}

// Validate returns every problem of s joined, each naming the field.
func (s Settings) Validate() error {
	var errs []error
	if _, err := estate.ParseVersion(s.MinSoftwareImage); err != nil {
		errs = append(errs, fmt.Errorf("verdict: settings minSoftwareImage: %w", err))
	}
	if _, err := estate.ParseVersion(s.MinHardwareImage); err != nil {
		errs = append(errs, fmt.Errorf("verdict: settings minHardwareImage: %w", err))
	}
	if s.ExpiryWarningDays < 0 {
		errs = append(errs, fmt.Errorf("verdict: settings expiryWarningDays %d: must not be negative", s.ExpiryWarningDays))
	}
	for _, l := range slices.SortedFunc(maps.Keys(s.Targets), estate.Lane.Compare) {
		id := s.Targets[l]
		if err := l.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("verdict: settings targets: %w", err))
		}
		if id == "" {
			errs = append(errs, fmt.Errorf("verdict: settings targets[%s]: empty instance id", l))
		}
	}
	return errors.Join(errs...)
}
