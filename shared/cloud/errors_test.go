package cloud

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAPIErrorKinds(t *testing.T) {
	tests := []struct {
		name      string
		err       *APIError
		kind      error
		retryable bool
	}{
		{"key not found", &APIError{Status: 404, Code: "Forbidden.KeyNotFound"}, ErrNotFound, false},
		{"secret not found", &APIError{Status: 404, Code: "Forbidden.ResourceNotFound"}, ErrNotFound, false},
		{"throttled 429", &APIError{Status: 429, Code: "Rejected.Throttling"}, ErrThrottled, true},
		{"throttled legacy 400", &APIError{Status: 400, Code: "Throttling"}, ErrThrottled, true},
		{"unavailable", &APIError{Status: 503, Code: "ServiceUnavailable"}, ErrTransient, true},
		{"migration running", &APIError{Status: 409, Code: "Rejected.MigrationInProgress"}, ErrConflict, false},
		{"bad signature", &APIError{Status: 400, Code: "SignatureDoesNotMatch"}, ErrDenied, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wrapped := fmt.Errorf("kms: describe key k1: %w", tt.err)
			assert.ErrorIs(t, wrapped, tt.kind)
			assert.Equal(t, tt.retryable, Retryable(wrapped), "Retryable(%v)", wrapped)
		})
	}
	assert.False(t, Retryable(context.Canceled), "context errors must not be retryable")
	assert.False(t, Retryable(fmt.Errorf("x: %w", context.DeadlineExceeded)), "context errors must not be retryable")
	assert.Equal(t, "InvalidParameter", Code(fmt.Errorf("x: %w", &APIError{Code: "InvalidParameter"})))
}

// An action that cannot be called (unknown to the gateway, not granted,
// credentials refused) is permanent and is never a missing resource, even
// at HTTP 404; real not-found refusals and refusals on the merits are not
// unavailable actions.
func TestActionUnavailable(t *testing.T) {
	tests := []struct {
		name        string
		err         *APIError
		unavailable bool
		notFound    bool
	}{
		{"unknown action", &APIError{Status: 404, Code: "InvalidAction.NotFound"}, true, false},
		{"RAM policy denies", &APIError{Status: 403, Code: "Forbidden.RAM"}, true, false},
		{"no permission", &APIError{Status: 403, Code: "Forbidden.NoPermission"}, true, false},
		{"unknown access key", &APIError{Status: 404, Code: "InvalidAccessKeyId.NotFound"}, true, false},
		{"bad signature", &APIError{Status: 400, Code: "SignatureDoesNotMatch"}, true, false},
		{"expired token", &APIError{Status: 400, Code: "InvalidSecurityToken.Expired"}, true, false},
		{"unauthorised", &APIError{Status: 401, Code: "Unauthorized"}, true, false},
		{"task not found", &APIError{Status: 404, Code: "Forbidden.MigrationTaskNotFound"}, false, true},
		{"key not found", &APIError{Status: 404, Code: "Forbidden.KeyNotFound"}, false, true},
		{"refused on the merits", &APIError{Status: 400, Code: "Rejected.InstanceVersionTooLow"}, false, false},
		{"unlisted", &APIError{Status: 400, Code: "Rejected.SomethingNew"}, false, false},
		{"throttled", &APIError{Status: 429, Code: "Rejected.Throttling"}, false, false},
		{"network", &APIError{Code: "NetworkError"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wrapped := fmt.Errorf("kms: list migration tasks: %w", tt.err)
			assert.Equal(t, tt.unavailable, errors.Is(wrapped, ErrActionUnavailable), "ErrActionUnavailable")
			assert.Equal(t, tt.notFound, errors.Is(wrapped, ErrNotFound), "ErrNotFound")
			if tt.unavailable {
				assert.False(t, Retryable(wrapped), "an unavailable action is never retried")
			}
		})
	}
}
