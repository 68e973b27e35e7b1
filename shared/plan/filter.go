package plan

import (
	"fmt"
	"path"
	"strings"

	"github.com/kmsmig/kmsmig/shared/verdict"
)

// FilterField is what a Filter looks at.
type FilterField string

// Filter fields.
const (
	// FilterKey matches a key by ID.
	FilterKey FilterField = "key"
	// FilterAlias matches a key by alias, with or without `alias/`.
	FilterAlias FilterField = "alias"
	// FilterTag matches keys and secrets carrying tag k with value v.
	FilterTag FilterField = "tag"
	// FilterSecret matches secret names against a path.Match glob; as in
	// path.Match, `*` does not cross a `/` (use `app/*` or `*/*`).
	FilterSecret FilterField = "secret"
)

// Filter selects resources for Settings.Include and Settings.Exclude. Its
// text form is `key:<id>`, `alias:<alias>`, `tag:<k>=<v>` or
// `secret:<glob>`.
type Filter struct {
	Field FilterField
	// Value is the key ID, alias, tag key or secret-name glob.
	Value string
	// TagValue is the wanted value of a tag filter.
	TagValue string
}

// ParseFilter parses the text form of a Filter. It returns an error
// quoting s when the field is unknown, the value empty, a tag filter lacks
// `=`, or a glob is malformed.
func ParseFilter(s string) (Filter, error) {
	field, value, ok := strings.Cut(s, ":")
	if !ok || value == "" {
		return Filter{}, fmt.Errorf("filter %q: want key:<id>, alias:<alias>, tag:<k>=<v> or secret:<glob>", s)
	}
	f := Filter{Field: FilterField(field), Value: value}
	switch f.Field {
	case FilterKey:
	case FilterAlias:
		f.Value = strings.TrimPrefix(value, "alias/")
		if f.Value == "" {
			return Filter{}, fmt.Errorf("filter %q: empty alias", s)
		}
	case FilterTag:
		k, v, ok := strings.Cut(value, "=")
		if !ok || k == "" {
			return Filter{}, fmt.Errorf("filter %q: want tag:<key>=<value>", s)
		}
		f.Value, f.TagValue = k, v
	case FilterSecret:
		if _, err := path.Match(value, ""); err != nil {
			return Filter{}, fmt.Errorf("filter %q: bad glob: %w", s, err)
		}
	default:
		return Filter{}, fmt.Errorf("filter %q: unknown field %q (want key, alias, tag or secret)", s, field)
	}
	return f, nil
}

// String returns the text form ParseFilter reads.
func (f Filter) String() string {
	if f.Field == FilterTag {
		return "tag:" + f.Value + "=" + f.TagValue
	}
	if f.Field == FilterAlias && strings.HasPrefix(f.Value, "alias/") {
		// ParseFilter strips one alias/ prefix; keep the one that is
		// part of the value.
		return "alias:alias/" + f.Value
	}
	return string(f.Field) + ":" + f.Value
}

// Match reports whether the resource of v is selected by f.
func (f Filter) Match(v *verdict.Verdict) bool {
	switch f.Field {
	case FilterKey:
		return v.Resource == verdict.ResourceKey && v.ID == f.Value
	case FilterAlias:
		if v.Resource != verdict.ResourceKey {
			return false
		}
		for _, a := range v.Aliases {
			if strings.TrimPrefix(a, "alias/") == f.Value {
				return true
			}
		}
		return false
	case FilterTag:
		got, ok := v.Tags[f.Value]
		return ok && got == f.TagValue
	case FilterSecret:
		ok, _ := path.Match(f.Value, v.ID)
		return v.Resource == verdict.ResourceSecret && ok
	}
	return false
}

// selection decides which resources the filters let through.
type selection struct{ include, exclude []Filter }

// admit returns "" when v passes the filters, or the exclusion reason and
// its detail.
func (sel selection) admit(v *verdict.Verdict) (verdict.Reason, string) {
	for _, f := range sel.exclude {
		if f.Match(v) {
			return ExcludedByFilter, "excluded by filter " + f.String()
		}
	}
	if len(sel.include) == 0 {
		return "", ""
	}
	for _, f := range sel.include {
		if f.Match(v) {
			return "", ""
		}
	}
	return NotIncluded, "matches no include filter"
}
