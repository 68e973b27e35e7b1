package sdkerr

import (
	"errors"
	"fmt"
	"testing"

	"github.com/alibabacloud-go/tea/tea"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/cloud"
)

func TestConvert(t *testing.T) {
	notFound := tea.NewSDKError(map[string]any{"code": "Forbidden.KeyNotFound", "statusCode": 404, "message": "code: 404, ...",
		"data": map[string]any{"Message": "The specified Key is not found.", "RequestId": "R-1"}})
	err := Convert("kms", "DescribeKey", fmt.Errorf("wrapped: %w", notFound))
	var ae *cloud.APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, cloud.APIError{Service: "kms", Action: "DescribeKey", Status: 404, Code: "Forbidden.KeyNotFound",
		Message: "The specified Key is not found.", RequestID: "R-1"}, *ae)
	require.ErrorIs(t, err, cloud.ErrNotFound)

	net := Convert("fc", "InvokeFunction", errors.New("dial tcp: connection refused"))
	require.Equal(t, "NetworkError", cloud.Code(net))
	require.True(t, cloud.Retryable(net))

	// credentials-go's STS failure names the signed request URL.
	sts := Convert("kms", "ListKeys", errors.New(`refresh credentials: Get "https://sts.example/?AccessKeyId=LTAI5tAbc&SecurityToken=CAISzwJ1q6Ft5B2yfSjIr&Signature=Zm9vYmFy": dial tcp: i/o timeout`))
	require.NotContains(t, sts.Error(), "CAISzwJ1q6Ft5B2yfSjIr")
	require.NotContains(t, sts.Error(), "Zm9vYmFy")
	require.NotContains(t, sts.Error(), "LTAI5tAbc")
	require.Contains(t, sts.Error(), "https://sts.example/"+cloud.QueryRemoved)

	require.Same(t, ae, Convert("kms", "X", ae).(*cloud.APIError), "an APIError passes unchanged")
	require.NoError(t, Convert("kms", "X", nil))
}
