package kms_test

import (
	"testing"

	kmsv3 "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/kms"
)

func TestGenerateDeterministic(t *testing.T) {
	o := kms.GenerateOptions{Keys: 500, Secrets: 300, Regions: 3, Accounts: 3, Seed: 42}
	a, b := kms.Generate(o), kms.Generate(o)
	assert.Equal(t, a, b, "same options, same estate")
	o.Seed = 43
	assert.NotEqual(t, a, kms.Generate(o), "another seed, another estate")
}

func TestGenerateSizeAndMix(t *testing.T) {
	inv := kms.Generate(kms.GenerateOptions{Keys: 2000, Secrets: 1000, Regions: 3, Accounts: 3, Seed: 7})
	require.NoError(t, inv.Validate())
	require.Len(t, inv.Accounts, 3)
	var keys, secrets, instances int
	count := map[string]int{}
	for _, a := range inv.Accounts {
		require.Len(t, a.Regions, 3)
		for _, r := range a.Regions {
			keys += len(r.Keys)
			secrets += len(r.Secrets)
			instances += len(r.Instances)
			for _, k := range r.Keys {
				switch {
				case k.Creator != "":
					count["service"]++
				case k.Origin == "EXTERNAL":
					count["external"]++
				case k.KeyState == "PendingDeletion":
					count["pendingDeletion"]++
				case k.KeyState == "Disabled":
					count["disabled"]++
				case k.AutomaticRotation == "Enabled":
					count["rotating"]++
				}
				if k.DKMSInstanceID != "" {
					count["migratedKey"]++
				}
			}
			for _, s := range r.Secrets {
				if s.EncryptionKeyID != "" {
					count["underCMK"]++
				}
				if s.AutomaticRotation == "Enabled" {
					count["rotatingSecret"]++
				}
				if s.DKMSInstanceID != "" {
					count["migratedSecret"]++
				}
			}
		}
	}
	assert.Equal(t, 2000, keys)
	assert.Equal(t, 1000, secrets)
	assert.Equal(t, 3, instances, "two regions with a main instance, plus the old-image one; the last region has none")
	for _, c := range []string{"service", "external", "pendingDeletion", "disabled", "rotating", "migratedKey", "underCMK", "rotatingSecret", "migratedSecret"} {
		assert.Greater(t, count[c], 0, c)
	}
	assert.InDelta(t, 300, count["rotating"], 100)
	assert.InDelta(t, 400*0.9, count["underCMK"], 150)
}

func TestGeneratedEstateServes(t *testing.T) {
	inv := kms.Generate(kms.GenerateOptions{Keys: 300, Secrets: 120, Regions: 2, Accounts: 2, Seed: 1})
	e := newEnv(t, inv, kms.Options{})
	e.twin.DisableThrottling()
	acct := inv.Accounts[1].ID
	c := e.v3(t, acct, "cn-shanghai")
	res, err := c.ListKeys(&kmsv3.ListKeysRequest{PageSize: tea.Int32(100)})
	require.NoError(t, err)
	assert.Equal(t, int32(len(inv.Accounts[1].Regions["cn-shanghai"].Keys)), tea.Int32Value(res.Body.TotalCount))
	li, err := c.ListKmsInstances(&kmsv3.ListKmsInstancesRequest{})
	require.NoError(t, err)
	assert.Equal(t, int64(1), tea.Int64Value(li.Body.TotalCount))
}

// With own=1 every account owns one instance in each region that has one,
// shared with nobody, and what is already migrated lives in its own
// account's instance.
func TestGenerateOwnInstances(t *testing.T) {
	o, err := kms.ParseGenerateSpec("keys=600,secrets=300,regions=3,accounts=4,seed=9,own=1")
	require.NoError(t, err)
	require.True(t, o.Own)
	inv := kms.Generate(o)
	require.NoError(t, inv.Validate())
	owners := map[string]string{} // instance -> account
	for _, a := range inv.Accounts {
		for region, r := range a.Regions {
			mains := 0
			for _, in := range r.Instances {
				assert.Empty(t, in.SharedWith, "%s %s: %s shared", a.ID, region, in.KmsInstanceID)
				owners[in.KmsInstanceID] = a.ID
				if in.Name == region+"-main" {
					mains++
				}
			}
			if region == kms.GeneratedRegions[2] {
				assert.Zero(t, mains, "the last region has no instance")
			} else {
				assert.Equal(t, 1, mains, "%s %s: its own instance", a.ID, region)
			}
		}
	}
	assert.Len(t, owners, 4*2+1, "four accounts times two regions, and the legacy one")
	for _, a := range inv.Accounts {
		for _, r := range a.Regions {
			for _, k := range r.Keys {
				if k.DKMSInstanceID != "" {
					assert.Equal(t, a.ID, owners[k.DKMSInstanceID], "key %s in another account's instance", k.KeyID)
				}
			}
		}
	}
	_, err = kms.ParseGenerateSpec("own=2")
	require.EqualError(t, err, "kms: generate: own=2: must be 0 (the first account's instances, shared) or 1 (each account its own)")
	shared, err := kms.ParseGenerateSpec("keys=600,secrets=300,regions=3,accounts=4,seed=9")
	require.NoError(t, err)
	assert.NotEqual(t, inv, kms.Generate(shared))
}
