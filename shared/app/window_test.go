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

func TestDailyWindowEdges(t *testing.T) {
	sh, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04:05", s, sh)
		require.NoError(t, err)
		return tm
	}
	tests := []struct {
		name, window, now, start, end string
	}{
		{"at the start: open", "02:00-06:00", "2026-11-29 02:00:00", "2026-11-29 02:00:00", "2026-11-29 06:00:00"},
		{"at the end: closed, tomorrow's", "02:00-06:00", "2026-11-29 06:00:00", "2026-11-30 02:00:00", "2026-11-30 06:00:00"},
		{"a second before the end", "02:00-06:00", "2026-11-29 05:59:59", "2026-11-29 02:00:00", "2026-11-29 06:00:00"},
		{"across midnight, just before it", "23:00-03:00", "2026-11-29 23:59:59", "2026-11-29 23:00:00", "2026-11-30 03:00:00"},
		{"across midnight, at its end", "23:00-03:00", "2026-11-30 03:00:00", "2026-11-30 23:00:00", "2026-12-01 03:00:00"},
		{"whole day but a minute", "00:00-23:59", "2026-11-29 23:59:30", "2026-11-30 00:00:00", "2026-11-30 23:59:00"},
		{"across the year", "22:00-01:00", "2026-12-31 23:00:00", "2026-12-31 22:00:00", "2027-01-01 01:00:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := ParseDailyWindow(tt.window)
			require.NoError(t, err)
			s, e := w.At(at(tt.now), sh)
			require.Equal(t, at(tt.start), s)
			require.Equal(t, at(tt.end), e)
		})
	}
	// The instant matters, not the zone it is given in.
	w, err := ParseDailyWindow("02:00-06:00")
	require.NoError(t, err)
	s, e := w.At(time.Date(2026, 11, 28, 19, 0, 0, 0, time.UTC), sh) // 03:00 in Shanghai
	require.Equal(t, at("2026-11-29 02:00:00"), s)
	require.Equal(t, at("2026-11-29 06:00:00"), e)
}

func TestParseDailyWindowErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"02:00", `"02:00": want HH:MM-HH:MM, e.g. 02:00-06:00`},
		{"25:00-06:00", `"25:00-06:00": start: "25:00" is not HH:MM`},
		{"02:00-06:60", `"02:00-06:60": end: "06:60" is not HH:MM`},
		{"02:00-06:00-07:00", `"02:00-06:00-07:00": end: "06:00-07:00" is not HH:MM`},
		{"02:00-02:00", `"02:00-02:00": start and end are equal`},
	}
	for _, tt := range tests {
		_, err := ParseDailyWindow(tt.in)
		require.EqualError(t, err, tt.want)
	}
	w, err := ParseDailyWindow(" 23:30 - 00:15 ")
	require.NoError(t, err)
	require.Equal(t, DailyWindow{Start: 23*time.Hour + 30*time.Minute, End: 15 * time.Minute}, w)
}

// Last is the window a task in flight may have overrun: the one open now,
// or the latest that closed.
func TestDailyWindowLast(t *testing.T) {
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
		{"02:00-06:00", "2026-11-29 07:00", "2026-11-29 02:00", "2026-11-29 06:00"}, // closed an hour ago
		{"02:00-06:00", "2026-11-29 01:00", "2026-11-28 02:00", "2026-11-28 06:00"}, // not yet open today: yesterday's
		{"02:00-06:00", "2026-11-29 02:00", "2026-11-29 02:00", "2026-11-29 06:00"}, // opening
		{"23:00-03:00", "2026-11-29 01:00", "2026-11-28 23:00", "2026-11-29 03:00"}, // across midnight, open
		{"23:00-03:00", "2026-11-29 12:00", "2026-11-28 23:00", "2026-11-29 03:00"}, // across midnight, closed
	}
	for _, tt := range tests {
		t.Run(tt.window+"@"+tt.now, func(t *testing.T) {
			w, err := ParseDailyWindow(tt.window)
			require.NoError(t, err)
			s, e := w.Last(at(tt.now), sh)
			require.Equal(t, at(tt.start), s)
			require.Equal(t, at(tt.end), e)
		})
	}
}
