package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// The Guard is the one scrubbing path of the process: besides audit
// records (ScrubRecord) it scrubs what is stored (ScrubStored), the errors
// an invocation returns (ScrubError), the lines written to stderr
// (Writer) and, in shared/alert, every alert before a sink sends it.

// ScrubError returns err with its text scrubbed, or err itself when the
// text holds nothing to remove (nil stays nil). The returned error unwraps
// to err, so errors.Is and errors.As still see what the caller returned;
// only the text that leaves the process changes.
func (g *Guard) ScrubError(err error) error {
	if err == nil {
		return nil
	}
	s, changed := g.Scrub(err.Error())
	if !changed {
		return err
	}
	return &scrubbedError{text: s, err: err}
}

type scrubbedError struct {
	text string
	err  error
}

func (e *scrubbedError) Error() string { return e.text }
func (e *scrubbedError) Unwrap() error { return e.err }

// Writer returns a writer that scrubs each Write before passing it to w.
// Every fmt.Fprint* call is one Write, so a line printed in one call is
// scrubbed whole; a credential split across two Writes is not recognised.
// It reports len(p) written when w accepted the scrubbed text.
func (g *Guard) Writer(w io.Writer) io.Writer { return &scrubWriter{g: g, w: w} }

type scrubWriter struct {
	g *Guard
	w io.Writer
}

func (s *scrubWriter) Write(p []byte) (int, error) {
	out, changed := s.g.Scrub(string(p))
	if !changed {
		return s.w.Write(p)
	}
	if _, err := io.WriteString(s.w, out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// ScrubStored returns the payload to store at key with credentials
// removed, and whether anything changed. Stored state is read back by the
// code, so identifiers must survive untouched (a secret may be named like a
// token):
//
//   - a JSON payload keeps its bytes except for string values: every
//     string value loses the exact values registered with Add, and the
//     string values of error and explanation fields (IsTextField: message,
//     reason, detail, error, note, ...) are scrubbed whole, as a record is;
//   - a Markdown payload (key ending in .md) is a rendering for people and
//     is scrubbed whole;
//   - any other payload loses the registered values only.
func (g *Guard) ScrubStored(key string, data []byte) ([]byte, bool) {
	if strings.HasSuffix(key, ".md") {
		s, changed := g.Scrub(string(data))
		if !changed {
			return data, false
		}
		return []byte(s), true
	}
	if out, changed, err := g.scrubJSON(data); err == nil {
		return out, changed
	}
	s, changed := g.scrubKnown(string(data))
	if !changed {
		return data, false
	}
	return []byte(s), true
}

// textFields name (as parts of a lower-cased JSON field name) the fields
// that carry error texts and explanations rather than identifiers.
var textFields = []string{"message", "msg", "reason", "detail", "error", "note", "deferred", "pending", "remediation",
	"text", "why", "problem", "warning", "stalled", "title", "description"}

// IsTextField reports whether a JSON field of that name holds free text
// (an error message, a reason, a note) that ScrubStored scrubs whole.
// Codes ("reasonCode") are not text fields.
func IsTextField(name string) bool {
	n := strings.ToLower(name)
	if strings.HasSuffix(n, "code") {
		return false
	}
	for _, f := range textFields {
		if strings.Contains(n, f) {
			return true
		}
	}
	return false
}

// scrubKnown removes the registered values only.
func (g *Guard) scrubKnown(s string) (string, bool) {
	if g == nil {
		return s, false
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	changed := false
	for _, k := range g.known {
		if strings.Contains(s, k) {
			s = strings.ReplaceAll(s, k, Redacted)
			changed = true
		}
	}
	return s, changed
}

// jsonFrame is one open object or array while walking a JSON document:
// field is the name the current value sits under (for an array, the
// array's own field, so its elements inherit it).
type jsonFrame struct {
	object    bool
	expectKey bool
	field     string
}

var errNotJSON = errors.New("audit: not one JSON value")

// scrubJSON rewrites the string values of a JSON document in place (every
// other byte kept) and returns an error when data is not one JSON value.
// Once json.Valid has accepted data, a byte scan suffices: outside string
// literals only structure, numbers and literals occur.
func (g *Guard) scrubJSON(data []byte) ([]byte, bool, error) {
	if !json.Valid(data) {
		return data, false, errNotJSON
	}
	var (
		stack   []jsonFrame
		out     bytes.Buffer
		last    int
		changed bool
	)
	for i := 0; i < len(data); i++ {
		n := len(stack)
		switch data[i] {
		case '{', '[':
			field := ""
			if n > 0 {
				field = stack[n-1].field
			}
			stack = append(stack, jsonFrame{object: data[i] == '{', expectKey: data[i] == '{', field: field})
		case '}', ']':
			stack = stack[:n-1]
		case ',':
			if n > 0 && stack[n-1].object {
				stack[n-1].expectKey = true
			}
		case '"':
			j, escaped := i+1, false
			for data[j] != '"' {
				if data[j] == '\\' {
					escaped = true
					j++
				}
				j++
			}
			var str string
			if escaped {
				if err := json.Unmarshal(data[i:j+1], &str); err != nil {
					return data, false, err
				}
			} else {
				str = string(data[i+1 : j])
			}
			if n > 0 && stack[n-1].object && stack[n-1].expectKey {
				stack[n-1].field, stack[n-1].expectKey = str, false
				i = j
				continue
			}
			field := ""
			if n > 0 {
				field = stack[n-1].field
			}
			v, c := g.scrubKnown(str)
			if IsTextField(field) {
				var c2 bool
				v, c2 = g.Scrub(v)
				c = c || c2
			}
			if c {
				lit, err := json.Marshal(v)
				if err != nil {
					return data, false, err
				}
				out.Write(data[last:i])
				out.Write(lit)
				last, changed = j+1, true
			}
			i = j
		}
	}
	if !changed {
		return data, false, nil
	}
	out.Write(data[last:])
	return out.Bytes(), true, nil
}
