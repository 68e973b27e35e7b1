package app

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDailyWindow(t *testing.T) {
	sh, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, sh)
		require.NoError(t, err)
		return tm
	}
	tests := []struct {
		window, now, start, end string
	}{
		{"02:00-06:00", "2026-11-29 03:00", "2026-11-29 02:00", "2026-11-29 06:00"}, // open
		{"02:00-06:00", "2026-11-29 01:00", "2026-11-29 02:00", "2026-11-29 06:00"}, // later today
		{"02:00-06:00", "2026-11-29 07:00", "2026-11-30 02:00", "2026-11-30 06:00"}, // tomorrow
		{"23:00-03:00", "2026-11-29 01:00", "2026-11-28 23:00", "2026-11-29 03:00"}, // across midnight, open
		{"23:00-03:00", "2026-11-29 12:00", "2026-11-29 23:00", "2026-11-30 03:00"},
	}
	for _, tt := range tests {
		t.Run(tt.window+"@"+tt.now, func(t *testing.T) {
			w, err := ParseDailyWindow(tt.window)
			require.NoError(t, err)
			s, e := w.At(at(tt.now), sh)
			require.Equal(t, at(tt.start), s)
			require.Equal(t, at(tt.end), e)
		})
	}
	for _, bad := range []string{"2-6", "02:00", "25:00-06:00", "02:00-02:00"} {
		_, err := ParseDailyWindow(bad)
		require.Error(t, err, bad)
	}
}
