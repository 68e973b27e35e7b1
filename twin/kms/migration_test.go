package kms_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	kmsv3 "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/kms"
)

type taskResult struct {
	ResourceType, ResourceId, Status, ReasonCode, Message string
}

type taskView struct {
	TaskId, KmsInstanceId, RegionId, Method, Status string
	CreateTime, MigrationTime, StartTime, EndTime   string
	KeyCount, SecretCount                           int
	Results                                         []taskResult
}

func (v taskView) result(t *testing.T, id string) taskResult {
	t.Helper()
	for _, r := range v.Results {
		if r.ResourceId == id {
			return r
		}
	}
	require.Failf(t, "no result", "no result for %s in %+v", id, v.Results)
	return taskResult{}
}

func jsonList(items ...string) string {
	b, _ := json.Marshal(items)
	return string(b)
}

// create sends CreateMigrationTask (manual unless q says otherwise).
func create(t *testing.T, c *kmsv3.Client, q map[string]string) (string, error) {
	t.Helper()
	var res struct{ TaskId, Status string }
	if err := callInto(t, c, "CreateMigrationTask", q, &res); err != nil {
		return "", err
	}
	require.NotEmpty(t, res.TaskId)
	return res.TaskId, nil
}

func describe(t *testing.T, c *kmsv3.Client, id string) taskView {
	t.Helper()
	var v taskView
	require.NoError(t, callInto(t, c, "DescribeMigrationTask", map[string]string{"TaskId": id}, &v))
	return v
}

// migrate runs a manual task to completion and returns it.
func migrate(t *testing.T, e *env, c *kmsv3.Client, instance string, keys, secrets []string) taskView {
	t.Helper()
	q := map[string]string{"KmsInstanceId": instance, "Method": "manual"}
	if len(keys) > 0 {
		q["KeyIds"] = jsonList(keys...)
	}
	if len(secrets) > 0 {
		q["SecretNames"] = jsonList(secrets...)
	}
	id, err := create(t, c, q)
	require.NoError(t, err)
	e.clock.Advance(time.Hour)
	v := describe(t, c, id)
	require.Equal(t, kms.TaskCompleted, v.Status)
	return v
}

func keyInstance(t *testing.T, c *kmsv3.Client, id string) string {
	t.Helper()
	d, err := c.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String(id)})
	require.NoError(t, err)
	return tea.StringValue(d.Body.KeyMetadata.DKMSInstanceId)
}

func secretInstance(t *testing.T, c *kmsv3.Client, name string) string {
	t.Helper()
	d, err := c.DescribeSecret(&kmsv3.DescribeSecretRequest{SecretName: tea.String(name)})
	require.NoError(t, err)
	return tea.StringValue(d.Body.DKMSInstanceId)
}

func usage(t *testing.T, c *kmsv3.Client, instance string) (keys, secrets int64) {
	t.Helper()
	q, err := c.GetKmsInstanceQuotaInfos(&kmsv3.GetKmsInstanceQuotaInfosRequest{KmsInstanceId: tea.String(instance)})
	require.NoError(t, err)
	for _, qi := range q.Body.KmsInstanceQuotaInfos {
		switch tea.StringValue(qi.ResourceType) {
		case "KEY":
			keys = tea.Int64Value(qi.UsedQuantity)
		case "SECRET":
			secrets = tea.Int64Value(qi.UsedQuantity)
		}
	}
	return keys, secrets
}

func TestMigrationLifecycle(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	k0, s0 := usage(t, c, instMain)
	id, err := create(t, c, map[string]string{"KmsInstanceId": instMain, "Method": "manual",
		"KeyIds": jsonList("alias/app-data"), "SecretNames": jsonList("app/db-password")})
	require.NoError(t, err)

	v := describe(t, c, id)
	assert.Equal(t, kms.TaskRunning, v.Status, "a manual task starts at once")
	assert.Empty(t, v.Results, "results only once Completed")
	assert.Equal(t, 1, v.KeyCount)
	assert.Equal(t, 1, v.SecretCount)
	e.clock.Advance(33 * time.Second) // 30 s + 2 s per resource
	assert.Equal(t, kms.TaskRunning, describe(t, c, id).Status)
	e.clock.Advance(time.Second)
	v = describe(t, c, id)
	require.Equal(t, kms.TaskCompleted, v.Status)
	assert.Equal(t, "2025-06-01T00:00:34Z", v.EndTime)
	assert.Equal(t, []taskResult{
		{ResourceType: "Key", ResourceId: keyPlain, Status: "Succeeded"},
		{ResourceType: "Secret", ResourceId: "app/db-password", Status: "Succeeded"},
	}, v.Results)

	assert.Equal(t, instMain, keyInstance(t, c, keyPlain))
	assert.Equal(t, instMain, secretInstance(t, c, "app/db-password"))
	k1, s1 := usage(t, c, instMain)
	assert.Equal(t, k0+1, k1)
	assert.Equal(t, s0+1, s1)
	// The owner and the member see the same usage.
	k2, _ := usage(t, e.v3(t, acctB, hz), instMain)
	assert.Equal(t, k1, k2)
}

func TestMigrationDurationScalesWithSizeAndSpeed(t *testing.T) {
	e := newEnv(t, kms.DemoInventory(), kms.Options{Timing: kms.TaskTiming{Base: 10 * time.Second, PerResource: 10 * time.Second, Speed: 2}})
	e.twin.DisableThrottling()
	c := e.v3(t, acctA, hz)
	id, err := create(t, c, map[string]string{"KmsInstanceId": instMain, "KeyIds": jsonList(keyPlain, keySecretCMK), "SecretNames": jsonList("app/db-password")})
	require.NoError(t, err)
	e.clock.Advance(19 * time.Second) // (10 + 3×10) / 2 = 20 s
	assert.Equal(t, kms.TaskRunning, describe(t, c, id).Status)
	e.clock.Advance(time.Second)
	assert.Equal(t, kms.TaskCompleted, describe(t, c, id).Status)
}

func TestMigrationAutomaticWaitsForMigrationTime(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	at := epoch.Add(2 * time.Hour).Format(time.RFC3339)
	id, err := create(t, c, map[string]string{"KmsInstanceId": instMain, "Method": "automatic", "MigrationTime": at, "KeyIds": jsonList(keyPlain)})
	require.NoError(t, err)
	v := describe(t, c, id)
	assert.Equal(t, kms.TaskScheduled, v.Status)
	assert.Equal(t, at, v.MigrationTime)
	e.clock.Advance(time.Hour)
	assert.Equal(t, kms.TaskScheduled, describe(t, c, id).Status)
	// Control-plane calls are allowed until the task runs.
	_, err = c.UpdateRotationPolicy(&kmsv3.UpdateRotationPolicyRequest{KeyId: tea.String(keyPlain), EnableAutomaticRotation: tea.Bool(false)})
	require.NoError(t, err)
	e.clock.Advance(time.Hour)
	v = describe(t, c, id)
	assert.Equal(t, kms.TaskRunning, v.Status)
	assert.Equal(t, at, v.StartTime)
	e.clock.Advance(time.Minute)
	assert.Equal(t, kms.TaskCompleted, describe(t, c, id).Status)

	_, err = create(t, c, map[string]string{"KmsInstanceId": instMain, "Method": "automatic", "KeyIds": jsonList(keySecretCMK)})
	requireCode(t, err, http.StatusBadRequest, "MissingParameter")
	_, err = create(t, c, map[string]string{"KmsInstanceId": instMain, "Method": "automatic", "MigrationTime": "2020-01-01T00:00:00Z", "KeyIds": jsonList(keySecretCMK)})
	requireCode(t, err, http.StatusBadRequest, "InvalidParameter")
	_, err = create(t, c, map[string]string{"KmsInstanceId": instMain, "Method": "sometime", "KeyIds": jsonList(keySecretCMK)})
	requireCode(t, err, http.StatusBadRequest, "InvalidParameter")
}

// One test per rule of the migration tool: task-level rules refuse the
// call with their code, resource-level rules show their ReasonCode.

func TestRuleInstanceInSameRegion(t *testing.T) {
	e := demo(t)
	_, err := create(t, e.v3(t, acctA, sh), map[string]string{"KmsInstanceId": instMain, "KeyIds": jsonList("alias/sh-data")})
	requireCode(t, err, http.StatusBadRequest, kms.CodeRegionMismatch)
}

func TestRuleImageVersion(t *testing.T) {
	e := demo(t)
	_, err := create(t, e.v3(t, acctA, hz), map[string]string{"KmsInstanceId": instOld, "KeyIds": jsonList(keyPlain)})
	requireCode(t, err, http.StatusBadRequest, kms.CodeImageTooOld)
	// 2.9.0 exactly is enough.
	_, err = create(t, e.v3(t, acctA, sh), map[string]string{"KmsInstanceId": instExp, "KeyIds": jsonList("alias/sh-data")})
	require.NoError(t, err)
}

func TestRuleQuota(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	_, err := create(t, c, map[string]string{"KmsInstanceId": instSmall, "KeyIds": jsonList(keyPlain)})
	requireCode(t, err, http.StatusBadRequest, kms.CodeInsufficientQuota)
	_, err = create(t, c, map[string]string{"KmsInstanceId": instSmall, "SecretNames": jsonList("app/db-password")})
	requireCode(t, err, http.StatusBadRequest, kms.CodeInsufficientQuota)
}

func TestRuleQuotaCountsQueuedTasks(t *testing.T) {
	inv := kms.DemoInventory()
	inv.Accounts[0].Regions[hz].Instances[0].KeyQuota = 3 // 2 used: room for one
	e := newEnv(t, inv, kms.Options{})
	e.twin.DisableThrottling()
	c := e.v3(t, acctA, hz)
	at := epoch.Add(time.Hour).Format(time.RFC3339)
	_, err := create(t, c, map[string]string{"KmsInstanceId": instMain, "Method": "automatic", "MigrationTime": at, "KeyIds": jsonList(keyPlain)})
	require.NoError(t, err)
	_, err = create(t, c, map[string]string{"KmsInstanceId": instMain, "KeyIds": jsonList(keySecretCMK)})
	requireCode(t, err, http.StatusBadRequest, kms.CodeInsufficientQuota)
}

func TestRuleRotationMustBeOff(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	v := migrate(t, e, c, instMain, []string{keyRotating}, []string{"rds/orders"})
	assert.Equal(t, taskResult{"Key", keyRotating, "Failed", kms.ReasonRotationEnabled, "disable automatic rotation before migrating"}, v.result(t, keyRotating))
	assert.Equal(t, kms.ReasonRotationEnabled, v.result(t, "rds/orders").ReasonCode)
	assert.Empty(t, keyInstance(t, c, keyRotating))

	_, err := c.UpdateRotationPolicy(&kmsv3.UpdateRotationPolicyRequest{KeyId: tea.String(keyRotating), EnableAutomaticRotation: tea.Bool(false)})
	require.NoError(t, err)
	_, err = c.UpdateSecretRotationPolicy(&kmsv3.UpdateSecretRotationPolicyRequest{SecretName: tea.String("rds/orders"), EnableAutomaticRotation: tea.Bool(false)})
	require.NoError(t, err)
	v = migrate(t, e, c, instMain, []string{keyRotating}, []string{"rds/orders"})
	assert.Equal(t, "Succeeded", v.result(t, keyRotating).Status)
	assert.Equal(t, "Succeeded", v.result(t, "rds/orders").Status)
	// Rotation stays off after migration: re-enabling is the caller's job.
	d, err := c.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String(keyRotating)})
	require.NoError(t, err)
	assert.Equal(t, "Disabled", tea.StringValue(d.Body.KeyMetadata.AutomaticRotation))
}

func TestRuleExternalKeyRefused(t *testing.T) {
	e := demo(t)
	v := migrate(t, e, e.v3(t, acctA, hz), instMain, []string{keyExternal}, nil)
	r := v.result(t, keyExternal)
	assert.Equal(t, "Failed", r.Status)
	assert.Equal(t, kms.ReasonExternalKey, r.ReasonCode)
}

func TestRuleServiceKeyRefused(t *testing.T) {
	e := demo(t)
	v := migrate(t, e, e.v3(t, acctA, hz), instMain, []string{"alias/acs/oss"}, nil)
	r := v.result(t, keyService)
	assert.Equal(t, "Failed", r.Status)
	assert.Equal(t, kms.ReasonServiceKey, r.ReasonCode)
}

func TestRulePendingDeletionAndDisabledKeys(t *testing.T) {
	e := demo(t)
	v := migrate(t, e, e.v3(t, acctA, hz), instMain, []string{keyPendDel, keyDisabled}, nil)
	assert.Equal(t, kms.ReasonKeyPendingDeletion, v.result(t, keyPendDel).ReasonCode)
	assert.Equal(t, kms.ReasonKeyDisabled, v.result(t, keyDisabled).ReasonCode)
}

func TestRuleSecretAfterItsCMK(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	// Not in the same task as its CMK.
	v := migrate(t, e, c, instMain, []string{keySecretCMK}, []string{"app/api-token"})
	assert.Equal(t, "Succeeded", v.result(t, keySecretCMK).Status)
	r := v.result(t, "app/api-token")
	assert.Equal(t, "Failed", r.Status)
	assert.Equal(t, kms.ReasonEncryptionKeyNotMigrated, r.ReasonCode)
	// Once the CMK is in the instance, the secret goes.
	v = migrate(t, e, c, instMain, nil, []string{"app/api-token"})
	assert.Equal(t, "Succeeded", v.result(t, "app/api-token").Status)
	// Secrets under the system key need no CMK.
	v = migrate(t, e, c, instMain, nil, []string{"app/db-password"})
	assert.Equal(t, "Succeeded", v.result(t, "app/db-password").Status)
}

func TestRuleDuplicateSecretNames(t *testing.T) {
	e := demo(t)
	v := migrate(t, e, e.v3(t, acctA, hz), instMain, nil, []string{"shared/dup-name", "app/existing-name"})
	assert.Equal(t, kms.ReasonDuplicateSecretName, v.result(t, "shared/dup-name").ReasonCode)
	assert.Equal(t, kms.ReasonSecretNameExists, v.result(t, "app/existing-name").ReasonCode)
	v = migrate(t, e, e.v3(t, acctB, hz), instMain, nil, []string{"shared/dup-name"})
	assert.Equal(t, kms.ReasonDuplicateSecretName, v.result(t, "shared/dup-name").ReasonCode)
}

func TestRuleInstanceSharedWithCaller(t *testing.T) {
	e := demo(t)
	_, err := create(t, e.v3(t, acctC, hz), map[string]string{"KmsInstanceId": instMain, "KeyIds": jsonList("alias/c-data")})
	requireCode(t, err, http.StatusForbidden, kms.CodeNotShared)
	// Shared with B: B migrates its own key into A's instance.
	v := migrate(t, e, e.v3(t, acctB, hz), instMain, []string{keyB}, nil)
	assert.Equal(t, "Succeeded", v.result(t, keyB).Status)
}

func TestRuleAlreadyMigratedSkipped(t *testing.T) {
	e := demo(t)
	v := migrate(t, e, e.v3(t, acctA, hz), instMain, []string{keyMigrated}, []string{"legacy/migrated"})
	assert.Equal(t, "Skipped", v.result(t, keyMigrated).Status)
	assert.Equal(t, kms.ReasonAlreadyMigrated, v.result(t, keyMigrated).ReasonCode)
	assert.Equal(t, kms.ReasonAlreadyMigrated, v.result(t, "legacy/migrated").ReasonCode)
}

func TestRuleExpiredInstance(t *testing.T) {
	e := demo(t)
	e.clock.Advance(11 * 24 * time.Hour) // kst-shexp001 expires after 10 days, no auto-renewal
	_, err := create(t, e.v3(t, acctA, sh), map[string]string{"KmsInstanceId": instExp, "KeyIds": jsonList("alias/sh-data")})
	requireCode(t, err, http.StatusForbidden, kms.CodeInstanceState)
}

func TestRuleTaskSizeLimit(t *testing.T) {
	e := newEnv(t, kms.DemoInventory(), kms.Options{MaxKeysPerTask: 2, MaxSecretsPerTask: 1})
	e.twin.DisableThrottling()
	c := e.v3(t, acctA, hz)
	_, err := create(t, c, map[string]string{"KmsInstanceId": instMain, "KeyIds": jsonList(keyPlain, keySecretCMK, keyDisabled)})
	requireCode(t, err, http.StatusBadRequest, kms.CodeLimitExceeded)
	_, err = create(t, c, map[string]string{"KmsInstanceId": instMain, "SecretNames": jsonList("app/db-password", "ram/ci-user")})
	requireCode(t, err, http.StatusBadRequest, kms.CodeLimitExceeded)
	_, err = create(t, c, map[string]string{"KmsInstanceId": instMain, "All": "true"})
	requireCode(t, err, http.StatusBadRequest, kms.CodeLimitExceeded)
	_, err = create(t, c, map[string]string{"KmsInstanceId": instMain, "KeyIds": jsonList(keyPlain, keySecretCMK), "SecretNames": jsonList("ram/ci-user")})
	require.NoError(t, err)
}

func TestMigrationAllResourcesOfRegion(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctB, hz)
	id, err := create(t, c, map[string]string{"KmsInstanceId": instMain, "All": "true"})
	require.NoError(t, err)
	e.clock.Advance(time.Hour)
	v := describe(t, c, id)
	assert.Equal(t, 1, v.KeyCount)
	assert.Equal(t, 2, v.SecretCount)
	assert.Equal(t, "Succeeded", v.result(t, keyB).Status)
	assert.Equal(t, "Succeeded", v.result(t, "member/token").Status)
	assert.Equal(t, kms.ReasonDuplicateSecretName, v.result(t, "shared/dup-name").ReasonCode)

	_, err = create(t, c, map[string]string{"KmsInstanceId": instMain, "All": "true", "KeyIds": jsonList(keyB)})
	requireCode(t, err, http.StatusBadRequest, "InvalidParameter")
	_, err = create(t, c, map[string]string{"KmsInstanceId": instMain})
	requireCode(t, err, http.StatusBadRequest, "InvalidParameter")
	_, err = create(t, c, map[string]string{"KmsInstanceId": "kst-nothere1", "All": "true"})
	requireCode(t, err, http.StatusNotFound, "Forbidden.DKMSInstanceNotFound")
	_, err = create(t, c, map[string]string{"KmsInstanceId": instMain, "KeyIds": jsonList(keyPlain)})
	requireCode(t, err, http.StatusNotFound, "Forbidden.KeyNotFound")
}

func TestControlPlaneRefusedWhileTaskRuns(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	id, err := create(t, c, map[string]string{"KmsInstanceId": instMain, "KeyIds": jsonList(keyPlain), "SecretNames": jsonList("ram/ci-user")})
	require.NoError(t, err)
	require.Equal(t, kms.TaskRunning, describe(t, c, id).Status)

	_, err = c.UpdateRotationPolicy(&kmsv3.UpdateRotationPolicyRequest{KeyId: tea.String(keyPlain), EnableAutomaticRotation: tea.Bool(true), RotationInterval: tea.String("604800s")})
	requireCode(t, err, http.StatusConflict, kms.CodeMigrationInProgress)
	_, err = c.UpdateSecretRotationPolicy(&kmsv3.UpdateSecretRotationPolicyRequest{SecretName: tea.String("ram/ci-user"), EnableAutomaticRotation: tea.Bool(false)})
	requireCode(t, err, http.StatusConflict, kms.CodeMigrationInProgress)
	_, err = create(t, c, map[string]string{"KmsInstanceId": instMain, "KeyIds": jsonList(keySecretCMK)})
	requireCode(t, err, http.StatusConflict, kms.CodeMigrationInProgress)
	// Resources outside the task are not locked.
	_, err = c.UpdateRotationPolicy(&kmsv3.UpdateRotationPolicyRequest{KeyId: tea.String(keySecretCMK), EnableAutomaticRotation: tea.Bool(false)})
	require.NoError(t, err)
	// Data plane keeps working.
	gv, err := c.GetSecretValue(&kmsv3.GetSecretValueRequest{SecretName: tea.String("ram/ci-user")})
	require.NoError(t, err)
	assert.Equal(t, `{"AccessKeyId":"LTAIdemo"}`, tea.StringValue(gv.Body.SecretData))

	e.clock.Advance(time.Hour)
	require.Equal(t, kms.TaskCompleted, describe(t, c, id).Status)
	_, err = c.UpdateRotationPolicy(&kmsv3.UpdateRotationPolicyRequest{KeyId: tea.String(keyPlain), EnableAutomaticRotation: tea.Bool(true), RotationInterval: tea.String("604800s")})
	require.NoError(t, err)
}

func TestFaultInjection(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	e.twin.FailResource(keyPlain, "InternalFailure")
	e.twin.FailResource("app/db-password", "")
	v := migrate(t, e, c, instMain, []string{keyPlain, keySecretCMK}, []string{"app/db-password"})
	assert.Equal(t, taskResult{"Key", keyPlain, "Failed", "InternalFailure", "injected failure"}, v.result(t, keyPlain))
	assert.Equal(t, kms.ReasonInjected, v.result(t, "app/db-password").ReasonCode)
	assert.Equal(t, "Succeeded", v.result(t, keySecretCMK).Status)
	assert.Empty(t, keyInstance(t, c, keyPlain))

	e.twin.StallTasks(true)
	id, err := create(t, c, map[string]string{"KmsInstanceId": instMain, "SecretNames": jsonList("ram/ci-user")})
	require.NoError(t, err)
	e.clock.Advance(24 * time.Hour)
	assert.Equal(t, kms.TaskRunning, describe(t, c, id).Status)
	e.twin.StallTasks(false)
	assert.Equal(t, kms.TaskCompleted, describe(t, c, id).Status)
}

func TestTransientErrorsFromFrame(t *testing.T) {
	e := demo(t)
	e.twin.SetFaults(acsFaults(1))
	_, err := e.v3(t, acctA, hz).DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String(keyPlain)})
	requireCode(t, err, http.StatusServiceUnavailable, "ServiceUnavailable")
	e.twin.SetFaults(acsFaults(0))
	_, err = e.v3(t, acctA, hz).DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String(keyPlain)})
	require.NoError(t, err)
}

func TestListAndIsolateMigrationTasks(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	var ids []string
	for _, k := range []string{keyPlain, keySecretCMK, keyDisabled} {
		ids = append(ids, migrate(t, e, c, instMain, []string{k}, nil).TaskId)
	}
	var page struct {
		Tasks                            []taskView
		TotalCount, PageNumber, PageSize int
	}
	require.NoError(t, callInto(t, c, "ListMigrationTasks", map[string]string{"PageSize": "2", "PageNumber": "2"}, &page))
	assert.Equal(t, 3, page.TotalCount)
	require.Len(t, page.Tasks, 1)
	assert.Equal(t, ids[2], page.Tasks[0].TaskId)
	assert.Empty(t, page.Tasks[0].Results)
	_, err := call(t, c, "ListMigrationTasks", map[string]string{"PageSize": "101"})
	requireCode(t, err, http.StatusBadRequest, "InvalidParameter")

	// Another account, or the same account in another region, sees nothing.
	_, err = call(t, e.v3(t, acctB, hz), "DescribeMigrationTask", map[string]string{"TaskId": ids[0]})
	requireCode(t, err, http.StatusNotFound, "Forbidden.MigrationTaskNotFound")
	require.NoError(t, callInto(t, e.v3(t, acctA, sh), "ListMigrationTasks", nil, &page))
	assert.Equal(t, 0, page.TotalCount)
}

// An instance whose status is not Connected refuses tasks like an expired
// one (rules.CheckInstance, the classifier's rule too).
func TestRuleInstanceNotConnected(t *testing.T) {
	for _, status := range []string{"Disconnected", "Connecting", "Error"} {
		t.Run(status, func(t *testing.T) {
			inv := kms.DemoInventory()
			inst := inv.Accounts[0].Regions[hz].Instances
			require.Equal(t, instMain, inst[0].KmsInstanceID)
			inst[0].Status = status
			e := newEnv(t, inv, kms.Options{})
			_, err := create(t, e.v3(t, acctA, hz), map[string]string{"KmsInstanceId": instMain, "KeyIds": jsonList(keyPlain)})
			requireCode(t, err, http.StatusForbidden, kms.CodeInstanceState)
			require.ErrorContains(t, err, "not-connected")
		})
	}
}

// Every copy of a name held by several accounts sharing the instance fails,
// naming the other accounts; once the other copy is gone, it migrates.
func TestRuleDuplicateSecretNameNamesTheOtherAccounts(t *testing.T) {
	e := demo(t)
	a, b := e.v3(t, acctA, hz), e.v3(t, acctB, hz)
	r := migrate(t, e, a, instMain, nil, []string{"shared/dup-name"}).result(t, "shared/dup-name")
	assert.Equal(t, kms.ReasonDuplicateSecretName, r.ReasonCode)
	assert.Contains(t, r.Message, acctB)
	r = migrate(t, e, b, instMain, nil, []string{"shared/dup-name"}).result(t, "shared/dup-name")
	assert.Equal(t, kms.ReasonDuplicateSecretName, r.ReasonCode)
	assert.Contains(t, r.Message, acctA)

	require.NoError(t, e.twin.RemoveSecret(kms.Lane{Account: acctB, Region: hz}, "shared/dup-name"))
	assert.Equal(t, "Succeeded", migrate(t, e, a, instMain, nil, []string{"shared/dup-name"}).result(t, "shared/dup-name").Status)
}

// A migration preserves what verification compares: key spec, usage,
// protection level, secret type and stage labels. AlterOnMigration breaks
// exactly one of them, once.
func TestMigrationPreservesFieldsUnlessAltered(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	keyFields := func(id string) [3]string {
		d, err := c.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String(id)})
		require.NoError(t, err)
		m := d.Body.KeyMetadata
		return [3]string{tea.StringValue(m.KeySpec), tea.StringValue(m.KeyUsage), tea.StringValue(m.ProtectionLevel)}
	}
	secretFields := func(name string) (string, []string) {
		d, err := c.DescribeSecret(&kmsv3.DescribeSecretRequest{SecretName: tea.String(name)})
		require.NoError(t, err)
		v, err := c.ListSecretVersionIds(&kmsv3.ListSecretVersionIdsRequest{SecretName: tea.String(name), IncludeDeprecated: tea.String("true")})
		require.NoError(t, err)
		var stages []string
		for _, vi := range v.Body.VersionIds.VersionId {
			stages = append(stages, tea.StringSliceValue(vi.VersionStages.VersionStage)...)
		}
		return tea.StringValue(d.Body.SecretType), stages
	}
	beforeKey, beforeSigner := keyFields(keyPlain), keyFields(keySigner)
	typ, stages := secretFields("app/db-password")
	require.Error(t, e.twin.AlterOnMigration(keySigner, "Color", "red"), "an unknown field is refused")
	require.NoError(t, e.twin.AlterOnMigration(keySigner, kms.FieldKeyUsage, "SIGN/VERIFY-CHANGED"))
	require.NoError(t, e.twin.AlterOnMigration("ram/ci-user", kms.FieldStageLabel, "ACSLost"))

	v := migrate(t, e, c, instMain, []string{keyPlain, keySigner}, []string{"app/db-password", "ram/ci-user"})
	for _, id := range []string{keyPlain, keySigner, "app/db-password", "ram/ci-user"} {
		require.Equal(t, "Succeeded", v.result(t, id).Status, id)
	}
	assert.Equal(t, beforeKey, keyFields(keyPlain))
	gotTyp, gotStages := secretFields("app/db-password")
	assert.Equal(t, typ, gotTyp)
	assert.Equal(t, stages, gotStages)

	altered := keyFields(keySigner)
	assert.Equal(t, "SIGN/VERIFY-CHANGED", altered[1])
	assert.Equal(t, beforeSigner[0], altered[0])
	_, ciStages := secretFields("ram/ci-user")
	assert.Contains(t, ciStages, "ACSLost")
	assert.NotContains(t, ciStages, "ACSCurrent")
}

// With the console's reading of the limit, a task carries at most
// MaxResourcesPerTask keys and secrets together.
func TestRuleTaskTotalLimit(t *testing.T) {
	e := newEnv(t, kms.DemoInventory(), kms.Options{MaxResourcesPerTask: 2})
	e.twin.DisableThrottling()
	c := e.v3(t, acctA, hz)
	_, err := create(t, c, map[string]string{"KmsInstanceId": instMain, "KeyIds": jsonList(keyPlain, keySecretCMK), "SecretNames": jsonList("ram/ci-user")})
	requireCode(t, err, http.StatusBadRequest, kms.CodeLimitExceeded)
	require.ErrorContains(t, err, "2 keys and secrets in total")
	_, err = create(t, c, map[string]string{"KmsInstanceId": instMain, "All": "true"})
	requireCode(t, err, http.StatusBadRequest, kms.CodeLimitExceeded)
	_, err = create(t, c, map[string]string{"KmsInstanceId": instMain, "KeyIds": jsonList(keyPlain), "SecretNames": jsonList("ram/ci-user")})
	require.NoError(t, err)
}

// With FreezeDuringTask a running task freezes rotation policy changes of
// every resource of every account that may migrate into its instance in
// its region, not only its own; other regions, reads and the data plane
// are not affected; the freeze ends with the task.
func TestFreezeDuringTaskRefusesEveryRotationChange(t *testing.T) {
	e := newEnv(t, kms.DemoInventory(), kms.Options{FreezeDuringTask: true})
	e.twin.DisableThrottling()
	c := e.v3(t, acctA, hz)
	id, err := create(t, c, map[string]string{"KmsInstanceId": instMain, "KeyIds": jsonList(keyPlain)})
	require.NoError(t, err)
	require.Equal(t, kms.TaskRunning, describe(t, c, id).Status)

	// A key and a secret outside the task, of the task's account.
	_, err = c.UpdateRotationPolicy(&kmsv3.UpdateRotationPolicyRequest{KeyId: tea.String(keySecretCMK), EnableAutomaticRotation: tea.Bool(false)})
	requireCode(t, err, http.StatusConflict, kms.CodeMigrationInProgress)
	assert.Contains(t, err.Error(), instMain)
	_, err = c.UpdateSecretRotationPolicy(&kmsv3.UpdateSecretRotationPolicyRequest{SecretName: tea.String("rds/orders"), EnableAutomaticRotation: tea.Bool(false)})
	requireCode(t, err, http.StatusConflict, kms.CodeMigrationInProgress)
	// An account the instance is shared with.
	_, err = e.v3(t, acctB, hz).UpdateRotationPolicy(&kmsv3.UpdateRotationPolicyRequest{KeyId: tea.String(keyB), EnableAutomaticRotation: tea.Bool(false)})
	requireCode(t, err, http.StatusConflict, kms.CodeMigrationInProgress)
	// Another region of the account is not frozen; reads keep working.
	_, err = e.v3(t, acctA, "cn-shanghai").UpdateRotationPolicy(&kmsv3.UpdateRotationPolicyRequest{KeyId: tea.String("a1000002-0000-4000-8000-000000000001"), EnableAutomaticRotation: tea.Bool(false)})
	require.NoError(t, err)
	_, err = c.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String(keySecretCMK)})
	require.NoError(t, err)

	e.clock.Advance(time.Hour)
	require.Equal(t, kms.TaskCompleted, describe(t, c, id).Status)
	_, err = c.UpdateRotationPolicy(&kmsv3.UpdateRotationPolicyRequest{KeyId: tea.String(keySecretCMK), EnableAutomaticRotation: tea.Bool(false)})
	require.NoError(t, err)
}

// StallTaskWhen holds the task it matches, from its creation or, for one
// already running, before it can complete; only that task; and
// StallTasks(false) lets it go.
func TestStallTaskWhenHoldsTheMatchingTask(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	e.twin.StallTaskWhen(func(l kms.Lane, keyIDs, secretNames []string) bool {
		return l.Account == acctA && slices.Contains(secretNames, "app/db-password")
	})
	other, err := create(t, c, map[string]string{"KmsInstanceId": instMain, "Method": "manual", "KeyIds": jsonList("alias/app-data")})
	require.NoError(t, err)
	e.clock.Advance(time.Hour)
	require.Equal(t, kms.TaskCompleted, describe(t, c, other).Status, "a task the stall does not match runs as usual")

	id, err := create(t, c, map[string]string{"KmsInstanceId": instMain, "Method": "manual", "SecretNames": jsonList("app/db-password")})
	require.NoError(t, err)
	e.clock.Advance(time.Hour)
	require.Equal(t, kms.TaskRunning, describe(t, c, id).Status, "held past its due time")
	held := 0
	for _, tk := range e.twin.Tasks() {
		if tk.Held {
			held++
			require.Equal(t, id, tk.ID)
			require.True(t, tk.Stalled)
		}
	}
	require.Equal(t, 1, held)
	e.twin.StallTasks(false)
	require.Equal(t, kms.TaskCompleted, describe(t, c, id).Status)

	// Armed while the task already runs: held before its due time.
	next, err := create(t, c, map[string]string{"KmsInstanceId": instMain, "Method": "manual", "SecretNames": jsonList("app/api-token")})
	require.NoError(t, err)
	e.twin.StallTaskWhen(func(_ kms.Lane, _, secretNames []string) bool { return slices.Contains(secretNames, "app/api-token") })
	e.clock.Advance(time.Hour)
	require.Equal(t, kms.TaskRunning, describe(t, c, next).Status)
	e.twin.StallTasks(false)
	require.Equal(t, kms.TaskCompleted, describe(t, c, next).Status)
}
