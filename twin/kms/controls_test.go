package kms_test

import (
	"net/http"
	"testing"
	"time"

	kmsv3 "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/acs"
	"github.com/kmsmig/kmsmig/twin/kms"
)

// The owner's controls change what the API shows; they are refused while a
// migration task lists the resource; TaskLog shows every task with its
// resources.
func TestOwnerControls(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	lane := kms.Lane{Account: acctA, Region: hz}
	const newKey = "c0ffee00-0000-4000-8000-000000000001"

	t.Run("add and remove a key", func(t *testing.T) {
		require.NoError(t, e.twin.AddKey(lane, kms.KeyInventory{KeyID: newKey, Aliases: []string{"alias/new"},
			AutomaticRotation: "Enabled", RotationInterval: "604800s"}))
		d, err := c.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String("alias/new")})
		require.NoError(t, err)
		assert.Equal(t, "Enabled", tea.StringValue(d.Body.KeyMetadata.AutomaticRotation))
		assert.Equal(t, "604800s", tea.StringValue(d.Body.KeyMetadata.RotationInterval))
		require.NoError(t, e.twin.RemoveKey(lane, newKey))
		_, err = c.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String(newKey)})
		status, code := v3Code(t, err)
		assert.Equal(t, http.StatusNotFound, status)
		assert.Equal(t, "Forbidden.KeyNotFound", code)
	})
	t.Run("refusals of add", func(t *testing.T) {
		require.Error(t, e.twin.AddKey(lane, kms.KeyInventory{KeyID: keyPlain}), "id in use")
		require.Error(t, e.twin.AddKey(lane, kms.KeyInventory{KeyID: "c0ffee00-0000-4000-8000-000000000002", Aliases: []string{"alias/app-data"}}), "alias in use")
		require.Error(t, e.twin.AddKey(lane, kms.KeyInventory{KeyID: "c0ffee00-0000-4000-8000-000000000003", DKMSInstanceID: instMain}), "born migrated")
		require.Error(t, e.twin.AddSecret(lane, kms.SecretInventory{SecretName: "app/db-password"}), "name in use")
		require.Error(t, e.twin.AddSecret(lane, kms.SecretInventory{SecretName: "x/y", EncryptionKeyID: "alias/nope"}), "no such CMK")
		require.Error(t, e.twin.AddSecret(lane, kms.SecretInventory{SecretName: "x/z", AutomaticRotation: "Enabled", RotationInterval: "604800s"}), "generic secrets do not rotate")
		require.Error(t, e.twin.AddKey(kms.Lane{Account: acctA, Region: "cn-shenzhen"}, kms.KeyInventory{KeyID: "c0ffee00-0000-4000-8000-000000000004"}), "not a lane of the estate")
	})
	t.Run("add and remove a secret", func(t *testing.T) {
		require.NoError(t, e.twin.AddSecret(lane, kms.SecretInventory{SecretName: "new/rds", SecretType: "Rds",
			EncryptionKeyID: keySecretCMK, AutomaticRotation: "Enabled", RotationInterval: "864000s"}))
		d, err := c.DescribeSecret(&kmsv3.DescribeSecretRequest{SecretName: tea.String("new/rds")})
		require.NoError(t, err)
		assert.Equal(t, "Enabled", tea.StringValue(d.Body.AutomaticRotation))
		assert.Equal(t, keySecretCMK, tea.StringValue(d.Body.EncryptionKeyId))
		require.NoError(t, e.twin.RemoveSecret(lane, "new/rds"))
		_, err = c.DescribeSecret(&kmsv3.DescribeSecretRequest{SecretName: tea.String("new/rds")})
		_, code := v3Code(t, err)
		assert.Equal(t, "Forbidden.ResourceNotFound", code)
	})
	t.Run("key state", func(t *testing.T) {
		require.NoError(t, e.twin.SetKeyState(lane, keyPlain, "Disabled"))
		d, err := c.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String(keyPlain)})
		require.NoError(t, err)
		assert.Equal(t, "Disabled", tea.StringValue(d.Body.KeyMetadata.KeyState))
		require.NoError(t, e.twin.SetKeyState(lane, keyPlain, "Enabled"))
		require.Error(t, e.twin.SetKeyState(lane, keyService, "Disabled"))
		require.Error(t, e.twin.SetKeyState(lane, keyPlain, "Gone"))
	})
	t.Run("frozen while a task lists the resource", func(t *testing.T) {
		before, _ := usage(t, c, instMain)
		id, err := create(t, c, map[string]string{"KmsInstanceId": instMain, "Method": "manual", "KeyIds": jsonList(keyPlain)})
		require.NoError(t, err)
		e.clock.Advance(time.Second) // Running
		for name, err := range map[string]error{
			"remove": e.twin.RemoveKey(lane, keyPlain), "state": e.twin.SetKeyState(lane, keyPlain, "Disabled"),
		} {
			var ae *acs.Error
			require.ErrorAs(t, err, &ae, name)
			assert.Equal(t, kms.CodeMigrationInProgress, ae.Code, name)
		}
		log := e.twin.TaskLog()
		require.Len(t, log, 1)
		assert.Equal(t, id, log[0].ID)
		assert.Equal(t, []string{keyPlain}, log[0].Keys)
		assert.Equal(t, kms.TaskRunning, log[0].Status)
		assert.True(t, log[0].Finished.IsZero())
		e.clock.Advance(time.Hour)
		log = e.twin.TaskLog()
		assert.Equal(t, kms.TaskCompleted, log[0].Status)
		assert.False(t, log[0].Finished.IsZero())
		require.NoError(t, e.twin.RemoveKey(lane, keyPlain), "a finished task frees the key")
		after, _ := usage(t, c, instMain)
		assert.Equal(t, before, after, "the removed key no longer counts against the instance")
	})
}
