package app

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzDecodeOSSEvent: whatever migrate receives, decoding its OSS event
// never panics, and what it accepts names only valid runs announced under
// the approvals prefix of the state bucket.
func FuzzDecodeOSSEvent(f *testing.F) {
	golden, err := os.ReadFile("testdata/oss-approval-event.json")
	require.NoError(f, err)
	f.Add(golden)
	for _, s := range []string{`{"events":[]}`, `{"events":[{}]}`, `{"events":null}`, `{"events":[1]}`, `{"events":[{"eventSource":"acs:oss"}]}`,
		strings.Replace(string(golden), "run-20261129", "../x", 1), strings.Replace(string(golden), `"size": 98`, `"size": "98"`, 1)} {
		f.Add([]byte(s))
	}
	trig := ApprovalTrigger{Bucket: "kmsmig-state", Prefix: "kmsmig/approvals/"}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeAsProduction[MigrateEvent](data)
		if err != nil || e.Events == nil {
			return
		}
		runs, err := trig.DecodeOSSEvent(e.Events)
		if err != nil {
			require.Contains(t, err.Error(), "oss event: events")
			return
		}
		require.NotEmpty(t, runs)
		for _, r := range runs {
			require.NoError(t, ValidateRunID(r))
			require.NotContains(t, r, "/")
		}
	})
}
