package acs_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	kmsv1 "github.com/aliyun/alibaba-cloud-sdk-go/services/kms"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const v1MismatchPrefix = "Specified signature is not matched with our calculation. server string to sign is:"

// A V1 SignatureDoesNotMatch carries the gateway's text and its string to
// sign. alibaba-cloud-sdk-go compares that string with its own
// (sdk/errors/signature_does_not_match_wrapper.go) and, when they agree,
// recommends checking the secret; aliyun-python-sdk-core
// (aliyunsdkcore/client.py, _get_server_exception) does the same with
// message.split(':')[1], which raised IndexError on a message without a
// colon.
func TestV1SignatureMismatchMessage(t *testing.T) {
	f := newFixture(t)
	sts, err := f.keys.MintSTS(testAccount, "acs:ram::"+testAccount+":role/migrator", time.Hour, time.Now())
	require.NoError(t, err)

	call := func(t *testing.T, ak, secret, token string) (*kmsv1.DescribeRegionsRequest, *sdkerrors.ServerError) {
		t.Helper()
		req := kmsv1.CreateDescribeRegionsRequest()
		req.Domain = f.host
		req.Scheme = "http"
		_, err := f.v1Client(t, ak, secret, token).DescribeRegions(req)
		var se *sdkerrors.ServerError
		require.True(t, errors.As(err, &se), "not a server error: %v", err)
		require.Equal(t, "SignatureDoesNotMatch", se.ErrorCode())
		require.Equal(t, 400, se.HttpStatus())
		require.True(t, strings.HasPrefix(se.Message(), v1MismatchPrefix), "message %q", se.Message())
		return req, se
	}

	t.Run("wrong secret", func(t *testing.T) {
		req, se := call(t, f.root.AccessKeyID, "not-the-secret", "")
		clientStringToSign := req.GetStringToSign()
		require.NotEmpty(t, clientStringToSign)
		assert.Equal(t, clientStringToSign, strings.TrimPrefix(se.Message(), v1MismatchPrefix))
		assert.Contains(t, se.Recommend(), "InvalidAccessKeySecret")
		// What the Python core reads: the part after the first colon.
		parts := strings.Split(se.Message(), ":")
		require.GreaterOrEqual(t, len(parts), 2)
		assert.Equal(t, clientStringToSign, parts[1])
	})
	t.Run("sts token masked", func(t *testing.T) {
		req, se := call(t, sts.AccessKeyID, "not-the-secret", sts.SecurityToken)
		assert.NotContains(t, se.Message(), sts.SecurityToken)
		assert.Contains(t, se.Message(), "SecurityToken%3D%252A%252A%252A")
		assert.NotEqual(t, req.GetStringToSign(), strings.TrimPrefix(se.Message(), v1MismatchPrefix))
		assert.NotContains(t, se.Message(), sts.AccessKeySecret)
	})
}
