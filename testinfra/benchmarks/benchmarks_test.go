package benchmarks

import (
	"testing"

	"github.com/stretchr/testify/require"

	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

func TestFigurePass(t *testing.T) {
	require.True(t, Figure{Value: 0.95, Goal: 0.9, Higher: true}.Pass())
	require.False(t, Figure{Value: 0.85, Goal: 0.9, Higher: true}.Pass())
	require.True(t, Figure{Value: 80, Goal: 100}.Pass(), "lower is better")
	require.False(t, Figure{Value: 120, Goal: 100}.Pass())
	require.True(t, Figure{Value: 3}.Pass(), "no goal: reported only")
}

// The scenarios run and measure something; how fast is kmsmig bench's
// business, not a test's.
func TestScenariosRun(t *testing.T) {
	f, err := QuotaUse(t.Context(), 10)
	require.NoError(t, err)
	require.Positive(t, f.Value)
	require.Contains(t, f.Detail, "calls")

	d, peak, err := Planning(2000)
	require.NoError(t, err)
	require.Positive(t, d)
	_ = peak // the heap may not grow measurably for so few resources

	ms, err := DiscoveryMemory(t.Context(), 60, 10, 20)
	require.NoError(t, err)
	require.Len(t, ms, 2)
	require.Equal(t, 20, ms[1].Lanes)
	require.Positive(t, ms[1].Elapsed)
	_, err = DiscoveryMemory(t.Context(), 60, 15)
	require.ErrorContains(t, err, "lanes 15: want a multiple of 10")
	sc, err := DiscoveryScale(t.Context(), kmstwin.GenerateOptions{Keys: 40, Secrets: 20, Regions: 2, Accounts: 3, Seed: 1})
	require.NoError(t, err)
	require.Equal(t, 6, sc.Lanes)
	require.Equal(t, 60, sc.Resources)
	require.Positive(t, sc.Bound)
	require.Equal(t, 1, sc.Invocations)

	jsonNs, slsNs, flush, err := AuditCost(t.Context())
	require.NoError(t, err)
	require.Positive(t, jsonNs)
	require.Positive(t, slsNs)
	require.Positive(t, flush)
}

// The same resources over ten times the lanes: the peak memory of
// discovery (heap and goroutine stacks above what was in use before,
// the in-process twin's share included) at each, and their ratio.
func BenchmarkDiscoveryMemory(b *testing.B) {
	for i := 0; i < b.N; i++ {
		ms, err := DiscoveryMemory(b.Context(), 3000, 100, 1000)
		require.NoError(b, err)
		b.ReportMetric(float64(ms[0].Peak)/(1<<20), "MiB-100-lanes")
		b.ReportMetric(float64(ms[1].Peak)/(1<<20), "MiB-1000-lanes")
		b.ReportMetric(float64(ms[1].Peak)/float64(max(ms[0].Peak, 1)), "ratio-1000/100")
	}
}
