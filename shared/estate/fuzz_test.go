package estate

import (
	"encoding/json"
	"slices"
	"testing"
	"unicode/utf8"
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
		if (errA == nil && errB == nil) != (errAB == nil) || (errAB == nil) != (errBA == nil) {
			t.Fatalf("CompareVersions errors disagree with ParseVersion: %v %v %v %v", errA, errB, errAB, errBA)
		}
		for _, p := range []struct {
			s   string
			v   Version
			err error
		}{{a, va, errA}, {b, vb, errB}} {
			if p.err != nil {
				continue
			}
			if len(p.v) == 0 {
				t.Fatalf("%q parsed to an empty version", p.s)
			}
			for _, n := range p.v {
				if n < 0 {
					t.Fatalf("%q has a negative component: %v", p.s, p.v)
				}
			}
			// The dotted form parses back to the same version.
			back, err := ParseVersion(p.v.String())
			if err != nil || !slices.Equal(back, p.v) {
				t.Fatalf("%q -> %v -> %q -> %v, %v", p.s, p.v, p.v.String(), back, err)
			}
			if c := p.v.Compare(p.v); c != 0 {
				t.Fatalf("%v compares %d to itself", p.v, c)
			}
		}
		if errAB != nil {
			return
		}
		if ab != -ba || ab < -1 || ab > 1 {
			t.Fatalf("CompareVersions(%q, %q) = %d but CompareVersions(%q, %q) = %d", a, b, ab, b, a, ba)
		}
		if ab != va.Compare(vb) {
			t.Fatalf("CompareVersions and Version.Compare disagree on %q, %q", a, b)
		}
		// Equal versions are equal up to trailing zeros.
		if ab == 0 {
			n := max(len(va), len(vb))
			pa, pb := slices.Clone(va), slices.Clone(vb)
			pa = append(pa, make(Version, n-len(pa))...)
			pb = append(pb, make(Version, n-len(pb))...)
			if !slices.Equal(pa, pb) {
				t.Fatalf("%v and %v compare equal", va, vb)
			}
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
			if l != (Lane{}) {
				t.Fatalf("refused %q but returned %+v", s, l)
			}
			return
		}
		if l.Validate() != nil || l.IsZero() {
			t.Fatalf("accepted %q as an invalid lane %+v", s, l)
		}
		if l.String() != s {
			t.Fatalf("%q -> %+v -> %q", s, l, l.String())
		}
		// Text and JSON (as a value and as an object key) round trips.
		text, err := l.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText(%+v): %v", l, err)
		}
		var back Lane
		if err := back.UnmarshalText(text); err != nil || back != l {
			t.Fatalf("UnmarshalText(%q) = %+v, %v", text, back, err)
		}
		if !utf8.ValidString(s) {
			return // encoding/json replaces invalid UTF-8; not the lane's business
		}
		b, err := json.Marshal(map[Lane]Lane{l: l})
		if err != nil {
			t.Fatalf("json: %v", err)
		}
		var m map[Lane]Lane
		if err := json.Unmarshal(b, &m); err != nil || len(m) != 1 || m[l] != l {
			t.Fatalf("json %s -> %v, %v", b, m, err)
		}
	})
}
