package cloud

import (
	"context"
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
