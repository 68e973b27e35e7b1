package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func golden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "%s differs; run go test -update after checking the change", path)
	return want
}

// The report of a small hand-made estate, in both forms, and both forms
// round-trip: the JSON decodes (strictly) to the same Report, and the
// decoded Report renders the same Markdown.
func TestReportGolden(t *testing.T) {
	r := goldenReport(t)

	js, err := json.MarshalIndent(r, "", "  ")
	require.NoError(t, err)
	wantJSON := golden(t, "report.json", append(js, '\n'))
	md := r.Markdown()
	wantMD := golden(t, "report.md", []byte(md))

	var back Report
	dec := json.NewDecoder(bytes.NewReader(wantJSON))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&back))
	assert.Equal(t, r, &back)
	again, err := json.MarshalIndent(&back, "", "  ")
	require.NoError(t, err)
	assert.Equal(t, string(wantJSON), string(again)+"\n")
	assert.Equal(t, string(wantMD), back.Markdown())
}
