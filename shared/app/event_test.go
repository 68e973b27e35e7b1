package app

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProductionEventDecoding pins what the functions' decoder does with
// an event: fcruntime.Handler decodes it with eventjson.Decode, the same
// decoder the use cases read timer payloads with. So:
//   - exactly one JSON value: anything after it but white space is refused;
//   - field names match exactly (case-sensitive); another case is an
//     unknown field, and the error says which name was meant;
//   - a field given twice is refused;
//   - null is the empty event, and an empty payload is refused;
//   - rotate reads a Function Compute destination event (requestContext
//     an object) leniently: fields it does not know are ignored for that
//     event only.
func TestProductionEventDecoding(t *testing.T) {
	tests := []struct {
		name, event string
		runID       string // want, when accepted
		err         string // want, when refused
	}{
		{name: "plain", event: `{"runId":"x"}`, runID: "x"},
		{name: "trailing white space", event: "{\"runId\":\"x\"}\n\t ", runID: "x"},
		{name: "trailing JSON value refused", event: `{"runId":"x"} {}`, err: "unexpected data after the JSON value"},
		{name: "trailing text refused", event: `{"runId":"x"} garbage`, err: "unexpected data after the JSON value"},
		{name: "trailing brace refused", event: `{"runId":"x"}}`, err: "unexpected data after the JSON value"},
		{name: "field name case matters", event: `{"runID":"case"}`, err: `json: unknown field "runID" (field names are case-sensitive: "runId")`},
		{name: "upper-case field name", event: `{"RUNID":"up"}`, err: `json: unknown field "RUNID" (field names are case-sensitive: "runId")`},
		{name: "repeated field", event: `{"runId":"a","runId":"b"}`, err: `json: field "runId" given twice`},
		{name: "null is the empty event", event: `null`, runID: ""},
		{name: "empty payload", event: ``, err: "empty event: want a JSON object"},
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

	// The timer payload is decoded the same way.
	_, err := DiscoverEvent{TimerEvent: TimerEvent{TriggerName: "t", Payload: `{"runId":"x"} {}`}}.options()
	require.ErrorContains(t, err, "payload: unexpected data after the JSON value")
	_, err = DiscoverEvent{TimerEvent: TimerEvent{TriggerName: "t", Payload: `{"DRYRUN":true}`}}.options()
	require.ErrorContains(t, err, `payload: json: unknown field "DRYRUN"`)
	// A payload beside direct options is refused, not silently preferred.
	_, err = decodeAsProduction[DiscoverEvent]([]byte(`{"triggerName":"t","payload":"{}","dryRun":true,"runId":"trial"}`))
	require.NoError(t, err, "decoding accepts it; the use case refuses it")
	_, err = DiscoverEvent{TimerEvent: TimerEvent{TriggerName: "t", Payload: "{}"}, DiscoverOptions: DiscoverOptions{DryRun: true, RunID: "trial"}}.options()
	require.ErrorContains(t, err, "discover event: payload: a timer event's payload cannot be combined with direct options")
}

// Rotate reads Function Compute's destination events leniently, and only
// them: an unknown field in one (top level or in requestContext) is
// ignored and the failure still reaches the alert; the same field in any
// other rotate event, or in a migrate event, is refused.
func TestRotateReadsDestinationEventsLeniently(t *testing.T) {
	dest := `{"timestamp":1764378000000,"requestContext":{"requestId":"r-1","functionArn":"acs:fc:cn-hangzhou:1111:functions/kmsmig-poll",` +
		`"condition":"UnhandledInvocationError","approximateInvokeCount":3,"newField":1},"requestPayload":"{}",` +
		`"responseContext":{"statusCode":200,"functionError":"UnhandledInvocationError"},"responsePayload":"boom","version":"v2","region":"cn-hangzhou"}`
	r, err := decodeAsProduction[RotateEvent]([]byte(dest))
	require.NoError(t, err)
	require.NotNil(t, r.RequestContext)
	assert.Equal(t, "r-1", r.RequestContext.RequestID)
	assert.Equal(t, 3, r.RequestContext.ApproximateInvokeCount)
	assert.Equal(t, "boom", r.ResponsePayload)

	for _, ev := range []string{`{"requestContext":null,"version":"v2"}`, `{"action":"sweep","version":"v2"}`} {
		_, err = decodeAsProduction[RotateEvent]([]byte(ev))
		require.ErrorContains(t, err, `json: unknown field "version"`, ev)
	}
	_, err = decodeAsProduction[StepEvent]([]byte(dest))
	require.ErrorContains(t, err, `json: unknown field "timestamp"`)
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
