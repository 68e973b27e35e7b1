package estate

import (
	"encoding/json"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func FuzzParseVersion(f *testing.F) {
	for _, p := range [][2]string{
		{"2.9.0", "2.10.1"}, {"v2.9.0", "2.9"}, {"2.9.0-beta+build", "2.9.0"}, {" V3 ", "3.0.0.0"},
		{"2..9", "2.9"}, {"+2.9", "2.+9"}, {"-1", "1"}, {"99999999999999999999", "1"}, {"", "v"}, {"007.08", "7.8"},
	} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		va, errA := ParseVersion(a)
		vb, errB := ParseVersion(b)
		ab, errAB := CompareVersions(a, b)
		ba, errBA := CompareVersions(b, a)
		require.Equal(t, errA == nil && errB == nil, errAB == nil,
			"CompareVersions errors disagree with ParseVersion: %v %v %v %v", errA, errB, errAB, errBA)
		require.Equal(t, errAB == nil, errBA == nil,
			"CompareVersions errors disagree with ParseVersion: %v %v %v %v", errA, errB, errAB, errBA)
		for _, p := range []struct {
			s   string
			v   Version
			err error
		}{{a, va, errA}, {b, vb, errB}} {
			if p.err != nil {
				continue
			}
			require.NotEmpty(t, p.v, "%q parsed to an empty version", p.s)
			for _, n := range p.v {
				require.GreaterOrEqual(t, n, 0, "%q has a negative component: %v", p.s, p.v)
			}
			// The dotted form parses back to the same version.
			back, err := ParseVersion(p.v.String())
			require.NoError(t, err, "%q -> %v -> %q", p.s, p.v, p.v.String())
			require.Equal(t, p.v, back, "%q -> %v -> %q", p.s, p.v, p.v.String())
			require.Zero(t, p.v.Compare(p.v), "%v compared to itself", p.v)
		}
		if errAB != nil {
			return
		}
		require.Equal(t, -ba, ab, "CompareVersions(%q, %q) vs CompareVersions(%q, %q)", a, b, b, a)
		require.Contains(t, []int{-1, 0, 1}, ab, "CompareVersions(%q, %q)", a, b)
		require.Equal(t, va.Compare(vb), ab, "CompareVersions and Version.Compare disagree on %q, %q", a, b)
		// Equal versions are equal up to trailing zeros.
		if ab == 0 {
			n := max(len(va), len(vb))
			pa, pb := slices.Clone(va), slices.Clone(vb)
			pa = append(pa, make(Version, n-len(pa))...)
			pb = append(pb, make(Version, n-len(pb))...)
			require.Equal(t, pa, pb, "%v and %v compare equal", va, vb)
		}
	})
}

func FuzzParseLane(f *testing.F) {
	for _, s := range []string{"1111/cn-hangzhou", "2222222222222222/ap-southeast-1", "/cn-hangzhou", "1111/", "1111",
		"1111/cn/hangzhou", "a b/c d", "\xff/\x00", "//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLane(s)
		if err != nil {
			require.Zero(t, l, "refused %q but returned a lane", s)
			return
		}
		require.NoError(t, l.Validate(), "accepted %q as an invalid lane %+v", s, l)
		require.False(t, l.IsZero(), "accepted %q as the zero lane", s)
		require.Equal(t, s, l.String(), "%q -> %+v", s, l)
		// Text and JSON (as a value and as an object key) round trips.
		text, err := l.MarshalText()
		require.NoError(t, err, "MarshalText(%+v)", l)
		var back Lane
		require.NoError(t, back.UnmarshalText(text), "UnmarshalText(%q)", text)
		require.Equal(t, l, back, "UnmarshalText(%q)", text)
		if !utf8.ValidString(s) {
			return // encoding/json replaces invalid UTF-8; not the lane's business
		}
		b, err := json.Marshal(map[Lane]Lane{l: l})
		require.NoError(t, err, "json")
		var m map[Lane]Lane
		require.NoError(t, json.Unmarshal(b, &m), "json %s", b)
		require.Equal(t, map[Lane]Lane{l: l}, m, "json %s", b)
	})
}
