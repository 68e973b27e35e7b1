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
