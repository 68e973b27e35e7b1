package wiring_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/aliyun/credentials-go/credentials"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/fc"
	"github.com/kmsmig/kmsmig/shared/aliyun/fcruntime"
	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/aliyun/ram"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/wiring"
)

// KMSMIG_INSECURE never sends a request over plain HTTP outside loopback:
// with the real (default) endpoints the configuration is refused, naming
// the variable; what the configuration cannot name (a region that
// DescribeRegions lists without an override, an adapter built without
// LoadConfig) each adapter refuses before it asks for a credential or
// builds a client, so no request can leave.
func TestPlainHTTPStaysOnLoopback(t *testing.T) {
	// The real endpoints: refused at configuration.
	_, err := app.LoadConfig(getenv(map[string]string{"KMSMIG_INSECURE": "true", "KMSMIG_STATE": "oss://bucket/kmsmig"}))
	require.ErrorContains(t, err, "KMSMIG_INSECURE: true sends plain HTTP, only allowed to loopback endpoint overrides")
	require.ErrorContains(t, err, "KMSMIG_OSS_ENDPOINT: not set")
	require.ErrorContains(t, err, "KMSMIG_FC_ENDPOINT: not set")

	// A loopback override for one region: accepted; a region without one
	// (as DescribeRegions may list) is refused by the KMS adapter before
	// any credential is asked for, so nothing is signed or sent.
	cfg, err := app.LoadConfig(getenv(map[string]string{"KMSMIG_INSECURE": "true", "KMSMIG_KMS_ENDPOINTS": "cn-hangzhou=127.0.0.1:1",
		"KMSMIG_FUNCTION_MIGRATE": "-", "KMSMIG_FUNCTION_ROTATE": "-", "KMSMIG_STATE": "dir:" + t.TempDir()}))
	require.NoError(t, err)
	var asked atomic.Int64
	client, err := kms.New(kms.Config{Endpoints: cfg.KMSEndpoints, Insecure: cfg.Insecure, MaxAttempts: 1,
		Credentials: func(string) (credentials.Credential, error) {
			asked.Add(1)
			return ram.Static("AK", "secret", "")
		}})
	require.NoError(t, err)
	_, err = client.KeyIDs(t.Context(), estate.Lane{Account: "1111", Region: "cn-beijing"})
	require.ErrorIs(t, err, cloud.ErrPlainHTTP)
	require.ErrorContains(t, err, "kms.cn-beijing.aliyuncs.com")
	require.Zero(t, asked.Load(), "no credential asked for, no client built")
	require.Zero(t, client.Stats().Calls.Load(), "no call sent")
	// The loopback override itself is used (the twin's place): the call
	// goes out and fails to connect, having asked for the credential.
	_, err = client.KeyIDs(t.Context(), estate.Lane{Account: "1111", Region: "cn-hangzhou"})
	require.Error(t, err)
	require.NotErrorIs(t, err, cloud.ErrPlainHTTP)
	require.Equal(t, int64(1), asked.Load())

	// OSS and Function Compute, built directly with a real endpoint.
	cred, err := ram.Static("AK", "secret", "")
	require.NoError(t, err)
	for _, ep := range []string{"", "oss-cn-hangzhou.aliyuncs.com"} {
		_, err = wiring.OpenStore(t.Context(), app.Config{State: "oss://bucket/kmsmig", OSSEndpoint: ep, Insecure: true}, cred, "cn-hangzhou")
		require.ErrorIs(t, err, cloud.ErrPlainHTTP, "endpoint %q", ep)
	}
	for _, ep := range []string{"", "1111.cn-hangzhou.fc.aliyuncs.com"} {
		_, err = fc.New(fc.Config{Endpoint: ep, Account: "1111", Region: "cn-hangzhou", Insecure: true, Credential: cred})
		require.ErrorIs(t, err, cloud.ErrPlainHTTP, "endpoint %q", ep)
	}
	// Chaining wired over a configuration that skipped LoadConfig.
	bad := cfg
	bad.FunctionMigrate, bad.FunctionRotate = "kmsmig-migrate", "kmsmig-rotate"
	inv := fcruntime.Invocation{RequestID: "req-1", AccountID: "1111", Region: "cn-hangzhou", AccessKeyID: "AK", AccessKeySecret: "secret"}
	d, err := wiring.Wire(t.Context(), bad, inv, audit.Discard)
	require.NoError(t, err)
	_, err = d.Executor()
	require.True(t, errors.Is(err, cloud.ErrPlainHTTP), "got %v", err)
}
