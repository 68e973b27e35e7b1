package app

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProductionEventDecoding pins what the functions' decoder does with
// an event, as found: fcruntime.Handler hands the payload to aws-lambda-go's
// typed handler, which runs one encoding/json Decoder.Decode with
// DisallowUnknownFields and nothing else. So:
//   - whatever follows the first JSON value is ignored, even text that is
//     not JSON or an unbalanced brace;
//   - field names match case-insensitively (encoding/json's rule), and an
//     unknown field is refused as `json: unknown field "<name>"`;
//   - a repeated field keeps its last value, across case variants too;
//   - null is the empty event, and an empty payload fails with EOF.
//
// The timer payload inside an event is decoded by the use cases with
// decodeStrict, which does refuse trailing data. Making the two agree is
// left to a later change of the production decoder; this test then changes
// with it.
func TestProductionEventDecoding(t *testing.T) {
	tests := []struct {
		name, event string
		runID       string // want, when accepted
		err         string // want, when refused
	}{
		{name: "plain", event: `{"runId":"x"}`, runID: "x"},
		{name: "trailing JSON value ignored", event: `{"runId":"x"} {}`, runID: "x"},
		{name: "trailing text ignored", event: `{"runId":"x"} garbage`, runID: "x"},
		{name: "trailing brace ignored", event: `{"runId":"x"}}`, runID: "x"},
		{name: "field name case ignored", event: `{"runID":"case"}`, runID: "case"},
		{name: "upper-case field name", event: `{"RUNID":"up"}`, runID: "up"},
		{name: "last repeated field wins", event: `{"runId":"a","RunId":"b"}`, runID: "b"},
		{name: "null is the empty event", event: `null`, runID: ""},
		{name: "empty payload", event: ``, err: "EOF"},
		{name: "truncated", event: `{"runId":"x"`, err: "unexpected EOF"},
		{name: "unknown field", event: `{"colour":"red"}`, err: `json: unknown field "colour"`},
		{name: "wrong type", event: `{"runId":7}`, err: "cannot unmarshal number"},
		{name: "not an object", event: `[]`, err: "cannot unmarshal array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := decodeAsProduction[DiscoverEvent]([]byte(tt.event))
			s, serr := decodeAsProduction[StepEvent]([]byte(tt.event))
			r, rerr := decodeAsProduction[RotateEvent]([]byte(tt.event))
			if tt.err != "" {
				for _, err := range []error{err, serr, rerr} {
					require.ErrorContains(t, err, tt.err)
				}
				return
			}
			require.NoError(t, err)
			require.NoError(t, serr)
			require.NoError(t, rerr)
			assert.Equal(t, tt.runID, d.RunID)
			assert.Equal(t, tt.runID, s.RunID)
			assert.Equal(t, tt.runID, r.RunID)
		})
	}

	// The timer payload is stricter: trailing data is refused.
	_, err := DiscoverEvent{TimerEvent: TimerEvent{TriggerName: "t", Payload: `{"runId":"x"} {}`}}.options()
	require.ErrorContains(t, err, "payload: unexpected data after the JSON value")
}

func TestTimerEvent(t *testing.T) {
	var none TimerEvent
	assert.False(t, none.IsTimer())
	_, ok, err := none.Time()
	require.NoError(t, err)
	assert.False(t, ok)

	e := TimerEvent{TriggerName: "nightly", TriggerTime: "2026-11-29T01:00:00Z"}
	assert.True(t, e.IsTimer())
	at, ok, err := e.Time()
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC), at)

	_, _, err = TimerEvent{TriggerTime: "yesterday"}.Time()
	require.EqualError(t, err, `triggerTime "yesterday": not an RFC 3339 time`)
}
