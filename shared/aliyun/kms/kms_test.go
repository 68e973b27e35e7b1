package kms_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aliyun/credentials-go/credentials"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	"github.com/kmsmig/kmsmig/twin/acs"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

const (
	acctA = "1111000011110001"
	acctB = "2222000022220002"
)

// startDemo starts the twin stack on the demo inventory and returns an
// adapter client with every demo account's access key.
func startDemo(t *testing.T, opts stack.Options) (*stack.Stack, *kms.Client) {
	t.Helper()
	return startDemoB(t, opts, nil)
}

// startDemoB is startDemo with client-side quotas (nil: the defaults).
func startDemoB(t testing.TB, opts stack.Options, quotas map[kms.Group]float64) (*stack.Stack, *kms.Client) {
	t.Helper()
	if opts.Inventory == nil {
		opts.Inventory = kmstwin.DemoInventory()
	}
	st, err := stack.Start(opts)
	require.NoError(t, err)
	t.Cleanup(st.Close)
	keys := map[string]stack.Account{}
	for _, a := range st.Ready().Accounts {
		keys[a.ID] = a
	}
	c, err := kms.New(kms.Config{
		Endpoints: st.Ready().KMS,
		Insecure:  true,
		Credentials: func(account string) (credentials.Credential, error) {
			a, ok := keys[account]
			if !ok {
				return nil, errors.New("unknown account " + account)
			}
			return credentials.NewCredential(&credentials.Config{
				Type: ptr("access_key"), AccessKeyId: ptr(a.AccessKeyID), AccessKeySecret: ptr(a.AccessKeySecret),
			})
		},
		Quotas:      quotas,
		BaseBackoff: time.Millisecond,
		MaxBackoff:  20 * time.Millisecond,
	})
	require.NoError(t, err)
	return st, c
}

func ptr[T any](v T) *T { return &v }

func TestReadLane(t *testing.T) {
	_, c := startDemo(t, stack.Options{Unthrottled: true})
	ctx := t.Context()
	lane := estate.Lane{Account: acctA, Region: "cn-hangzhou"}

	regions, err := c.Regions(ctx, acctA, "cn-hangzhou")
	require.NoError(t, err)
	require.Contains(t, regions, "cn-hangzhou")

	ids, err := c.KeyIDs(ctx, lane)
	require.NoError(t, err)
	require.Len(t, ids, 9)

	aliases, err := c.Aliases(ctx, lane)
	require.NoError(t, err)
	require.Equal(t, []string{"alias/rotating"}, aliases["a1000001-0000-4000-8000-000000000002"])

	k, err := c.Key(ctx, lane, "a1000001-0000-4000-8000-000000000002")
	require.NoError(t, err)
	require.True(t, k.Rotation.Enabled, "demo key 2 rotates")
	require.Greater(t, k.Rotation.Interval, time.Duration(0))
	require.GreaterOrEqual(t, k.VersionCount, 1)

	ext, err := c.Key(ctx, lane, "a1000001-0000-4000-8000-000000000003")
	require.NoError(t, err)
	require.Equal(t, estate.OriginExternal, ext.Origin)

	_, err = c.Key(ctx, lane, "00000000-0000-4000-8000-000000000000")
	require.ErrorIs(t, err, cloud.ErrNotFound)
	require.Equal(t, "Forbidden.KeyNotFound", cloud.Code(err))

	// Another account never sees lane A's keys.
	_, err = c.Key(ctx, estate.Lane{Account: acctB, Region: "cn-hangzhou"}, "a1000001-0000-4000-8000-000000000002")
	require.ErrorIs(t, err, cloud.ErrNotFound)

	secrets, err := c.SecretNames(ctx, lane)
	require.NoError(t, err)
	require.Len(t, secrets, 8)
	for _, s := range secrets {
		full, err := c.Secret(ctx, lane, s)
		require.NoError(t, err)
		require.GreaterOrEqual(t, full.VersionCount, 1, full.Name)
	}

	inst, err := c.InstanceIDs(ctx, lane)
	require.NoError(t, err)
	require.Equal(t, acctA, inst["kst-hzdemo01"])
	in, err := c.Instance(ctx, lane, "kst-hzdemo01", inst["kst-hzdemo01"])
	require.NoError(t, err)
	require.Equal(t, "2.9.1", in.ImageVersion)
	require.Equal(t, 30, in.KeyQuota)
	require.Contains(t, in.SharedWith, acctB)

	// Account B sees the instance A shared with it, owned by A.
	shared, err := c.InstanceIDs(ctx, estate.Lane{Account: acctB, Region: "cn-hangzhou"})
	require.NoError(t, err)
	require.Equal(t, acctA, shared["kst-hzdemo01"])
}

func TestRotationRoundTrip(t *testing.T) {
	st, c := startDemo(t, stack.Options{Unthrottled: true})
	ctx := t.Context()
	lane := estate.Lane{Account: acctA, Region: "cn-hangzhou"}
	id := "a1000001-0000-4000-8000-000000000002"
	before, err := c.Key(ctx, lane, id)
	require.NoError(t, err)

	require.NoError(t, c.SetKeyRotation(ctx, lane, id, estate.Rotation{}))
	off, err := c.Key(ctx, lane, id)
	require.NoError(t, err)
	require.False(t, off.Rotation.Enabled)

	require.NoError(t, c.SetKeyRotation(ctx, lane, id, before.Rotation))
	back, err := c.Key(ctx, lane, id)
	require.NoError(t, err)
	require.Equal(t, before.Rotation, back.Rotation)

	// Too short an interval is refused on its merits, not retried.
	err = c.SetKeyRotation(ctx, lane, id, estate.Rotation{Enabled: true, Interval: time.Hour})
	require.Error(t, err)
	require.False(t, cloud.Retryable(err))
	require.Zero(t, st.KMS.CallCounts()["GetSecretValue"], "the adapter never reads a secret value")
}

func TestRetriesThroughTransientFaultsAndThrottling(t *testing.T) {
	st, c := startDemo(t, stack.Options{
		QPS:    map[string]float64{kmstwin.GroupKeyMetadata: 20},
		Faults: acs.Faults{ErrorRate: 0.2, Seed: 7},
	})
	ctx := t.Context()
	lane := estate.Lane{Account: acctA, Region: "cn-hangzhou"}
	ids, err := c.KeyIDs(ctx, lane)
	require.NoError(t, err)
	for _, id := range ids {
		_, err := c.Key(ctx, lane, id)
		require.NoError(t, err, id)
	}
	require.Positive(t, c.Stats().Retried.Load(), "a 20%% fault rate must have forced retries")
	require.Zero(t, st.KMS.CallCounts()["GetSecretValue"])
}
