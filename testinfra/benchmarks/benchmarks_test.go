package benchmarks

import (
	"testing"

	"github.com/stretchr/testify/require"
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

	jsonNs, slsNs, flush, err := AuditCost(t.Context())
	require.NoError(t, err)
	require.Positive(t, jsonNs)
	require.Positive(t, slsNs)
	require.Positive(t, flush)
}
