package plan

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

// bigVerdicts returns n resources over 10 lanes, half keys, half secrets,
// 60% of the secrets under a CMK of this run, a few blocked.
func bigVerdicts(n int) *verdict.Verdicts {
	const lanes = 10
	per := n / lanes
	rs := make([]verdict.Verdict, 0, n)
	for l := range lanes {
		lane := estate.Lane{Account: fmt.Sprintf("%04d", l), Region: "cn-hangzhou"}
		nk := per / 2
		for i := range nk {
			v := kv(lane, fmt.Sprintf("key-%06d", i))
			if i%97 == 0 {
				blocked(verdict.KeyDisabled)(&v)
			}
			rs = append(rs, v)
		}
		for i := range per - nk {
			dep := ""
			if i%5 < 3 {
				if k := (i * 7) % nk; k%97 != 0 {
					dep = fmt.Sprintf("key-%06d", k)
				}
			}
			rs = append(rs, sv(lane, fmt.Sprintf("secret-%06d", i), dep))
		}
	}
	return verdicts(rs...)
}

// BenchmarkPlan100k plans 100,000 resources with the default settings.
func BenchmarkPlan100k(b *testing.B) {
	const n = 100_000
	vs := bigVerdicts(n)
	s := DefaultSettings()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_, err := New(vs, s)
		require.NoError(b, err)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/resource")
}

// BenchmarkReplan100k re-plans the same estate with a fifth of each
// lane's batches frozen.
func BenchmarkReplan100k(b *testing.B) {
	const n = 100_000
	vs := bigVerdicts(n)
	prev, err := New(vs, DefaultSettings())
	require.NoError(b, err)
	states := map[string]Status{}
	for _, lp := range prev.Lanes {
		for i, bt := range lp.Batches {
			if i < len(lp.Batches)/5 {
				states[bt.ID] = StatusDone
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_, err := Replan(prev, states, vs)
		require.NoError(b, err)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/resource")
}
