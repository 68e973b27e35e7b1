package fc_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/fc"
)

func TestClockJumpsForwardOnly(t *testing.T) {
	start := time.Date(2025, 6, 1, 1, 0, 0, 0, time.UTC)
	c := fc.NewClock(start, 1)
	moved, err := c.Jump(start.Add(6 * time.Hour))
	require.NoError(t, err)
	assert.InDelta(t, float64(6*time.Hour), float64(moved), float64(time.Second))
	assert.False(t, c.Now().Before(start.Add(6*time.Hour)))
	assert.True(t, c.Now().Before(start.Add(6*time.Hour+time.Minute)))

	moved, err = c.Jump(start)
	require.NoError(t, err)
	assert.Zero(t, moved, "the clock never goes back")
	assert.False(t, c.Now().Before(start.Add(6*time.Hour)))
}

func TestClockSleepWakesAtJump(t *testing.T) {
	start := time.Date(2025, 6, 1, 1, 0, 0, 0, time.UTC)
	c := fc.NewClock(start, 1) // an hour's sleep takes an hour unless the clock jumps
	done := make(chan error, 1)
	go func() { done <- c.SleepUntil(t.Context(), start.Add(time.Hour)) }()
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("woke before the jump: %v", err)
	default:
	}
	_, err := c.Jump(start.Add(2 * time.Hour))
	require.NoError(t, err)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the sleeper did not wake at the jump")
	}
}

// The published mapping gives every reader the clock's time, before and
// after a jump.
func TestClockPublishesItsMapping(t *testing.T) {
	start := time.Date(2025, 6, 1, 1, 0, 0, 0, time.FixedZone("CST", 8*3600))
	c := fc.NewClock(start, 60)
	path := filepath.Join(t.TempDir(), "clock.json")
	require.NoError(t, c.Publish(path))
	read := func() fc.ClockMapping {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		var m fc.ClockMapping
		require.NoError(t, json.Unmarshal(b, &m))
		return m
	}
	near := func(want, got time.Time) {
		t.Helper()
		assert.InDelta(t, 0, float64(got.Sub(want)), float64(2*time.Second), "want %s, got %s", want, got) // 2 s simulated = 33 ms
	}
	m := read()
	assert.Equal(t, 60.0, m.Speed)
	near(c.Now(), m.At(time.Now()))

	_, err := c.Jump(start.Add(5 * time.Hour))
	require.NoError(t, err)
	m = read()
	near(c.Now(), m.At(time.Now()))
	near(start.Add(5*time.Hour), m.At(time.Now()))
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file is left behind")
}

// A daily timer fires soon after the clock jumps to just before it, and
// its next firing is listed; Quiesce runs only while nothing is in flight.
func TestTimerAfterJumpAndQuiesce(t *testing.T) {
	start := time.Date(2025, 6, 1, 1, 0, 0, 0, time.UTC)
	clock := fc.NewClock(start, 1)
	s, _ := newServer(t, fc.Config{Clock: clock})
	fn := binaryFunction("daily")
	fn.Triggers = []fc.Timer{{Name: "sweep", CronExpression: "0 30 7 * * *", Enable: true, Payload: `{"op":"sleep","sleepMs":300}`}}
	require.NoError(t, s.Deploy(fn))

	var firings []fc.Firing
	require.Eventually(t, func() bool { firings = s.NextFirings(); return len(firings) == 1 }, 5*time.Second, 5*time.Millisecond)
	at := time.Date(2025, 6, 1, 7, 30, 0, 0, time.UTC)
	assert.Equal(t, fc.Firing{Function: "daily", Trigger: "sweep", At: at, Period: 24 * time.Hour}, firings[0])

	var seen fc.Quiet
	require.True(t, s.Quiesce(func(q fc.Quiet) {
		seen = q
		_, err := clock.Jump(at.Add(-50 * time.Millisecond))
		require.NoError(t, err)
	}), "nothing is in flight yet")
	assert.Empty(t, seen.History)
	assert.Equal(t, firings, seen.Timers)

	// The timer fires within a few wall-clock milliseconds; while its
	// invocation sleeps, Quiesce refuses.
	ctx := waitCtx(t)
	require.Eventually(t, func() bool { return len(s.Invocations()) == 1 }, 5*time.Second, time.Millisecond)
	assert.False(t, s.Quiesce(func(fc.Quiet) { t.Error("ran while an invocation was in flight") }))
	inv, err := s.WaitFor(ctx, func(inv fc.Invocation) bool { return inv.Source == fc.SourceTimer })
	require.NoError(t, err)
	assert.Equal(t, fc.StatusSucceeded, inv.Status, "response %s", inv.Response)
	var ev fc.TimerEvent
	require.NoError(t, json.Unmarshal(inv.Event, &ev))
	assert.Equal(t, "2025-06-01T07:30:00Z", ev.TriggerTime)
	require.Eventually(t, func() bool { return s.NextFirings()[0].At.Equal(at.Add(24 * time.Hour)) }, 5*time.Second, 5*time.Millisecond)
	assert.True(t, s.Quiesce(func(q fc.Quiet) { assert.Len(t, q.History, 1) }))
}
