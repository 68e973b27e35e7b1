package cloud

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBackoffCeiling(t *testing.T) {
	tests := []struct {
		name    string
		b       Backoff
		attempt int
		want    time.Duration
	}{
		{"attempt 0 is Base", Backoff{Base: 100 * time.Millisecond, Max: 5 * time.Second}, 0, 100 * time.Millisecond},
		{"negative attempt is attempt 0", Backoff{Base: 100 * time.Millisecond, Max: 5 * time.Second}, -3, 100 * time.Millisecond},
		{"doubles", Backoff{Base: 100 * time.Millisecond, Max: 5 * time.Second}, 3, 800 * time.Millisecond},
		{"capped at Max", Backoff{Base: 100 * time.Millisecond, Max: 5 * time.Second}, 6, 5 * time.Second},
		{"exactly Max", Backoff{Base: time.Millisecond, Max: 64 * time.Millisecond}, 6, 64 * time.Millisecond},
		{"Base above Max", Backoff{Base: time.Minute, Max: time.Second}, 0, time.Second},
		{"huge attempt", Backoff{Base: time.Millisecond, Max: 50 * time.Millisecond}, math.MaxInt, 50 * time.Millisecond},
		{"huge attempt, no Max", Backoff{Base: time.Nanosecond}, math.MaxInt, math.MaxInt64},
		{"large Base, no Max", Backoff{Base: time.Duration(math.MaxInt64 / 3)}, 2, math.MaxInt64},
		{"no Base", Backoff{Max: time.Second}, 4, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.b.ceiling(tt.attempt))
		})
	}
}

func TestBackoffDelayBounds(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Max: 3200 * time.Millisecond}
	for attempt := range 10 {
		c := b.ceiling(attempt)
		lo, hi := c, time.Duration(0)
		for range 2000 {
			d := b.Delay(attempt)
			require.GreaterOrEqual(t, d, c/2, "attempt %d", attempt)
			require.LessOrEqual(t, d, c, "attempt %d", attempt)
			require.LessOrEqual(t, d, b.Max, "attempt %d", attempt)
			lo, hi = min(lo, d), max(hi, d)
		}
		// The draws spread over the range rather than sitting on one value.
		require.Less(t, lo, c/2+c/8, "attempt %d: lowest draw", attempt)
		require.Greater(t, hi, c-c/8, "attempt %d: highest draw", attempt)
	}
}

func TestBackoffGrowth(t *testing.T) {
	b := Backoff{Base: time.Millisecond, Max: time.Hour}
	prev := b.ceiling(0)
	for attempt := 1; attempt < 20; attempt++ {
		c := b.ceiling(attempt)
		require.Equal(t, 2*prev, c, "attempt %d", attempt)
		// Equal jitter: every delay of this attempt is at least every
		// delay of the attempt before it could be.
		require.GreaterOrEqual(t, b.Delay(attempt), prev, "attempt %d", attempt)
		prev = c
	}
}

func TestBackoffHugeAttemptsDoNotOverflow(t *testing.T) {
	for _, b := range []Backoff{
		{Base: time.Millisecond, Max: 50 * time.Millisecond},
		{Base: time.Nanosecond},
		{Base: time.Duration(math.MaxInt64)},
	} {
		for _, attempt := range []int{62, 63, 64, 1000, math.MaxInt32, math.MaxInt} {
			d := b.Delay(attempt)
			require.Positive(t, d, "%+v attempt %d", b, attempt)
			if b.Max > 0 {
				require.LessOrEqual(t, d, b.Max, "%+v attempt %d", b, attempt)
			}
		}
	}
}

func TestJitter(t *testing.T) {
	require.Zero(t, Jitter(0))
	require.Zero(t, Jitter(-time.Second))
	for _, d := range []time.Duration{1, 2, 3, time.Millisecond, time.Hour, math.MaxInt64} {
		for range 200 {
			got := Jitter(d)
			require.GreaterOrEqual(t, got, d/2, "Jitter(%v)", d)
			require.LessOrEqual(t, got, d, "Jitter(%v)", d)
		}
	}
}
