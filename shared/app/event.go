package app

import (
	"errors"
	"fmt"
	"time"

	"github.com/kmsmig/kmsmig/shared/eventjson"
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

// decodePayload decodes a timer payload into v the way the events
// themselves are decoded (eventjson.Decode): one JSON value, exact field
// names, no unknown or repeated field.
func decodePayload(payload string, v any) error { return eventjson.Decode([]byte(payload), v) }

// errMixedPayload: a timer event carries its options in its payload; the
// same options given beside it would be silently replaced.
var errMixedPayload = errors.New("payload: a timer event's payload cannot be combined with direct options; put every option in the payload")
