package kms_test

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/discover"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	"github.com/kmsmig/kmsmig/twin/acs"
)

// TestDiscoverDemo discovers the whole demo estate through the adapter and
// the official SDK, with the twin injecting transient faults.
func TestDiscoverDemo(t *testing.T) {
	st, c := startDemo(t, stack.Options{Faults: acs.Faults{ErrorRate: 0.05, Seed: 3}})
	var accounts []string
	for _, a := range st.Ready().Accounts {
		accounts = append(accounts, a.ID)
	}
	var progressCalls atomic.Int64
	inv, err := discover.Run(t.Context(), c, discover.Options{
		RunID: "demo", Accounts: accounts, SeedRegion: "cn-hangzhou",
		Progress: func(discover.Progress) { progressCalls.Add(1) },
	})
	require.NoError(t, err)
	require.NoError(t, inv.Validate())
	require.Positive(t, progressCalls.Load())

	var keys, secrets, instances int
	for _, li := range inv.Lanes {
		require.Empty(t, li.Errors, "lane %s: retries must absorb 5%% transient faults", li.Lane)
		keys += len(li.Keys)
		secrets += len(li.Secrets)
		instances += len(li.Instances)
	}
	// Every account is inventoried in every region the twin serves.
	require.Len(t, inv.Lanes, len(accounts)*len(st.Ready().KMS))
	require.Equal(t, 15, keys)
	require.Equal(t, 13, secrets)
	require.Positive(t, instances)
	hz, ok := inv.Lane(estate.Lane{Account: acctA, Region: "cn-hangzhou"})
	require.True(t, ok)
	require.Len(t, hz.Keys, 9)
	require.Zero(t, st.KMS.CallCounts()["GetSecretValue"], "discovery never reads a secret value")
}
