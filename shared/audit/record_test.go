package audit_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/audit"
)

func goldenRecord() audit.Record {
	return audit.Record{
		Time:         time.Date(2025, 3, 30, 1, 2, 3, 456789000, time.UTC),
		Level:        audit.LevelWarn,
		RunID:        "run-20250330",
		RequestID:    "1-67e8a0b3-1a2b3c4d5e6f",
		Function:     "migrate",
		Account:      "1234567890123456",
		Region:       "cn-hangzhou",
		ResourceType: "key",
		ResourceID:   "key-hzz67e8a0b3abc",
		BatchID:      "cn-hangzhou/003",
		TaskID:       "mt-0001",
		Action:       "DisableRotation",
		Outcome:      "unchanged",
		ReasonCode:   "rotation.already-off",
		DurationMS:   42,
		Message:      "quote \" backslash \\ newline \n tab \t <html> & \u2028 ok; 中文",
	}
}

func TestRecordJSONGolden(t *testing.T) {
	r := goldenRecord()
	got := string(r.AppendJSON(nil)) + "\n"
	path := filepath.Join("testdata", "record.golden.json")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), got)

	var m map[string]any
	require.NoError(t, json.Unmarshal(want, &m))
	require.Equal(t, r.Message, m["message"])
	require.Equal(t, float64(42), m["duration_ms"])
	require.Equal(t, "2025-03-30T01:02:03.456789Z", m["time"])
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	require.ElementsMatch(t, audit.FieldNames, keys, "a full record carries every field")
}

func TestRecordJSONEdgeCases(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want string
	}{
		{"control", "a\x01b", "a\x01b"},
		{"invalid utf8", "a\xffb", "a\ufffdb"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := audit.Record{Time: time.Unix(0, 0), Level: audit.LevelInfo, Message: tt.msg}
			var m map[string]any
			require.NoError(t, json.Unmarshal(r.AppendJSON(nil), &m))
			if tt.want == "" {
				require.NotContains(t, m, "message", "empty fields are left out")
				return
			}
			require.Equal(t, tt.want, m["message"])
		})
	}
}
