package kms_test

import (
	"net/http"
	"testing"

	kmsv3 "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/tea"
	kmsv1 "github.com/aliyun/alibaba-cloud-sdk-go/services/kms"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUpdateRotationPolicy(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	_, err := c.UpdateRotationPolicy(&kmsv3.UpdateRotationPolicyRequest{KeyId: tea.String(keyPlain), EnableAutomaticRotation: tea.Bool(true), RotationInterval: tea.String("604800s")})
	require.NoError(t, err)
	d, err := c.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String(keyPlain)})
	require.NoError(t, err)
	assert.Equal(t, "Enabled", tea.StringValue(d.Body.KeyMetadata.AutomaticRotation))
	assert.Equal(t, "604800s", tea.StringValue(d.Body.KeyMetadata.RotationInterval))
	assert.NotEmpty(t, tea.StringValue(d.Body.KeyMetadata.NextRotationDate))

	_, err = c.UpdateRotationPolicy(&kmsv3.UpdateRotationPolicyRequest{KeyId: tea.String(keyRotating), EnableAutomaticRotation: tea.Bool(false)})
	require.NoError(t, err)
	d, err = c.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String(keyRotating)})
	require.NoError(t, err)
	assert.Equal(t, "Disabled", tea.StringValue(d.Body.KeyMetadata.AutomaticRotation))
	assert.Empty(t, tea.StringValue(d.Body.KeyMetadata.NextRotationDate))

	// The legacy client (V1 signature) reaches the same operation.
	v1 := e.v1(t, acctA, hz)
	req := kmsv1.CreateUpdateRotationPolicyRequest()
	req.Domain, req.Scheme = e.hosts[hz], "http"
	req.KeyId, req.EnableAutomaticRotation = keyPlain, "false"
	_, err = v1.UpdateRotationPolicy(req)
	require.NoError(t, err)
	d, err = c.DescribeKey(&kmsv3.DescribeKeyRequest{KeyId: tea.String(keyPlain)})
	require.NoError(t, err)
	assert.Equal(t, "Disabled", tea.StringValue(d.Body.KeyMetadata.AutomaticRotation))
}

func TestUpdateRotationPolicyRefusals(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	enable := func(id, interval string) error {
		_, err := c.UpdateRotationPolicy(&kmsv3.UpdateRotationPolicyRequest{KeyId: tea.String(id), EnableAutomaticRotation: tea.Bool(true), RotationInterval: tea.String(interval)})
		return err
	}
	tests := []struct {
		name, key, interval string
		status              int
		code                string
	}{
		{"interval below 7 days", keyPlain, "604799s", http.StatusBadRequest, "InvalidParameter"},
		{"interval above 365 days", keyPlain, "31536001s", http.StatusBadRequest, "InvalidParameter"},
		{"interval not seconds", keyPlain, "7d", http.StatusBadRequest, "InvalidParameter"},
		{"interval missing", keyPlain, "", http.StatusBadRequest, "MissingParameter"},
		{"imported material", keyExternal, "604800s", http.StatusBadRequest, "Rejected.UnsupportedOperation"},
		{"service key", keyService, "604800s", http.StatusBadRequest, "Rejected.UnsupportedOperation"},
		{"asymmetric key", keySigner, "604800s", http.StatusBadRequest, "Rejected.UnsupportedOperation"},
		{"disabled key", keyDisabled, "604800s", http.StatusBadRequest, "Rejected.Disabled"},
		{"pending deletion", keyPendDel, "604800s", http.StatusBadRequest, "Rejected.Disabled"},
		{"unknown key", "00000000-0000-4000-8000-000000000000", "604800s", http.StatusNotFound, "Forbidden.KeyNotFound"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			requireCode(t, enable(tc.key, tc.interval), tc.status, tc.code)
		})
	}
	// Accepted bounds.
	require.NoError(t, enable(keyPlain, "604800s"))
	require.NoError(t, enable(keyPlain, "31536000s"))
	// Turning rotation off is always allowed.
	_, err := c.UpdateRotationPolicy(&kmsv3.UpdateRotationPolicyRequest{KeyId: tea.String(keyDisabled), EnableAutomaticRotation: tea.Bool(false)})
	require.NoError(t, err)
}

func TestUpdateSecretRotationPolicy(t *testing.T) {
	e := demo(t)
	c := e.v3(t, acctA, hz)
	update := func(name string, on bool, interval string) error {
		req := &kmsv3.UpdateSecretRotationPolicyRequest{SecretName: tea.String(name), EnableAutomaticRotation: tea.Bool(on)}
		if interval != "" {
			req.RotationInterval = tea.String(interval)
		}
		_, err := c.UpdateSecretRotationPolicy(req)
		return err
	}
	require.NoError(t, update("rds/orders", false, ""))
	d, err := c.DescribeSecret(&kmsv3.DescribeSecretRequest{SecretName: tea.String("rds/orders")})
	require.NoError(t, err)
	assert.Equal(t, "Disabled", tea.StringValue(d.Body.AutomaticRotation))

	require.NoError(t, update("ram/ci-user", true, "2592000s"))
	d, err = c.DescribeSecret(&kmsv3.DescribeSecretRequest{SecretName: tea.String("ram/ci-user")})
	require.NoError(t, err)
	assert.Equal(t, "Enabled", tea.StringValue(d.Body.AutomaticRotation))
	assert.Equal(t, "2592000s", tea.StringValue(d.Body.RotationInterval))

	requireCode(t, update("app/db-password", true, "604800s"), http.StatusBadRequest, "Rejected.UnsupportedOperation")
	requireCode(t, update("app/db-password", false, ""), http.StatusBadRequest, "Rejected.UnsupportedOperation")
	requireCode(t, update("ram/ci-user", true, "259200s"), http.StatusBadRequest, "InvalidParameter")
	requireCode(t, update("ram/ci-user", true, "31622400s"), http.StatusBadRequest, "InvalidParameter")
	requireCode(t, update("nope", false, ""), http.StatusNotFound, "Forbidden.ResourceNotFound")
}
