package audit

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Level is the severity of a record.
type Level string

// The levels, lowest first. ALERT marks records that were also sent as an
// alert (see shared/alert).
const (
	LevelDebug Level = "DEBUG"
	LevelInfo  Level = "INFO"
	LevelWarn  Level = "WARN"
	LevelError Level = "ERROR"
	LevelAlert Level = "ALERT"
)

// Record is one entry of the audit trail. Its fields are the stable schema
// of the trail (the JSON and SLS key of each is given by FieldNames); there
// is deliberately no free-form map, so no field can carry a secret value by
// design, and Message passes the redaction guard before it is written.
type Record struct {
	Time         time.Time
	Level        Level
	RunID        string
	RequestID    string
	Function     string
	Account      string
	Region       string
	ResourceType string // "key", "secret", "instance", "task", ...
	ResourceID   string
	BatchID      string
	TaskID       string
	Action       string // what was done, e.g. "DisableRotation"
	Outcome      string // "unchanged", "created", "updated", "failed", ...
	ReasonCode   string // a verdict or error reason code
	DurationMS   int64
	Message      string
}

// FieldNames lists the keys a record is written with, in order: JSON lines
// and SLS log contents use the same names. An SLS index for the trail should
// declare these keys.
var FieldNames = []string{
	"time", "level", "run_id", "request_id", "function", "account", "region",
	"resource_type", "resource_id", "batch_id", "task_id", "action", "outcome",
	"reason_code", "duration_ms", "message",
}

// Fields calls fn for every non-empty field but time, in FieldNames order.
func (r *Record) Fields(fn func(key, value string)) {
	fn("level", string(r.Level))
	pairs := [...]struct{ k, v string }{
		{"run_id", r.RunID}, {"request_id", r.RequestID}, {"function", r.Function},
		{"account", r.Account}, {"region", r.Region}, {"resource_type", r.ResourceType},
		{"resource_id", r.ResourceID}, {"batch_id", r.BatchID}, {"task_id", r.TaskID},
		{"action", r.Action}, {"outcome", r.Outcome}, {"reason_code", r.ReasonCode},
	}
	for _, p := range pairs {
		if p.v != "" {
			fn(p.k, p.v)
		}
	}
	if r.DurationMS != 0 {
		fn("duration_ms", strconv.FormatInt(r.DurationMS, 10))
	}
	if r.Message != "" {
		fn("message", r.Message)
	}
}

// stringFields returns pointers to the free-text fields the guard scrubs.
func (r *Record) stringFields() [13]*string {
	return [...]*string{&r.RunID, &r.RequestID, &r.Function, &r.Account, &r.Region,
		&r.ResourceType, &r.ResourceID, &r.BatchID, &r.TaskID, &r.Action, &r.Outcome,
		&r.ReasonCode, &r.Message}
}

// AppendJSON appends r as one JSON object (no newline) with the keys of
// FieldNames; empty fields are left out, time and level are always present.
func (r *Record) AppendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	r.Fields(func(k, v string) {
		b = append(b, ',', '"')
		b = append(b, k...)
		b = append(b, `":`...)
		if k == "duration_ms" {
			b = append(b, v...)
			return
		}
		b = appendJSONString(b, v)
	})
	return append(b, '}')
}

const hex = "0123456789abcdef"

// jsonSafe marks the ASCII bytes a JSON string may carry unescaped (the
// same set encoding/json leaves alone with HTML escaping on).
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
