package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kmsmig chaos says which store it runs on, refuses another, and runs on
// the OSS store unless told otherwise.
func TestChaosState(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(t.Context(), []string{"chaos", "--help"}, &out, &errOut))
	assert.Contains(t, errOut.String(), "Usage: kmsmig chaos")
	assert.Contains(t, errOut.String(), "--state oss|dir")
	assert.Contains(t, errOut.String(), "OSS twin")

	out.Reset()
	errOut.Reset()
	require.Equal(t, 2, run(t.Context(), []string{"chaos", "--state", "s3"}, &out, &errOut))
	assert.Contains(t, errOut.String(), `--state "s3": want oss`)
	assert.Empty(t, out.String(), "nothing ran")

	out.Reset()
	errOut.Reset()
	require.Equal(t, 0, run(t.Context(), []string{"chaos", "--schedules", "1", "--steps", "3", "--json"}, &out, &errOut), errOut.String())
	var res struct {
		State      string `json:"state"`
		Schedules  int    `json:"schedules"`
		Violations []any  `json:"violations"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &res), out.String())
	assert.Equal(t, "oss", res.State)
	assert.Equal(t, 1, res.Schedules)
	assert.Empty(t, res.Violations)

	out.Reset()
	errOut.Reset()
	require.Equal(t, 0, run(t.Context(), []string{"chaos", "--schedules", "1", "--steps", "3", "--state", "dir"}, &out, &errOut), errOut.String())
	assert.Contains(t, out.String(), "1 schedules on the dir store, ")
}
