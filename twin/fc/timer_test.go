package fc_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/fc"
)

func TestParseCron(t *testing.T) {
	from := time.Date(2025, 6, 1, 10, 7, 30, 0, time.UTC)
	tests := []struct {
		expr string
		want time.Time
	}{
		{"@every 5m", from.Add(5 * time.Minute)},
		{"0 0/5 * * * *", time.Date(2025, 6, 1, 10, 10, 0, 0, time.UTC)},
		{"0 0 2 * * ?", time.Date(2025, 6, 2, 2, 0, 0, 0, time.UTC)}, // UTC unless told
		{"CRON_TZ=Asia/Shanghai 0 0 8 * * *", time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			s, err := fc.ParseCron(tt.expr)
			require.NoError(t, err)
			assert.Equal(t, tt.want, s.Next(from).UTC())
		})
	}
	for _, bad := range []string{"", "0 0 2 * *", "@every", "61 * * * * *", "CRON_TZ=Mars/Base 0 0 * * * *"} {
		_, err := fc.ParseCron(bad)
		assert.Error(t, err, bad)
	}
}

func TestClockRunsFasterThanRealTime(t *testing.T) {
	start := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	c := fc.NewClock(start, 360000)
	require.NoError(t, c.Sleep(t.Context(), time.Hour)) // 10 ms of real time
	assert.False(t, c.Now().Before(start.Add(time.Hour)))
	assert.Equal(t, time.Millisecond, c.Real(360*time.Second))
}

func TestTimerFiresOnAcceleratedClock(t *testing.T) {
	// 5 simulated minutes pass in 100 ms.
	s, _ := newServer(t, fc.Config{Clock: fc.NewClock(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), 3000)})
	fn := binaryFunction("tick")
	fn.Triggers = []fc.Timer{
		{Name: "every5m", CronExpression: "@every 5m", Enable: true, Payload: `{"lane":"all"}`},
		{Name: "off", CronExpression: "@every 1m", Enable: false},
	}
	require.NoError(t, s.Deploy(fn))

	ctx := waitCtx(t)
	first, err := s.WaitFor(ctx, func(inv fc.Invocation) bool { return inv.Source == fc.SourceTimer })
	require.NoError(t, err)
	second, err := s.WaitFor(ctx, func(inv fc.Invocation) bool {
		return inv.Source == fc.SourceTimer && inv.RequestID != first.RequestID
	})
	require.NoError(t, err)

	var evs [2]fc.TimerEvent
	for i, inv := range []fc.Invocation{first, second} {
		assert.Equal(t, fc.TypeAsync, inv.Type)
		assert.Equal(t, fc.StatusSucceeded, inv.Status, "response %s", inv.Response)
		require.NoError(t, json.Unmarshal(inv.Event, &evs[i]))
		assert.Equal(t, "every5m", evs[i].TriggerName)
		assert.Equal(t, `{"lane":"all"}`, evs[i].Payload)
		var r reply
		require.NoError(t, json.Unmarshal(inv.Response, &r))
		assert.Equal(t, "every5m", r.TriggerName, "the function decoded the timer event")
	}
	t1, err := time.Parse(time.RFC3339, evs[0].TriggerTime)
	require.NoError(t, err)
	t2, err := time.Parse(time.RFC3339, evs[1].TriggerTime)
	require.NoError(t, err)
	assert.Equal(t, time.UTC, t1.Location())
	assert.Equal(t, 5*time.Minute, t2.Sub(t1))
	assert.True(t, t1.After(time.Date(2025, 6, 1, 0, 4, 59, 0, time.UTC)), "first firing %v", t1)
	for _, inv := range s.Invocations() {
		var ev fc.TimerEvent
		_ = json.Unmarshal(inv.Event, &ev)
		assert.NotEqual(t, "off", ev.TriggerName, "a disabled timer fired")
	}
}
