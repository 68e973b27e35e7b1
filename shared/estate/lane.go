package estate

import (
	"cmp"
	"fmt"
	"strings"
)

// Lane is the unit of a migration: one account in one region. Resources of
// a lane can only move into an instance of the lane's region.
type Lane struct {
	Account string
	Region  string
}

// String returns the lane as `account/region`, the form used in batch IDs,
// logs and JSON.
func (l Lane) String() string { return l.Account + "/" + l.Region }

// IsZero reports whether l names no account and no region.
func (l Lane) IsZero() bool { return l == Lane{} }

// Validate returns an error when the account or the region is empty or
// contains a slash, which would make the `account/region` form ambiguous.
func (l Lane) Validate() error {
	if l.Account == "" || l.Region == "" {
		return fmt.Errorf("estate: lane %q: account and region must both be set", l.String())
	}
	if strings.Contains(l.Account, "/") || strings.Contains(l.Region, "/") {
		return fmt.Errorf("estate: lane %q: account and region must not contain '/'", l.String())
	}
	return nil
}

// Compare orders lanes by account, then region; it returns -1, 0 or +1 and
// is the canonical lane order of inventories, verdicts and plans.
func (l Lane) Compare(o Lane) int {
	if c := cmp.Compare(l.Account, o.Account); c != 0 {
		return c
	}
	return cmp.Compare(l.Region, o.Region)
}

// ParseLane parses the `account/region` form produced by String. It returns
// an error naming the input when either part is missing.
func ParseLane(s string) (Lane, error) {
	account, region, ok := strings.Cut(s, "/")
	l := Lane{Account: account, Region: region}
	if !ok {
		return Lane{}, fmt.Errorf("estate: lane %q: want account/region", s)
	}
	if err := l.Validate(); err != nil {
		return Lane{}, err
	}
	return l, nil
}

// MarshalText encodes the lane as `account/region`, so that a Lane can be a
// JSON value and a JSON object key.
func (l Lane) MarshalText() ([]byte, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return []byte(l.String()), nil
}

// UnmarshalText decodes the `account/region` form; it rejects anything
// ParseLane rejects.
func (l *Lane) UnmarshalText(b []byte) error {
	p, err := ParseLane(string(b))
	if err != nil {
		return err
	}
	*l = p
	return nil
}
