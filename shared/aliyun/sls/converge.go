package sls

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
)

// What a set-up step did to one object, in the words of a level-triggered
// step.
const (
	Created   = "created"
	Updated   = "updated"
	Unchanged = "unchanged"
)

// Applied is one object EnsureTrail brought to its definition.
type Applied struct {
	// Kind is "saved search", "dashboard", "webhook integration", "action
	// policy" or "alert rule".
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Outcome string `json:"outcome"` // created, updated or unchanged
}

// object is one named SLS object and how to read it, define it and write
// it; T is the SDK type the definition is sent as.
type object[T any] struct {
	kind, name string
	// notFound is the code the service answers get with when the object
	// is missing.
	notFound string
	// get reads the object as a JSON document (maps, slices, strings,
	// float64s, bools).
	get func() (any, error)
	// define returns the definition to apply given what exists (nil when
	// nothing does), and the same as a JSON document to compare with it.
	define func(have any) (T, any, error)
	// send creates (create true) or replaces the object.
	send func(create bool, def T) error
}

// converge reads o, creates it when it is missing, replaces it when it
// does not cover its definition and otherwise leaves it alone. A create
// that fails because someone else created the object meanwhile (another
// setup-logs) converges on theirs: the object is read again and compared.
// Context errors are returned unchanged.
func converge[T any](ctx context.Context, o object[T]) (Applied, error) {
	a := Applied{Kind: o.kind, Name: o.name}
	if err := ctx.Err(); err != nil {
		return a, err
	}
	have, err := o.get()
	if err != nil && !isSLSCode(err, o.notFound) {
		return a, fmt.Errorf("sls: get %s %s: %w", o.kind, o.name, err)
	}
	if err != nil {
		def, _, err := o.define(nil)
		if err != nil {
			return a, err
		}
		cerr := o.send(true, def)
		if cerr == nil {
			a.Outcome = Created
			return a, nil
		}
		if err := ctx.Err(); err != nil {
			return a, err
		}
		if have, err = o.get(); err != nil {
			return a, fmt.Errorf("sls: create %s %s: %w", o.kind, o.name, cerr)
		}
	}
	def, doc, err := o.define(have)
	if err != nil {
		return a, err
	}
	if covers(have, doc) {
		a.Outcome = Unchanged
		return a, nil
	}
	if err := ctx.Err(); err != nil {
		return a, err
	}
	if err := o.send(false, def); err != nil {
		return a, fmt.Errorf("sls: update %s %s: %w", o.kind, o.name, err)
	}
	a.Outcome = Updated
	return a, nil
}

// covers reports whether the document have says everything want says.
// Objects compare key by key, ignoring keys want does not have (the
// service adds times, ids and defaults); a key want gives a zero value
// ("", 0, false, null, empty) may be missing from have. Arrays compare
// element by element and must have the same length. A null in want
// matches anything: it is a field the definition leaves unset.
func covers(have, want any) bool {
	switch w := want.(type) {
	case nil:
		return true
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return have == nil && isZero(w)
		}
		for k, wv := range w {
			hv, present := h[k]
			if !present {
				if isZero(wv) {
					continue
				}
				return false
			}
			if !covers(hv, wv) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok {
			return have == nil && len(w) == 0
		}
		if len(h) != len(w) {
			return false
		}
		for i := range w {
			if !covers(h[i], w[i]) {
				return false
			}
		}
		return true
	default:
		if have == nil {
			return isZero(w)
		}
		return reflect.DeepEqual(have, w)
	}
}

func isZero(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case bool:
		return !v
	case float64:
		return v == 0
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	}
	return false
}

// jsonDoc returns v as a JSON document (what json.Unmarshal into an any
// gives).
func jsonDoc(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return parseDoc(b)
}

func parseDoc(b []byte) (any, error) {
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		// Not the document itself: a webhook integration carries a token.
		return nil, fmt.Errorf("sls: decode a %d-byte document: %w", len(b), err)
	}
	return doc, nil
}
