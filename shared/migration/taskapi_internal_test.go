package migration

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kmsmig/kmsmig/shared/cloud"
)

// classifyTaskFault is the one decision on a task call's error: refused
// for good (never retried, the lane stops), an unlisted code (retried
// once), or a kind the callers already handle.
func TestClassifyTaskFault(t *testing.T) {
	api := func(status int, code string) error {
		return fmt.Errorf("kms: create migration task: %w", &cloud.APIError{Service: "kms", Action: "CreateMigrationTask", Status: status, Code: code})
	}
	tests := []struct {
		name string
		err  error
		want taskFault
	}{
		{"success", nil, faultNone},
		{"unknown action", api(404, "InvalidAction.NotFound"), faultUnavailable},
		{"RAM denies", api(403, "Forbidden.RAM"), faultUnavailable},
		{"no permission", api(403, "Forbidden.NoPermission"), faultUnavailable},
		{"signature refused", api(400, "SignatureDoesNotMatch"), faultUnavailable},
		{"access key unknown", api(404, "InvalidAccessKeyId.NotFound"), faultUnavailable},
		{"unlisted refusal", api(400, "Rejected.SomethingNew"), faultUnlisted},
		{"unlisted 403", api(403, "Forbidden.Whatever"), faultUnlisted},
		{"listed refusal", api(400, "Rejected.InstanceVersionTooLow"), faultKnown},
		{"quota refusal", api(400, "Rejected.InsufficientQuota"), faultKnown},
		{"busy", api(409, "Rejected.MigrationInProgress"), faultKnown},
		{"task not found", api(404, "Forbidden.MigrationTaskNotFound"), faultKnown},
		{"throttled", api(429, "Rejected.Throttling"), faultKnown},
		{"unavailable service", api(503, "ServiceUnavailable"), faultKnown},
		{"network", api(0, "NetworkError"), faultKnown},
		{"no code", errors.New("CreateMigrationTask returned no TaskId"), faultKnown},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), faultKnown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, classifyTaskFault(tt.err))
		})
	}
}

func TestTaskAPIBlockWords(t *testing.T) {
	lane := TaskAPIBlock{Account: "1111", Region: "cn-hangzhou", Action: "ListTasks", Code: "InvalidAction.NotFound", Permanent: true}
	account := TaskAPIBlock{Account: "1111", Action: "CreateTask", Code: "Rejected.SomethingNew"}
	assert.Equal(t, ReasonTaskAPIUnavailable, lane.Reason())
	assert.Equal(t, ReasonTaskAPIError, account.Reason())
	assert.Equal(t, "lane 1111/cn-hangzhou", lane.Where())
	assert.Equal(t, "account 1111", account.Where())
	for _, b := range []TaskAPIBlock{lane, account} {
		d := b.Describe()
		for _, want := range []string{b.Where(), b.Action, b.Code, "KMSMIG_TASK_ACTIONS", "KMSMIG_BACKEND=observe"} {
			assert.Contains(t, d, want)
		}
		assert.False(t, Classify(b.Reason()).Retryable, "%s is never retried", b.Reason())
	}
}
