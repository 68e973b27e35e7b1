package kms_test

import (
	"net/http"
	"testing"
	"time"

	kmsv3 "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/kms"
)

// A deleted key is gone for every call, its alias with it; a task that
// holds a key protects it.
func TestDeleteKey(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	lane := kms.Lane{Account: acctA, Region: hz}

	require.NoError(t, e.twin.RemoveKey(lane, keyPlain))
	_, err := c.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String(keyPlain)})
	requireCode(t, err, http.StatusNotFound, "Forbidden.KeyNotFound")
	_, err = c.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String("alias/app-data")})
	requireCode(t, err, http.StatusNotFound, "Forbidden.AliasNotFound")
	_, err = create(t, c, map[string]string{"KmsInstanceId": instMain, "KeyIds": jsonList(keyPlain)})
	requireCode(t, err, http.StatusNotFound, "Forbidden.KeyNotFound")

	_, err = create(t, c, map[string]string{"KmsInstanceId": instMain, "KeyIds": jsonList(keySecretCMK)})
	require.NoError(t, err)
	require.Error(t, e.twin.RemoveKey(lane, keySecretCMK), "a key in an unfinished task")
	require.Error(t, e.twin.RemoveKey(lane, keyService), "a service key")
	assert.ErrorContains(t, e.twin.RemoveKey(lane, keyPlain), "Forbidden.KeyNotFound", "deleted already")
}

// An added secret is listed and described like the others and migrates.
func TestAddSecret(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	lane := kms.Lane{Account: acctA, Region: hz}

	require.NoError(t, e.twin.AddSecret(lane, kms.SecretInventory{SecretName: "app/new-one", Description: "created after discovery",
		SecretData: "v", Tags: map[string]string{"team": "payments"}}))
	d, err := c.DescribeSecret(&kmsv3.DescribeSecretRequest{SecretName: tea.String("app/new-one")})
	require.NoError(t, err)
	assert.Equal(t, epoch.Format(time.RFC3339), tea.StringValue(d.Body.CreateTime), "created now on the twin's clock")
	list, err := c.ListSecrets(&kmsv3.ListSecretsRequest{PageSize: tea.Int32(100)})
	require.NoError(t, err)
	names := []string{}
	for _, s := range list.Body.SecretList.Secret {
		names = append(names, tea.StringValue(s.SecretName))
	}
	assert.Equal(t, "app/new-one", names[len(names)-1])

	require.Error(t, e.twin.AddSecret(lane, kms.SecretInventory{SecretName: "app/new-one"}), "the name is taken")
	require.Error(t, e.twin.AddSecret(lane, kms.SecretInventory{SecretName: "bad name"}))
	require.Error(t, e.twin.AddSecret(kms.Lane{Account: acctA, Region: "cn-shenzhen"}, kms.SecretInventory{SecretName: "x"}))
	require.Error(t, e.twin.AddSecret(lane, kms.SecretInventory{SecretName: "y", EncryptionKeyID: "alias/none"}))

	v := migrate(t, e, c, instMain, nil, []string{"app/new-one"})
	assert.Equal(t, "Succeeded", v.result(t, "app/new-one").Status)
}

// Tasks shows the provider's side: timing, and a stall.
func TestTasksShowsTheProvidersSide(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	id, err := create(t, c, map[string]string{"KmsInstanceId": instMain, "KeyIds": jsonList(keyPlain, keySecretCMK)})
	require.NoError(t, err)
	e.twin.StallTasks(true)
	tasks := e.twin.Tasks()
	require.Len(t, tasks, 1)
	got := tasks[0]
	assert.Equal(t, id, got.ID)
	assert.Equal(t, kms.Lane{Account: acctA, Region: hz}, got.Lane)
	assert.Equal(t, kms.TaskRunning, got.Status)
	assert.Equal(t, 2, got.Keys)
	assert.Equal(t, epoch.Add(34*time.Second), got.Due, "30 s + 2 s per resource")
	assert.True(t, got.Stalled)

	e.clock.Advance(time.Hour)
	assert.Equal(t, kms.TaskRunning, e.twin.Tasks()[0].Status)
	e.twin.StallTasks(false)
	got = e.twin.Tasks()[0]
	assert.Equal(t, kms.TaskCompleted, got.Status)
	assert.False(t, got.Stalled)
	assert.Equal(t, epoch.Add(34*time.Second), got.Finished, "completes at its due time once released")
}
