package kms_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/alibabacloud-go/tea/tea"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/kms"
)

// With TaskAPIAbsent the twin serves no migration task action: each is
// answered exactly as an action the gateway does not know (same status,
// code and message), through the official SDK's generic CallApi, while
// every other action keeps working.
func TestTaskAPIAbsentAnswersAsAnUnknownAction(t *testing.T) {
	e := newEnv(t, kms.DemoInventory(), kms.Options{TaskAPIAbsent: true})
	e.twin.DisableThrottling()
	c := e.v3(t, acctA, "cn-hangzhou")

	_, unknown := call(t, c, "NoSuchAction", nil)
	var want *tea.SDKError
	require.True(t, errors.As(unknown, &want), "%v", unknown)
	requireCode(t, unknown, 404, "InvalidAction.NotFound")

	for _, action := range []string{"ListMigrationTasks", "DescribeMigrationTask", "CreateMigrationTask"} {
		_, err := call(t, c, action, map[string]string{"TaskId": "mt-1", "KmsInstanceId": "kst-hzdemo01", "PageNumber": "1"})
		requireCode(t, err, 404, "InvalidAction.NotFound")
		var got *tea.SDKError
		require.True(t, errors.As(err, &got))
		require.Equal(t, withoutRequestID(tea.StringValue(want.Message)), withoutRequestID(tea.StringValue(got.Message)), "%s: the unknown action's message", action)
		require.False(t, slices.Contains(e.twin.Actions(), action), "%s is not served", action)
	}
	_, err := call(t, c, "ListKeys", map[string]string{"PageNumber": "1", "PageSize": "10"})
	require.NoError(t, err, "the rest of KMS is served")
	require.Empty(t, e.twin.Tasks(), "no task was created")

	present := newEnv(t, kms.DemoInventory(), kms.Options{})
	_, err = call(t, present.v3(t, acctA, "cn-hangzhou"), "ListMigrationTasks", map[string]string{"PageNumber": "1"})
	require.NoError(t, err, "served by default")
}

func withoutRequestID(msg string) string {
	before, _, _ := strings.Cut(msg, " request id:")
	return before
}
