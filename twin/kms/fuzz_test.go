package kms_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/kms"
)

func FuzzParseInventory(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte(`{"accounts":[{"id":"1","regions":{}}]}`))
	f.Add([]byte(`{"accounts":[{"id":"1","accessKeyId":"LTAIfixed","accessKeySecret":"s","regions":{"cn-hangzhou":{}}},` +
		`{"id":"2","accessKeyId":"LTAIother","accessKeySecret":"t","regions":{}}]}`))
	f.Add([]byte(`{"accounts":[{"id":"1","accessKeyId":"LTAIfixed","accessKeySecret":"s","regions":{}},` +
		`{"id":"2","accessKeyId":"LTAIfixed","accessKeySecret":"s","regions":{}}]}`))
	f.Add([]byte(`{"accounts":[{"id":"1","regions":{"cn-hangzhou":{"keys":[{"keyId":"00000000-0000-4000-8000-000000000001",` +
		`"automaticRotation":"Enabled","rotationInterval":"604800s","keyState":"PendingDeletion","deleteDate":"2024-02-01T00:00:00Z",` +
		`"versions":[{"keyVersionId":"v1","creationDate":"2024-01-01T00:00:00Z"}],"tags":{"env":"prod"}}],` +
		`"secrets":[{"secretName":"db","secretType":"Rds","automaticRotation":"Enabled","rotationInterval":"604800s",` +
		`"encryptionKeyId":"00000000-0000-4000-8000-000000000001",` +
		`"versions":[{"versionId":"v1","versionStages":["ACSCurrent"],"secretData":"x"}]}],` +
		`"instances":[{"kmsInstanceId":"kst-abcd","type":"hardware","imageVersion":"3.0.0","keyQuota":1,"secretQuota":1,"endDate":"2030-01-01T00:00:00Z"}]}}}]}`))
	f.Add([]byte(`{"accounts":[{"id":"1","regions":{"cn-hangzhou":{"instances":[{"kmsInstanceId":"kst-abcd","type":"software",` +
		`"imageVersion":"2.9.0","keyQuota":9223372036854775807,"keysUsed":9223372036854775807,"expiresInDays":1}],` +
		`"keys":[{"keyId":"00000000-0000-4000-8000-000000000001","dkmsInstanceId":"kst-abcd"}]}}}]}`))
	f.Add([]byte(`{"accounts":[{"id":"x"}],"version":2}`))
	f.Add([]byte(`{"accounts":[]} []`))
	f.Add([]byte(`{"accounts":[{"id":"1","regions":{"cn-hangzhou":{"keys":[{"keyId":1e3}]}}}]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		inv, err := kms.ParseInventory(b)
		if err != nil {
			var ie *kms.InventoryError
			require.ErrorAs(t, err, &ie)
			require.NotEmpty(t, ie.Problems, "an *InventoryError without problems")
			for _, p := range ie.Problems {
				require.NotEmpty(t, p.Path, "problem without a path: %+v", p)
				require.NotEmpty(t, p.Reason, "problem without a reason: %+v", p)
				require.ErrorContains(t, err, p.String())
			}
			return
		}
		require.NoError(t, inv.Validate(), "accepted inventory does not validate")
		tw, err := kms.New(inv, kms.Options{})
		require.NoError(t, err, "accepted inventory does not build a twin:\n%s", b)
		require.Len(t, tw.Accounts(), len(inv.Accounts), "twin accounts")
	})
}

func FuzzParseGenerateSpec(f *testing.F) {
	for _, s := range []string{"", "keys=1000,secrets=500,regions=4,accounts=3,seed=7", "keys=0", " keys = 5 ", "regions=13",
		"regions=0", "accounts=0", "seed=18446744073709551615",
		"colour=red", "keys", "keys=-1", "keys=1,,secrets=2", "own=1,accounts=3", "own=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		o, err := kms.ParseGenerateSpec(spec)
		if err != nil {
			require.True(t, strings.HasPrefix(err.Error(), "kms: generate: "), "error does not say where it comes from: %v", err)
			return
		}
		inRange := o.Keys >= 0 && o.Secrets >= 0 && o.Accounts >= 0 && o.Regions >= 0 && o.Regions <= len(kms.GeneratedRegions)
		require.True(t, inRange, "%q gave out-of-range options %+v", spec, o)
		// The options written back out parse to the same options.
		text := fmt.Sprintf("keys=%d,secrets=%d,seed=%d", o.Keys, o.Secrets, o.Seed)
		if o.Regions != 0 {
			text += fmt.Sprintf(",regions=%d", o.Regions)
		}
		if o.Accounts != 0 {
			text += fmt.Sprintf(",accounts=%d", o.Accounts)
		}
		if o.Own {
			text += ",own=1"
		}
		back, err := kms.ParseGenerateSpec(text)
		require.NoError(t, err, "%q -> %+v -> %q", spec, o, text)
		require.Equal(t, o, back, "%q -> %+v -> %q", spec, o, text)
		// A small estate of these options is valid.
		if o.Keys <= 20 && o.Secrets <= 20 && o.Accounts <= 3 {
			require.NoError(t, kms.Generate(o).Validate(), "Generate(%+v) is invalid", o)
		}
	})
}
