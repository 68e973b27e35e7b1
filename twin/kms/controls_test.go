package kms_test

import (
	"net/http"
	"testing"
	"time"

	kmsv3 "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test controls change the estate as its owners would, and the SDK
// sees the result: a key's state and DeleteDate, a deleted key (with its
// aliases) or secret answering not found.
func TestOwnerControls(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	l := lane(acctA, hz)
	state := func(id string) (string, string) {
		t.Helper()
		d, err := c.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String(id)})
		require.NoError(t, err)
		return tea.StringValue(d.Body.KeyMetadata.KeyState), tea.StringValue(d.Body.KeyMetadata.DeleteDate)
	}

	require.NoError(t, e.twin.SetKeyState(l, keyPlain, "Disabled"))
	st, del := state(keyPlain)
	assert.Equal(t, "Disabled", st)
	assert.Empty(t, del)
	require.NoError(t, e.twin.SetKeyState(l, keyPlain, "PendingDeletion"))
	st, del = state(keyPlain)
	assert.Equal(t, "PendingDeletion", st)
	assert.Equal(t, epoch.Add(7*24*time.Hour).Format(time.RFC3339), del)
	require.NoError(t, e.twin.SetKeyState(l, keyPlain, "Enabled"))
	st, del = state(keyPlain)
	assert.Equal(t, "Enabled", st)
	assert.Empty(t, del)

	require.NoError(t, e.twin.DeleteKey(l, keyPlain))
	_, err := c.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String(keyPlain)})
	requireCode(t, err, http.StatusNotFound, "Forbidden.KeyNotFound")
	_, err = c.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String("alias/app-data")})
	require.Error(t, err, "the key's alias went with it")
	keys, err := c.ListKeys(&kmsv3.ListKeysRequest{})
	require.NoError(t, err)
	assert.Len(t, keys.Body.Keys.Key, 8)

	require.NoError(t, e.twin.DeleteSecret(l, "app/db-password"))
	_, err = c.DescribeSecret(&kmsv3.DescribeSecretRequest{SecretName: tea.String("app/db-password")})
	requireCode(t, err, http.StatusNotFound, "Forbidden.ResourceNotFound")

	assert.Error(t, e.twin.DeleteKey(l, keyPlain), "already gone")
	assert.Error(t, e.twin.DeleteSecret(l, "app/db-password"), "already gone")
	assert.Error(t, e.twin.SetKeyState(l, keySigner, "Deleted"), "not a state")
	assert.Error(t, e.twin.SetKeyState(lane(acctB, hz), keySigner, "Disabled"), "another account's key is not found")
}

// A resource an unfinished task holds cannot be deleted, nor (while the
// task runs) change state.
func TestOwnerControlsRefusedDuringMigration(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	l := lane(acctA, hz)
	e.twin.StallTasks(true)
	_, err := create(t, c, map[string]string{"KmsInstanceId": instMain, "KeyIds": jsonList(keySecretCMK), "SecretNames": jsonList("ram/ci-user")})
	require.NoError(t, err)
	e.clock.Advance(time.Minute)
	for _, err := range []error{
		e.twin.DeleteKey(l, keySecretCMK),
		e.twin.SetKeyState(l, keySecretCMK, "Disabled"),
		e.twin.DeleteSecret(l, "ram/ci-user"),
	} {
		require.Error(t, err)
		assert.Contains(t, err.Error(), "Rejected.MigrationInProgress")
	}
}
