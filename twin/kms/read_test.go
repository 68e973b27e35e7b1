package kms_test

import (
	"fmt"
	"net/http"
	"testing"

	kmsv3 "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/tea"
	kmsv1 "github.com/aliyun/alibaba-cloud-sdk-go/services/kms"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/kms"
)

func lane(account, region string) kms.Lane { return kms.Lane{Account: account, Region: region} }

func TestDescribeRegions(t *testing.T) {
	e := demo(t)
	res, err := e.v3(t, acctC, sh).DescribeRegions()
	require.NoError(t, err)
	var got []string
	for _, r := range res.Body.Regions.Region {
		got = append(got, tea.StringValue(r.RegionId))
	}
	assert.Equal(t, []string{bj, hz, sh}, got)
}

func TestListKeysPagination(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	var ids []string
	for p := int32(1); ; p++ {
		res, err := c.ListKeys(&kmsv3.ListKeysRequest{PageNumber: tea.Int32(p), PageSize: tea.Int32(4)})
		require.NoError(t, err)
		b := res.Body
		require.Equal(t, int32(9), tea.Int32Value(b.TotalCount))
		require.Equal(t, p, tea.Int32Value(b.PageNumber))
		require.Equal(t, int32(4), tea.Int32Value(b.PageSize))
		if len(b.Keys.Key) == 0 {
			break
		}
		for _, k := range b.Keys.Key {
			ids = append(ids, tea.StringValue(k.KeyId))
			assert.Equal(t, fmt.Sprintf("acs:kms:%s:%s:key/%s", hz, acctA, tea.StringValue(k.KeyId)), tea.StringValue(k.KeyArn))
		}
	}
	require.Len(t, ids, 9)
	assert.Equal(t, keyPlain, ids[0])
	assert.Equal(t, keySigner, ids[8])

	// Default page size is 10.
	res, err := c.ListKeys(&kmsv3.ListKeysRequest{})
	require.NoError(t, err)
	assert.Equal(t, int32(10), tea.Int32Value(res.Body.PageSize))
	assert.Equal(t, int32(1), tea.Int32Value(res.Body.PageNumber))
	assert.Len(t, res.Body.Keys.Key, 9)
}

func TestListKeysPageSizeBounds(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	for _, size := range []int32{0, 101, -1} {
		_, err := c.ListKeys(&kmsv3.ListKeysRequest{PageSize: tea.Int32(size)})
		requireCode(t, err, http.StatusBadRequest, "InvalidParameter")
	}
	_, err := c.ListKeys(&kmsv3.ListKeysRequest{PageNumber: tea.Int32(0)})
	requireCode(t, err, http.StatusBadRequest, "InvalidParameter")
	for _, size := range []int32{1, 100} {
		res, err := c.ListKeys(&kmsv3.ListKeysRequest{PageSize: tea.Int32(size)})
		require.NoError(t, err)
		assert.Len(t, res.Body.Keys.Key, int(min(size, 9)))
	}
	_, err = c.ListSecrets(&kmsv3.ListSecretsRequest{PageSize: tea.Int32(101)})
	requireCode(t, err, http.StatusBadRequest, "InvalidParameter")
	_, err = c.ListKmsInstances(&kmsv3.ListKmsInstancesRequest{PageSize: tea.Int32(0)})
	requireCode(t, err, http.StatusBadRequest, "InvalidParameter")
}

func TestListKeysFilters(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	count := func(filters string) int {
		res, err := c.ListKeys(&kmsv3.ListKeysRequest{Filters: tea.String(filters), PageSize: tea.Int32(100)})
		require.NoError(t, err)
		return len(res.Body.Keys.Key)
	}
	assert.Equal(t, 1, count(`[{"Key":"CreatorType","Values":["Service"]}]`))
	assert.Equal(t, 8, count(`[{"Key":"CreatorType","Values":["User"]}]`))
	assert.Equal(t, 2, count(`[{"Key":"KeyState","Values":["Disabled"]},{"Key":"KeyState","Values":["PendingDeletion"]}]`))
	assert.Equal(t, 1, count(`[{"Key":"KeySpec","Values":["RSA_2048"]},{"Key":"ProtectionLevel","Values":["HSM"]}]`))
	_, err := c.ListKeys(&kmsv3.ListKeysRequest{Filters: tea.String(`[{"Key":"Color","Values":["red"]}]`)})
	requireCode(t, err, http.StatusBadRequest, "InvalidParameter")
	_, err = c.ListKeys(&kmsv3.ListKeysRequest{Filters: tea.String(`not json`)})
	requireCode(t, err, http.StatusBadRequest, "InvalidParameter")
}

func TestDescribeKey(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	get := func(id string) *kmsv3.DescribeKeyResponseBodyKeyMetadata {
		res, err := c.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String(id)})
		require.NoError(t, err)
		return res.Body.KeyMetadata
	}
	m := get(keyRotating)
	assert.Equal(t, "Enabled", tea.StringValue(m.AutomaticRotation))
	assert.Equal(t, "2592000s", tea.StringValue(m.RotationInterval))
	assert.Equal(t, "2024-05-01T00:00:00Z", tea.StringValue(m.LastRotationDate))
	assert.Equal(t, "2025-07-01T00:00:00Z", tea.StringValue(m.NextRotationDate)) // now + interval, the due date has passed
	assert.Equal(t, "b1000001-0000-4000-8000-000000000022", tea.StringValue(m.PrimaryKeyVersion))

	m = get("alias/acs/oss")
	assert.Equal(t, keyService, tea.StringValue(m.KeyId))
	assert.Equal(t, "Oss", tea.StringValue(m.Creator))

	m = get(keyExternal)
	assert.Equal(t, "EXTERNAL", tea.StringValue(m.Origin))
	m = get(keyPendDel)
	assert.Equal(t, "PendingDeletion", tea.StringValue(m.KeyState))
	assert.Equal(t, "2030-01-08T00:00:00Z", tea.StringValue(m.DeleteDate))
	m = get(keyMigrated)
	assert.Equal(t, instMain, tea.StringValue(m.DKMSInstanceId))
	m = get(keyPlain)
	assert.Equal(t, acctA, tea.StringValue(m.Creator))
	assert.Empty(t, tea.StringValue(m.DKMSInstanceId))
	m = get(fmt.Sprintf("acs:kms:%s:%s:key/%s", hz, acctA, keyPlain))
	assert.Equal(t, keyPlain, tea.StringValue(m.KeyId))

	_, err := c.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String("00000000-0000-4000-8000-000000000000")})
	requireCode(t, err, http.StatusNotFound, "Forbidden.KeyNotFound")
	_, err = c.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String("alias/nope")})
	requireCode(t, err, http.StatusNotFound, "Forbidden.AliasNotFound")
	_, err = c.DescribeKey(&kmsv3.DescribeKeyRequest{})
	requireCode(t, err, http.StatusBadRequest, "MissingParameter")
}

func TestDescribeKeyV1(t *testing.T) {
	e := demo(t)
	c := e.v1(t, acctA, hz)
	req := kmsv1.CreateDescribeKeyRequest()
	req.Domain, req.Scheme = e.hosts[hz], "http"
	req.KeyId = "alias/app-data"
	res, err := c.DescribeKey(req)
	require.NoError(t, err)
	assert.Equal(t, keyPlain, res.KeyMetadata.KeyId)
	assert.Equal(t, "Aliyun_KMS", res.KeyMetadata.Origin)

	req = kmsv1.CreateDescribeKeyRequest()
	req.Domain, req.Scheme = e.hosts[hz], "http"
	req.KeyId = keyB // account B's key
	_, err = c.DescribeKey(req)
	status, code := v1Code(t, err)
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, "Forbidden.KeyNotFound", code)

	lreq := kmsv1.CreateListKeysRequest()
	lreq.Domain, lreq.Scheme = e.hosts[hz], "http"
	lreq.PageSize = "2"
	lreq.PageNumber = "5"
	lres, err := c.ListKeys(lreq)
	require.NoError(t, err)
	assert.Equal(t, 9, lres.TotalCount)
	require.Len(t, lres.Keys.Key, 1)
	assert.Equal(t, keySigner, lres.Keys.Key[0].KeyId)
}

func TestKeyVersionsAliasesTags(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	kv, err := c.ListKeyVersions(&kmsv3.ListKeyVersionsRequest{KeyId: tea.String(keyRotating), PageSize: tea.Int32(1), PageNumber: tea.Int32(2)})
	require.NoError(t, err)
	assert.Equal(t, int32(2), tea.Int32Value(kv.Body.TotalCount))
	require.Len(t, kv.Body.KeyVersions.KeyVersion, 1)
	v := kv.Body.KeyVersions.KeyVersion[0]
	assert.Equal(t, "b1000001-0000-4000-8000-000000000022", tea.StringValue(v.KeyVersionId))
	assert.Equal(t, keyRotating, tea.StringValue(v.KeyId))
	assert.Equal(t, "2024-05-01T00:00:00Z", tea.StringValue(v.CreationDate))

	al, err := c.ListAliases(&kmsv3.ListAliasesRequest{PageSize: tea.Int32(100)})
	require.NoError(t, err)
	assert.Equal(t, int32(7), tea.Int32Value(al.Body.TotalCount))
	first := al.Body.Aliases.Alias[0]
	assert.Equal(t, "alias/app-data", tea.StringValue(first.AliasName))
	assert.Equal(t, "acs:kms:cn-hangzhou:1111000011110001:alias/app-data", tea.StringValue(first.AliasArn))
	assert.Equal(t, keyPlain, tea.StringValue(first.KeyId))

	ab, err := c.ListAliasesByKeyId(&kmsv3.ListAliasesByKeyIdRequest{KeyId: tea.String(keyService)})
	require.NoError(t, err)
	require.Len(t, ab.Body.Aliases.Alias, 1)
	assert.Equal(t, "alias/acs/oss", tea.StringValue(ab.Body.Aliases.Alias[0].AliasName))
	_, err = c.ListAliasesByKeyId(&kmsv3.ListAliasesByKeyIdRequest{KeyId: tea.String(keyB)})
	requireCode(t, err, http.StatusNotFound, "Forbidden.KeyNotFound")

	tags, err := c.ListResourceTags(&kmsv3.ListResourceTagsRequest{KeyId: tea.String(keyPlain)})
	require.NoError(t, err)
	var got []string
	for _, tg := range tags.Body.Tags.Tag {
		got = append(got, tea.StringValue(tg.KeyId)+" "+tea.StringValue(tg.TagKey)+"="+tea.StringValue(tg.TagValue))
	}
	assert.Equal(t, []string{keyPlain + " env=prod", keyPlain + " team=payments"}, got)
}

func TestSecrets(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	ls, err := c.ListSecrets(&kmsv3.ListSecretsRequest{FetchTags: tea.String("true"), PageSize: tea.Int32(3), PageNumber: tea.Int32(1)})
	require.NoError(t, err)
	assert.Equal(t, int32(8), tea.Int32Value(ls.Body.TotalCount))
	require.Len(t, ls.Body.SecretList.Secret, 3)
	s0 := ls.Body.SecretList.Secret[0]
	assert.Equal(t, "app/db-password", tea.StringValue(s0.SecretName))
	assert.Equal(t, "Generic", tea.StringValue(s0.SecretType))
	require.Len(t, s0.Tags.Tag, 1)
	assert.Equal(t, "payments", tea.StringValue(s0.Tags.Tag[0].TagValue))

	ls, err = c.ListSecrets(&kmsv3.ListSecretsRequest{Filters: tea.String(`[{"Key":"SecretName","Values":["app/"]}]`)})
	require.NoError(t, err)
	assert.Equal(t, int32(4), tea.Int32Value(ls.Body.TotalCount))
	ls, err = c.ListSecrets(&kmsv3.ListSecretsRequest{Filters: tea.String(`[{"Key":"TagKey","Values":["team"]}]`)})
	require.NoError(t, err)
	assert.Equal(t, int32(1), tea.Int32Value(ls.Body.TotalCount))
	assert.Nil(t, ls.Body.SecretList.Secret[0].Tags, "tags only with FetchTags")

	d, err := c.DescribeSecret(&kmsv3.DescribeSecretRequest{SecretName: tea.String("app/api-token")})
	require.NoError(t, err)
	assert.Equal(t, keySecretCMK, tea.StringValue(d.Body.EncryptionKeyId))
	assert.Equal(t, "Invalid", tea.StringValue(d.Body.AutomaticRotation))
	assert.Equal(t, "acs:kms:cn-hangzhou:1111000011110001:secret/app/api-token", tea.StringValue(d.Body.Arn))
	d, err = c.DescribeSecret(&kmsv3.DescribeSecretRequest{SecretName: tea.String("rds/orders")})
	require.NoError(t, err)
	assert.Equal(t, "Enabled", tea.StringValue(d.Body.AutomaticRotation))
	assert.Equal(t, "604800s", tea.StringValue(d.Body.RotationInterval))
	assert.Empty(t, tea.StringValue(d.Body.EncryptionKeyId), "system key")
	d, err = c.DescribeSecret(&kmsv3.DescribeSecretRequest{SecretName: tea.String("legacy/migrated")})
	require.NoError(t, err)
	assert.Equal(t, instMain, tea.StringValue(d.Body.DKMSInstanceId))
	_, err = c.DescribeSecret(&kmsv3.DescribeSecretRequest{SecretName: tea.String("member/token")})
	requireCode(t, err, http.StatusNotFound, "Forbidden.ResourceNotFound")

	vs, err := c.ListSecretVersionIds(&kmsv3.ListSecretVersionIdsRequest{SecretName: tea.String("app/api-token")})
	require.NoError(t, err)
	assert.Equal(t, int32(2), tea.Int32Value(vs.Body.TotalCount))
	assert.Equal(t, "app/api-token", tea.StringValue(vs.Body.SecretName))
	v2 := vs.Body.VersionIds.VersionId[1]
	assert.Equal(t, "v2", tea.StringValue(v2.VersionId))
	assert.Equal(t, []*string{tea.String("ACSCurrent")}, v2.VersionStages.VersionStage)

	before := e.twin.SecretValueReads(lane(acctA, hz), "app/api-token")
	gv, err := c.GetSecretValue(&kmsv3.GetSecretValueRequest{SecretName: tea.String("app/api-token")})
	require.NoError(t, err)
	assert.Equal(t, "new-token", tea.StringValue(gv.Body.SecretData))
	gv, err = c.GetSecretValue(&kmsv3.GetSecretValueRequest{SecretName: tea.String("app/api-token"), VersionStage: tea.String("ACSPrevious")})
	require.NoError(t, err)
	assert.Equal(t, "old-token", tea.StringValue(gv.Body.SecretData))
	assert.Equal(t, before+2, e.twin.SecretValueReads(lane(acctA, hz), "app/api-token"))
}

func TestInstancesAndQuota(t *testing.T) {
	e := demo(t)
	list := func(acct, region string) []string {
		res, err := e.v3(t, acct, region).ListKmsInstances(&kmsv3.ListKmsInstancesRequest{})
		require.NoError(t, err)
		var ids []string
		for _, in := range res.Body.KmsInstances.KmsInstance {
			ids = append(ids, tea.StringValue(in.KmsInstanceId))
		}
		assert.Equal(t, int64(len(ids)), tea.Int64Value(res.Body.TotalCount))
		return ids
	}
	assert.Equal(t, []string{instMain, instOld, instSmall}, list(acctA, hz))
	assert.Equal(t, []string{instMain, instOld}, list(acctB, hz), "shared with B")
	assert.Empty(t, list(acctC, hz), "nothing shared with C")
	assert.Empty(t, list(acctB, bj), "a region without instance")

	c := e.v3(t, acctB, hz)
	gi, err := c.GetKmsInstance(&kmsv3.GetKmsInstanceRequest{KmsInstanceId: tea.String(instMain)})
	require.NoError(t, err)
	in := gi.Body.KmsInstance
	assert.Equal(t, instMain, tea.StringValue(in.InstanceId))
	assert.Equal(t, int64(30), tea.Int64Value(in.KeyNum))
	assert.Equal(t, "30", tea.StringValue(in.SecretNum))
	assert.Equal(t, "Connected", tea.StringValue(in.Status))
	assert.Equal(t, "2026-03-28T00:00:00Z", tea.StringValue(in.EndDate)) // epoch + 300 days

	var ext struct {
		KmsInstance struct {
			ImageVersion   string
			AutoRenewal    bool
			InstanceType   string
			SharedAccounts struct{ SharedAccount []string }
		}
	}
	require.NoError(t, callInto(t, e.v3(t, acctA, sh), "GetKmsInstance", map[string]string{"KmsInstanceId": instExp}, &ext))
	assert.Equal(t, "2.9.0", ext.KmsInstance.ImageVersion)
	assert.False(t, ext.KmsInstance.AutoRenewal)
	assert.Equal(t, "software", ext.KmsInstance.InstanceType)

	q, err := c.GetKmsInstanceQuotaInfos(&kmsv3.GetKmsInstanceQuotaInfosRequest{KmsInstanceId: tea.String(instMain)})
	require.NoError(t, err)
	quota := map[string][2]int64{}
	for _, qi := range q.Body.KmsInstanceQuotaInfos {
		quota[tea.StringValue(qi.ResourceType)] = [2]int64{tea.Int64Value(qi.ResourceQuota), tea.Int64Value(qi.UsedQuantity)}
	}
	assert.Equal(t, [2]int64{30, 2}, quota["KEY"], "1 native + 1 migrated key")
	assert.Equal(t, [2]int64{30, 3}, quota["SECRET"], "2 native + 1 migrated secret")
	_, err = c.GetKmsInstanceQuotaInfos(&kmsv3.GetKmsInstanceQuotaInfosRequest{KmsInstanceId: tea.String(instMain), ResourceType: tea.String("DISK")})
	requireCode(t, err, http.StatusBadRequest, "InvalidParameter")

	_, err = e.v3(t, acctC, hz).GetKmsInstance(&kmsv3.GetKmsInstanceRequest{KmsInstanceId: tea.String(instMain)})
	requireCode(t, err, http.StatusNotFound, "Forbidden.DKMSInstanceNotFound")
	_, err = e.v3(t, acctA, sh).GetKmsInstance(&kmsv3.GetKmsInstanceRequest{KmsInstanceId: tea.String(instMain)})
	requireCode(t, err, http.StatusNotFound, "Forbidden.DKMSInstanceNotFound")
}

func TestCrossAccountIsolation(t *testing.T) {
	e := demo(t)
	b := e.v3(t, acctB, hz)
	_, err := b.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String(keyPlain)})
	requireCode(t, err, http.StatusNotFound, "Forbidden.KeyNotFound")
	_, err = b.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String(fmt.Sprintf("acs:kms:%s:%s:key/%s", hz, acctA, keyPlain))})
	requireCode(t, err, http.StatusNotFound, "Forbidden.KeyNotFound")
	// Both accounts have alias/app-data; each sees its own key.
	res, err := b.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String("alias/app-data")})
	require.NoError(t, err)
	assert.Equal(t, keyB, tea.StringValue(res.Body.KeyMetadata.KeyId))
	_, err = b.GetSecretValue(&kmsv3.GetSecretValueRequest{SecretName: tea.String("app/db-password")})
	requireCode(t, err, http.StatusNotFound, "Forbidden.ResourceNotFound")
	_, err = b.ListResourceTags(&kmsv3.ListResourceTagsRequest{KeyId: tea.String(keyPlain)})
	requireCode(t, err, http.StatusNotFound, "Forbidden.KeyNotFound")
	_, err = b.UpdateRotationPolicy(&kmsv3.UpdateRotationPolicyRequest{KeyId: tea.String(keyPlain), EnableAutomaticRotation: tea.Bool(false)})
	requireCode(t, err, http.StatusNotFound, "Forbidden.KeyNotFound")
	ls, err := b.ListSecrets(&kmsv3.ListSecretsRequest{})
	require.NoError(t, err)
	assert.Equal(t, int32(2), tea.Int32Value(ls.Body.TotalCount))
	// The same account in another region sees only that region.
	lk, err := e.v3(t, acctA, sh).ListKeys(&kmsv3.ListKeysRequest{})
	require.NoError(t, err)
	assert.Equal(t, int32(2), tea.Int32Value(lk.Body.TotalCount))
	// A region the estate does not know is empty, not an error.
	lk, err = e.v3(t, acctA, "cn-shenzhen").ListKeys(&kmsv3.ListKeysRequest{})
	require.NoError(t, err)
	assert.Equal(t, int32(0), tea.Int32Value(lk.Body.TotalCount))
}

func TestThrottlingAndCallCounts(t *testing.T) {
	e := newEnv(t, kms.DemoInventory(), kms.Options{})
	e.twin.Limiter().SetQPS(kms.GroupKeyMetadata, 0.001) // one call, then refused
	c := e.v3(t, acctA, hz)
	_, err := c.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String(keyPlain)})
	require.NoError(t, err)
	_, err = c.ListKeys(&kmsv3.ListKeysRequest{})
	requireCode(t, err, http.StatusTooManyRequests, "Rejected.Throttling")
	// Another account has its own bucket; other groups are unaffected.
	_, err = e.v3(t, acctB, hz).DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String(keyB)})
	require.NoError(t, err)
	_, err = c.ListSecrets(&kmsv3.ListSecretsRequest{})
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"DescribeKey": 2, "ListKeys": 1, "ListSecrets": 1}, e.twin.CallCounts())
}
