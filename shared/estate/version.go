package estate

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// Version is a dotted numeric image version such as 2.9.0 or 2.10.1,
// compared component by component as numbers (so 2.10.1 > 2.9.0).
type Version []int

// ParseVersion parses "2.9.0", "v2.9.0" or "2.9". It ignores a pre-release
// or build suffix after '-' or '+' (the instance's image version is
// compared by its release only) and returns an error naming s when a
// component is not a non-negative number.
func ParseVersion(s string) (Version, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "v"), "V")
	if i := strings.IndexAny(t, "-+"); i >= 0 {
		t = t[:i]
	}
	if t == "" {
		return nil, fmt.Errorf("estate: version %q: empty", s)
	}
	parts := strings.Split(t, ".")
	v := make(Version, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p == "" || p[0] == '+' {
			return nil, fmt.Errorf("estate: version %q: component %q is not a number", s, p)
		}
		v[i] = n
	}
	return v, nil
}

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than
// o. Missing trailing components count as zero, so 2.9 equals 2.9.0.
func (v Version) Compare(o Version) int {
	for i := range max(len(v), len(o)) {
		var a, b int
		if i < len(v) {
			a = v[i]
		}
		if i < len(o) {
			b = o[i]
		}
		if c := cmp.Compare(a, b); c != 0 {
			return c
		}
	}
	return 0
}

// String returns the dotted form, without a `v` prefix.
func (v Version) String() string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ".")
}

// CompareVersions parses a and b and compares them as Version.Compare
// does; it returns the parse error of the first malformed one.
func CompareVersions(a, b string) (int, error) {
	va, err := ParseVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := ParseVersion(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}
