package wiring_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/fcruntime"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/wiring"
	fctwin "github.com/kmsmig/kmsmig/twin/fc"
)

var shanghai = time.FixedZone("CST", 8*3600)

// publishedClock is the FC twin's clock at speed 60, published to a file,
// and the configuration that names it.
func publishedClock(t *testing.T, start time.Time, env map[string]string) (*fctwin.Clock, app.Config) {
	t.Helper()
	clock := fctwin.NewClock(start, 60)
	path := filepath.Join(t.TempDir(), "clock.json")
	require.NoError(t, clock.Publish(path))
	if env == nil {
		env = map[string]string{}
	}
	env["KMSMIG_CLOCK"] = "file:" + path
	if env["KMSMIG_STATE"] == "" {
		env["KMSMIG_STATE"] = "dir:" + t.TempDir()
	}
	cfg, err := app.LoadConfig(getenv(env))
	require.NoError(t, err)
	return clock, cfg
}

// near asserts that got reads the clock want reads: within 3 simulated
// seconds (50 ms of wall-clock time at 60x) of want read just before and
// just after it, so that a slow machine cannot fail it by running the
// reads far apart.
func near(t *testing.T, want, got func() time.Time) {
	t.Helper()
	const slack = 3 * time.Second
	before := want()
	g := got()
	after := want()
	assert.False(t, g.Before(before.Add(-slack)) || g.After(after.Add(slack)), "want %s..%s, got %s", before, after, g)
}

// The functions read the FC twin's simulated time, and follow its jumps.
func TestNewClockFollowsTheTwinsClock(t *testing.T) {
	start := time.Date(2025, 6, 1, 0, 59, 30, 0, shanghai)
	twin, cfg := publishedClock(t, start, nil)
	now, err := wiring.NewClock(cfg)
	require.NoError(t, err)
	near(t, twin.Now, now)
	for i := 1; i <= 5; i++ { // again and again: the file is replaced each time
		_, err := twin.Jump(start.Add(time.Duration(i) * 6 * time.Hour))
		require.NoError(t, err)
		assert.False(t, now().Before(start.Add(time.Duration(i)*6*time.Hour)), "the jump is followed")
		near(t, twin.Now, now)
	}

	// The file gone, the last mapping stands.
	path := cfg.Clock[len("file:"):]
	require.NoError(t, os.Remove(path))
	near(t, twin.Now, now)
	_, err = wiring.NewClock(cfg)
	require.ErrorContains(t, err, "KMSMIG_CLOCK")
	require.NoError(t, os.WriteFile(path, []byte(`{"wall":"2025-06-01T00:00:00Z"}`), 0o600))
	_, err = wiring.NewClock(cfg)
	require.ErrorContains(t, err, "is not a clock mapping")

	wall, err := wiring.NewClock(app.Config{})
	require.NoError(t, err)
	near(t, time.Now, wall)
}

// With KMSMIG_CLOCK, every decision reads the simulated time: the engine's
// clock, the window of the day it is in, the executor's alerts; the audit
// trail stays in wall-clock time.
func TestWireDecidesOnTheSimulatedClock(t *testing.T) {
	start := time.Date(2025, 6, 1, 1, 30, 0, 0, shanghai)
	twin, cfg := publishedClock(t, start, map[string]string{
		"KMSMIG_WINDOW": "02:00-06:00", "KMSMIG_TIMEZONE": "Asia/Shanghai", "KMSMIG_AUDIT": "stdout",
		"KMSMIG_FUNCTION_MIGRATE": "-", "KMSMIG_FUNCTION_ROTATE": "-",
	})
	inv := fcruntime.Invocation{RequestID: "req-1", AccountID: "1111", Region: "cn-hangzhou", AccessKeyID: "AK", AccessKeySecret: "secret",
		Deadline: time.Now().Add(time.Minute)}
	d, err := wiring.Wire(t.Context(), cfg, inv, audit.Discard)
	require.NoError(t, err)
	near(t, twin.Now, d.Now)
	x, err := d.Executor()
	require.NoError(t, err)
	near(t, twin.Now, x.Engine.Clock.Now)
	near(t, twin.Now, x.Now)
	assert.True(t, x.Engine.Config.Window.Start.Equal(time.Date(2025, 6, 1, 2, 0, 0, 0, shanghai)), "the window of the simulated day: %s", x.Engine.Config.Window.Start)
	assert.True(t, x.Engine.Config.Window.End.Equal(time.Date(2025, 6, 1, 6, 0, 0, 0, shanghai)))
	near(t, twin.Now, d.Discoverer().Now)

	_, err = twin.Jump(time.Date(2025, 6, 3, 3, 0, 0, 0, shanghai))
	require.NoError(t, err)
	x, err = d.Executor()
	require.NoError(t, err)
	assert.True(t, x.Engine.Config.Window.Start.Equal(time.Date(2025, 6, 3, 2, 0, 0, 0, shanghai)), "a jump moves the window: %s", x.Engine.Config.Window.Start)

	out := &lines{}
	_, err = wiring.Invoke(t.Context(), wiring.NewObserver(cfg, out), cfg, nil, inv, "poll", func(ctx context.Context, d *wiring.Deps) (app.StepResult, error) {
		d.Audit.Log(ctx, audit.Record{Action: "Decide", Outcome: "ok", Time: d.Now()})
		return app.StepResult{}, nil
	})
	require.NoError(t, err)
	rs := out.records(t)
	require.Len(t, rs, 3)
	for _, r := range rs {
		at, err := time.Parse(time.RFC3339Nano, r["time"])
		require.NoError(t, err, r["time"])
		assert.WithinDuration(t, time.Now(), at, time.Minute, "%s/%s is stamped in wall-clock time", r["action"], r["outcome"])
	}
}

// A clock that cannot be read fails the invocation, naming the setting.
func TestWireRefusesAnUnreadableClock(t *testing.T) {
	cfg, err := app.LoadConfig(getenv(map[string]string{"KMSMIG_STATE": "dir:" + t.TempDir(),
		"KMSMIG_CLOCK": "file:" + filepath.Join(t.TempDir(), "none.json")}))
	require.NoError(t, err)
	inv := fcruntime.Invocation{RequestID: "req-1", AccountID: "1111", Region: "cn-hangzhou", AccessKeyID: "AK", AccessKeySecret: "secret"}
	_, err = wiring.Wire(t.Context(), cfg, inv, audit.Discard)
	require.ErrorContains(t, err, "KMSMIG_CLOCK")
}
