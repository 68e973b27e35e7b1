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

// EventError is an event refused for what it says (a malformed, unknown,
// mixed or out-of-bounds field): the caller's mistake, returned to the
// caller and recorded, but not raised as an alert, so that hostile events
// cannot page anyone. (A timer's or a chained invocation's failure still
// reaches an alert: Function Compute hands asynchronous failures to
// rotate as destination events.)
type EventError struct{ Err error }

func (e *EventError) Error() string { return e.Err.Error() }
func (e *EventError) Unwrap() error { return e.Err }

// IsEventError reports whether err refuses an event for what it says.
func IsEventError(err error) bool {
	var e *EventError
	return errors.As(err, &e)
}

// badEvent marks err (nil stays nil) as an EventError.
func badEvent(err error) error {
	if err == nil || IsEventError(err) {
		return err
	}
	return &EventError{Err: err}
}
