package migration

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// A task's time is a fixed part and a part per resource: a small task's
// time per resource must not make a full batch look longer than it is
// (the window then refuses batches it has room for), and no estimate
// falls below what the tasks showed for their size.
func TestEstimateDuration(t *testing.T) {
	task := func(n int, secs float64) TaskSample { return TaskSample{Resources: n, Seconds: secs} }
	for _, tc := range []struct {
		name  string
		est   Estimate
		n     int
		want  time.Duration
		noEst bool
	}{
		{name: "nothing observed", n: 40, noEst: true},
		{name: "before tasks were kept: per resource", est: Estimate{PerResourceSeconds: 2.5, Samples: 3}, n: 40, want: 100 * time.Second},
		{name: "one size: as observed", est: Estimate{Samples: 1, Tasks: []TaskSample{task(40, 110)}}, n: 40, want: 110 * time.Second},
		{name: "one size: smaller takes at most as long", est: Estimate{Samples: 1, Tasks: []TaskSample{task(40, 110)}}, n: 10, want: 110 * time.Second},
		{name: "one size: larger scales", est: Estimate{Samples: 1, Tasks: []TaskSample{task(20, 70)}}, n: 40, want: 140 * time.Second},
		// The rehearsal's second night: a lane's tail of one resource (30 s
		// fixed + 2 s), then a full batch. The moving average per
		// resource said 23 s per resource, 15 minutes for 40.
		{name: "a small task then a full one", est: Estimate{Samples: 2, Tasks: []TaskSample{task(1, 32), task(40, 110)}}, n: 40, want: 110 * time.Second},
		{name: "line through sizes", est: Estimate{Samples: 3, Tasks: []TaskSample{task(1, 32), task(20, 70), task(40, 110)}}, n: 30, want: 90 * time.Second},
		{name: "shorter with more resources: no negative part", est: Estimate{Samples: 2, Tasks: []TaskSample{task(10, 100), task(40, 80)}}, n: 40, want: 90 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.est.duration(tc.n)
			require.Equal(t, !tc.noEst, ok)
			require.InDelta(t, tc.want.Seconds(), got.Seconds(), 0.01, "got %s, want %s", got, tc.want)
		})
	}
}

// A new run's first batches are admitted by what the campaign's latest
// earlier run observed, not by Config.InitialPerResource.
func TestEstimateSeededByTheEarlierRun(t *testing.T) {
	ctx := t.Context()
	store, err := runstate.OpenDir(t.TempDir())
	require.NoError(t, err)
	e := &Engine{Store: store}
	put := func(key string, v any) {
		t.Helper()
		_, err := runstate.MutateJSON(ctx, store, key, func(x *any, _ bool) error { *x = v; return nil })
		require.NoError(t, err)
	}
	got, err := e.estimate(ctx, "run-2", 40)
	require.NoError(t, err)
	require.Equal(t, 400*time.Second, got, "nothing observed anywhere: InitialPerResource")

	put(statekeys.Campaign, Campaign{Runs: []CampaignRun{{RunID: "run-1"}, {RunID: "run-2"}}})
	require.NoError(t, e.observeDuration(ctx, "run-1", "a/b/b0001", 40, 110*time.Second))
	got, err = e.estimate(ctx, "run-2", 40)
	require.NoError(t, err)
	require.Equal(t, 110*time.Second, got, "from run-1")

	require.NoError(t, e.observeDuration(ctx, "run-2", "a/b/b0001", 20, 50*time.Second))
	got, err = e.estimate(ctx, "run-2", 20)
	require.NoError(t, err)
	require.Equal(t, 50*time.Second, got, "the run's own tasks first")
}

// The idle time of what bounds the run splits into the lead before its
// first task, the handovers between one task's end and the next one's
// start (overlapping tasks, as a shared instance's lanes may report,
// leave none), and the tail after its last task.
func TestWindowIdle(t *testing.T) {
	at := func(s int) time.Time { return time.Date(2026, 11, 30, 2, 0, s, 0, time.UTC) }
	var w WindowUse
	w.idle([]taskSpan{
		{at(40), at(50)}, // out of order: sorted by start
		{at(5), at(20)},
		{at(22), at(30)},
		{at(25), at(35)}, // overlaps the one before: no handover
	}, at(0), at(58))
	assert.Equal(t, 5.0, w.LeadSeconds)
	assert.Equal(t, 2, w.Handovers)
	assert.Equal(t, 2.0+5.0, w.HandoverSeconds)
	assert.Equal(t, 5.0, w.LongestHandoverSeconds)
	assert.Equal(t, 8.0, w.TailSeconds)

	var none WindowUse
	none.idle(nil, at(0), at(58))
	assert.Equal(t, WindowUse{}, none, "no task ended: nothing to split")
}
