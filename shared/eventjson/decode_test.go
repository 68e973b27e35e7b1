package eventjson_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/eventjson"
)

type inner struct {
	ID string `json:"id"`
}

type base struct {
	Trigger string `json:"trigger,omitempty"`
}

type event struct {
	base
	Name  string          `json:"name"`
	Items []inner         `json:"items,omitempty"`
	Ctx   *inner          `json:"ctx,omitempty"`
	Raw   json.RawMessage `json:"raw,omitempty"`
	Tags  []string        `json:"tags,omitempty"`
}

// lenientEvent ignores unknown fields when it carries "ctx".
type lenientEvent struct{ event }

func (lenientEvent) IgnoreUnknown(fields map[string]json.RawMessage) bool {
	_, ok := fields["ctx"]
	return ok
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in string
		want     event
		err      string
	}{
		{name: "exact names, nested and promoted", in: `{"trigger":"t","name":"n","items":[{"id":"a"}],"ctx":{"id":"c"},"raw":{"Any":1},"tags":["x"]}`,
			want: event{base: base{Trigger: "t"}, Name: "n", Items: []inner{{ID: "a"}}, Ctx: &inner{ID: "c"}, Raw: json.RawMessage(`{"Any":1}`), Tags: []string{"x"}}},
		{name: "unknown top-level field", in: `{"nme":"n"}`, err: `json: unknown field "nme"`},
		{name: "another case", in: `{"Name":"n"}`, err: `json: unknown field "Name" (field names are case-sensitive: "name")`},
		{name: "another case nested", in: `{"ctx":{"ID":"c"}}`, err: `json: unknown field "ctx.ID" (field names are case-sensitive: "ctx.id")`},
		{name: "unknown in a list element", in: `{"items":[{"id":"a"},{"idx":"b"}]}`, err: `json: unknown field "items[1].idx"`},
		{name: "repeated field", in: `{"name":"a","name":"b"}`, err: `json: field "name" given twice`},
		{name: "trailing value", in: `{"name":"a"}{"name":"b"}`, err: "unexpected data after the JSON value"},
		{name: "empty", in: " \n", err: "empty event: want a JSON object"},
		{name: "wrong type is encoding/json's error", in: `{"items":{"id":"a"}}`, err: "cannot unmarshal object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got event
			err := eventjson.Decode([]byte(tt.in), &got)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				assert.Equal(t, event{}, got, "nothing is written into a refused event")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	require.ErrorContains(t, eventjson.Decode([]byte(`{}`), event{}), "want a non-nil pointer")
}

func TestDecodeLenient(t *testing.T) {
	var got lenientEvent
	require.NoError(t, eventjson.Decode([]byte(`{"ctx":{"id":"c","new":1},"name":"n","Name":"shadow","extra":[1]}`), &got))
	assert.Equal(t, "n", got.Name, "an ignored field in another case does not overwrite the exact one")
	assert.Equal(t, "c", got.Ctx.ID)

	var strict lenientEvent
	require.EqualError(t, eventjson.Decode([]byte(`{"name":"n","extra":1}`), &strict), `json: unknown field "extra"`)
	require.EqualError(t, eventjson.Decode([]byte(`{"ctx":{},"name":"a","name":"b"}`), &strict), `json: field "name" given twice`,
		"lenient events still refuse repeated fields")
}
