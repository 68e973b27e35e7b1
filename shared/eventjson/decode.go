package eventjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
)

// Lenient is implemented by an event type that takes some of its events
// from another service, whose documents may grow fields: for such an event
// (recognised by its top-level fields) fields the type does not know are
// ignored instead of refused. Every other event of the type stays strict.
type Lenient interface {
	// IgnoreUnknown reports whether unknown fields are ignored for the
	// event whose top-level fields are fields (name to raw value).
	IgnoreUnknown(fields map[string]json.RawMessage) bool
}

// ErrTrailingData: something other than white space follows the event's
// JSON value.
var ErrTrailingData = errors.New("unexpected data after the JSON value")

// Decode decodes data, exactly one JSON value, into v (a non-nil pointer).
// An object's field names must match the Go type's JSON names exactly; an
// unknown field (unless v is Lenient for this event), a field given twice
// and trailing data are errors naming the field or saying what is wrong.
// Decode writes into v only once data has passed every check.
func Decode(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("eventjson: decode into %T: want a non-nil pointer", v)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty event: want a JSON object")
		}
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ErrTrailingData
	}
	lenient := false
	if l, ok := v.(Lenient); ok {
		if fs, isObject, err := members(raw); err == nil && isObject {
			top := make(map[string]json.RawMessage, len(fs))
			for _, f := range fs {
				top[f.name] = f.value
			}
			lenient = l.IgnoreUnknown(top)
		}
	}
	clean, err := check(raw, rv.Type().Elem(), lenient, "")
	if err != nil {
		return err
	}
	out := json.NewDecoder(bytes.NewReader(clean))
	out.DisallowUnknownFields()
	return out.Decode(v)
}

type member struct {
	name  string
	value json.RawMessage
}

// members lists the fields of raw in order when it is an object.
func members(raw json.RawMessage) ([]member, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, false, err
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, true, err
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, true, err
		}
		out = append(out, member{name, v})
	}
	return out, true, nil
}

var unmarshaler = reflect.TypeFor[json.Unmarshaler]()

// check walks raw against t and returns it with unknown fields left out
// (lenient) or an error naming the first unknown or repeated field (path
// is where raw sits, for nested fields). A value that is not what t wants
// is returned as is: encoding/json then names the type mismatch.
func check(raw json.RawMessage, t reflect.Type, lenient bool, path string) (json.RawMessage, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshaler) || t.Implements(unmarshaler) {
		return raw, nil
	}
	switch t.Kind() {
	case reflect.Struct:
		return checkObject(raw, t, lenient, path)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() != reflect.Struct && !(t.Elem().Kind() == reflect.Pointer && t.Elem().Elem().Kind() == reflect.Struct) {
			return raw, nil
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return raw, nil
		}
		var b bytes.Buffer
		b.WriteByte('[')
		for i, item := range items {
			c, err := check(item, t.Elem(), lenient, path+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return nil, err
			}
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(c)
		}
		b.WriteByte(']')
		return b.Bytes(), nil
	}
	return raw, nil
}

func checkObject(raw json.RawMessage, t reflect.Type, lenient bool, path string) (json.RawMessage, error) {
	fs, isObject, err := members(raw)
	if err != nil || !isObject {
		return raw, nil // encoding/json reports it
	}
	known := fieldsOf(t)
	seen := map[string]bool{}
	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	for _, f := range fs {
		name := join(path, f.name)
		if seen[f.name] {
			return nil, fmt.Errorf("json: field %q given twice", name)
		}
		seen[f.name] = true
		ft, ok := known[f.name]
		if !ok {
			if lenient {
				continue
			}
			for k := range known {
				if strings.EqualFold(k, f.name) {
					return nil, fmt.Errorf("json: unknown field %q (field names are case-sensitive: %q)", name, join(path, k))
				}
			}
			return nil, fmt.Errorf("json: unknown field %q", name)
		}
		c, err := check(f.value, ft, lenient, name)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			b.WriteByte(',')
		}
		key, _ := json.Marshal(f.name)
		b.Write(key)
		b.WriteByte(':')
		b.Write(c)
		n++
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// join names field inside path ("" at the top).
func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// fieldsOf maps the exact JSON names of t's fields (embedded structs'
// fields promoted, as encoding/json does) to their types.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if _, dup := out[name]; !dup {
				out[name] = f.Type
			}
		}
	}
	walk(t)
	return out
}
