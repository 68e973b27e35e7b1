package kms_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/discover"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/testinfra/benchmarks"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	"github.com/kmsmig/kmsmig/twin/acs"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// TestDiscoverLargeEstate is issue 3's acceptance run: 20,000 resources
// over 4 regions × 2 accounts, discovered with the twin enforcing the
// shared gateway's QPS quotas and failing 5% of calls with a transient
// 503. No error may reach the user and no resource may be missing.
func TestDiscoverLargeEstate(t *testing.T) {
	if testing.Short() {
		t.Skip("quota-bound: runs in make test and CI; skipped with -short")
	}
	inv := kmstwin.Generate(kmstwin.GenerateOptions{Keys: 10000, Secrets: 10000, Regions: 4, Accounts: 2, Seed: 20})
	st, c := startDemo(t, stack.Options{Inventory: inv, Faults: acs.Faults{ErrorRate: 0.05, Seed: 5}})
	var accounts []string
	for _, a := range st.Ready().Accounts {
		accounts = append(accounts, a.ID)
	}
	start := time.Now()
	got, err := discover.Run(t.Context(), c, discover.Options{RunID: "large", Accounts: accounts, SeedRegion: "cn-hangzhou"})
	require.NoError(t, err)
	elapsed := time.Since(start)

	// Count what the inventory file says exists, lane by lane.
	want := map[estate.Lane][2]int{}
	for _, a := range inv.Accounts {
		for region, ri := range a.Regions {
			want[estate.Lane{Account: a.ID, Region: region}] = [2]int{len(ri.Keys), len(ri.Secrets)}
		}
	}
	require.Len(t, got.Lanes, 8)
	total := 0
	for _, li := range got.Lanes {
		require.Empty(t, li.Errors, "lane %s: no error may reach the user", li.Lane)
		w := want[li.Lane]
		require.Equal(t, w[0], len(li.Keys), "keys of %s", li.Lane)
		require.Equal(t, w[1], len(li.Secrets), "secrets of %s", li.Lane)
		total += len(li.Keys) + len(li.Secrets)
	}
	require.Equal(t, 20000, total)
	s := c.Stats()
	t.Logf("20,000 resources in %v: %d calls, %d retried, %d throttled, %d failed for good",
		elapsed.Round(time.Millisecond), s.Calls.Load(), s.Retried.Load(), s.Throttled.Load(), s.Failed.Load())
	require.Zero(t, st.KMS.CallCounts()["GetSecretValue"])
}

// BenchmarkDiscoveryQuotaUse measures how much of the shared gateway's
// quota discovery uses: key-metadata calls per second achieved ÷ the
// twin's limit for that group (goal ≥ 0.9). Client and twin are set to the
// same quota, as in production where the client is configured with the
// documented figure.
func BenchmarkDiscoveryQuotaUse(b *testing.B) {
	const qps = 50 // the documented key-metadata quota
	inv := kmstwin.Generate(kmstwin.GenerateOptions{Keys: 250, Secrets: 1, Regions: 1, Accounts: 1, Seed: 1})
	st, c := startDemoB(b, stack.Options{Inventory: inv, Unthrottled: true,
		QPS: map[string]float64{kmstwin.GroupKeyMetadata: qps}}, map[kms.Group]float64{kms.GroupKeyRead: qps})
	account := st.Ready().Accounts[0].ID
	var ratio float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		before := st.KMS.CallCounts()
		start := time.Now()
		_, err := discover.Run(context.Background(), c, discover.Options{Accounts: []string{account}, Regions: []string{st.KMS.Regions()[0]}})
		require.NoError(b, err)
		elapsed := time.Since(start).Seconds()
		after := st.KMS.CallCounts()
		calls := 0.0
		for _, a := range []string{"ListKeys", "DescribeKey", "ListKeyVersions", "ListAliases"} {
			calls += float64(after[a] - before[a])
		}
		ratio = calls / elapsed / qps
	}
	// Calls the twin refused for throttling are counted by CallCounts
	// too; report them so that a ratio bought with throttling shows.
	b.ReportMetric(ratio, "quota-use")
	b.ReportMetric(float64(c.Stats().Throttled.Load()), "throttled")
}

// BenchmarkDiscoverySpeedup compares discovery against a baseline that
// makes one call at a time, at 20 ms of twin latency and no QPS limit on
// either side (goal ≥ 10×).
func BenchmarkDiscoverySpeedup(b *testing.B) {
	inv := kmstwin.Generate(kmstwin.GenerateOptions{Keys: 120, Secrets: 120, Regions: 2, Accounts: 2, Seed: 2})
	unlimited := map[kms.Group]float64{}
	st, c := startDemoB(b, stack.Options{Inventory: inv, Unthrottled: true, Faults: acs.Faults{Latency: 20 * time.Millisecond}}, unlimited)
	var accounts []string
	for _, a := range st.Ready().Accounts {
		accounts = append(accounts, a.ID)
	}
	opts := discover.Options{Accounts: accounts, SeedRegion: "cn-hangzhou"}
	var speedup float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		_, err := discover.Run(context.Background(), &benchmarks.Serial{Source: c}, opts)
		require.NoError(b, err)
		serial := time.Since(start)
		start = time.Now()
		_, err = discover.Run(context.Background(), c, opts)
		require.NoError(b, err)
		speedup = serial.Seconds() / time.Since(start).Seconds()
	}
	b.ReportMetric(speedup, "speedup")
}
