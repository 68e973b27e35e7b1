package chaos_test

import (
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/testinfra/chaos"
)

// A short campaign: twenty schedules of the demo estate, every fault
// kind, no invariant broken.
func TestCampaign(t *testing.T) {
	n := 20
	if s := os.Getenv("CHAOS_SCHEDULES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	seed := uint64(1)
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	res, err := chaos.Run(t.Context(), chaos.Options{Seed: seed, Schedules: n, State: os.Getenv("CHAOS_STATE"), Progress: testWriter{t}, Verbose: os.Getenv("CHAOS_VERBOSE") != ""})
	require.NoError(t, err)
	t.Log(res.Summary(), res.FaultsByKind, "wall", res.Wall)
	for _, v := range res.Violations {
		t.Errorf("%s\n  reproduce: %s", v, res.Reproduce[v.Schedule])
	}
}

// A short campaign of many nights: ten schedules of two nights each (a
// run per night, owners changing the estate in between, an operator
// pausing, aborting and starting observed batches late or never), then
// quiet nights until the campaign converges; no invariant broken across
// the runs.
func TestCampaignOfNights(t *testing.T) {
	n := 10
	if s := os.Getenv("CHAOS_NIGHT_SCHEDULES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	seed := uint64(1)
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	res, err := chaos.Run(t.Context(), chaos.Options{Seed: seed, Schedules: n, Nights: 2, State: os.Getenv("CHAOS_STATE"), Progress: testWriter{t}, Verbose: os.Getenv("CHAOS_VERBOSE") != ""})
	require.NoError(t, err)
	t.Log(res.Summary(), res.FaultsByKind, "wall", res.Wall)
	for _, v := range res.Violations {
		t.Errorf("%s\n  reproduce: %s", v, res.Reproduce[v.Schedule])
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
