package chaos_test

import (
	"cmp"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/testinfra/chaos"
)

// A short campaign: ten schedules of the demo estate on the OSS store
// served by the OSS twin, every fault kind, no invariant broken.
// (CHAOS_STATE=dir runs the directory store; a schedule on OSS costs
// about three on it.)
func TestCampaign(t *testing.T) {
	n := 10
	if s := os.Getenv("CHAOS_SCHEDULES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	seed := uint64(1)
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	res, err := chaos.Run(t.Context(), chaos.Options{Seed: seed, Schedules: n, Parallel: n, State: os.Getenv("CHAOS_STATE"), Progress: testWriter{t}, Verbose: os.Getenv("CHAOS_VERBOSE") != ""})
	require.NoError(t, err)
	t.Log(res.Summary(), res.FaultsByKind, "wall", res.Wall)
	onStore(t, res)
	for _, v := range res.Violations {
		t.Errorf("%s\n  reproduce: %s", v, res.Reproduce[v.Schedule])
	}
}

// A short campaign of many nights: four schedules of two nights each on
// the OSS store (a run per night, owners changing the estate in between,
// an operator pausing, aborting and starting observed batches late or
// never), then quiet nights until the campaign converges; no invariant
// broken across the runs.
func TestCampaignOfNights(t *testing.T) {
	n := 4
	if s := os.Getenv("CHAOS_NIGHT_SCHEDULES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	seed := uint64(1)
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	res, err := chaos.Run(t.Context(), chaos.Options{Seed: seed, Schedules: n, Nights: 2, Parallel: n, State: os.Getenv("CHAOS_STATE"), Progress: testWriter{t}, Verbose: os.Getenv("CHAOS_VERBOSE") != ""})
	require.NoError(t, err)
	t.Log(res.Summary(), res.FaultsByKind, "wall", res.Wall)
	onStore(t, res)
	for _, v := range res.Violations {
		t.Errorf("%s\n  reproduce: %s", v, res.Reproduce[v.Schedule])
	}
}

// onStore checks the campaign ran on the store asked for (OSS unless
// CHAOS_STATE says otherwise) and, on OSS, that the OSS twin failed some
// of the functions' requests both ways.
func onStore(t *testing.T, res *chaos.Result) {
	t.Helper()
	want := cmp.Or(os.Getenv("CHAOS_STATE"), chaos.StateOSS)
	require.Equal(t, want, res.State)
	if want == chaos.StateOSS {
		assert.Positive(t, res.FaultsByKind[chaos.FaultOSSError], "requests refused by the OSS twin")
		assert.Positive(t, res.FaultsByKind[chaos.FaultOSSLost], "replies lost by the OSS twin")
	} else {
		assert.Zero(t, res.FaultsByKind[chaos.FaultOSSError]+res.FaultsByKind[chaos.FaultOSSLost])
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
