package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// TimerEvent is the event of a Function Compute timer trigger.
type TimerEvent struct {
	TriggerTime string `json:"triggerTime,omitempty"`
	TriggerName string `json:"triggerName,omitempty"`
	// Payload is the trigger's configured payload, a string; the functions
	// read it as the JSON of their direct-invocation options.
	Payload string `json:"payload,omitempty"`
}

// IsTimer reports whether the event came from a timer trigger.
func (e TimerEvent) IsTimer() bool { return e.TriggerName != "" || e.TriggerTime != "" }

// Time returns the trigger time, or ok=false when there is none. A
// malformed time is an error naming the field.
func (e TimerEvent) Time() (t time.Time, ok bool, err error) {
	if e.TriggerTime == "" {
		return time.Time{}, false, nil
	}
	t, err = time.Parse(time.RFC3339, e.TriggerTime)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("triggerTime %q: not an RFC 3339 time", e.TriggerTime)
	}
	return t, true, nil
}

// decodeStrict decodes a timer payload into v refusing unknown fields and
// trailing data; errors name the offending field where encoding/json says
// it. The events themselves are decoded by fcruntime.Handler, which
// ignores trailing data (see TestProductionEventDecoding).
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("unexpected data after the JSON value")
	}
	return nil
}
