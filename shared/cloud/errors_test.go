package cloud

import (
	"context"
	"errors"
	"fmt"
	"testing"
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
			if !errors.Is(wrapped, tt.kind) {
				t.Errorf("errors.Is(%v, %v) = false, want true", wrapped, tt.kind)
			}
			if got := Retryable(wrapped); got != tt.retryable {
				t.Errorf("Retryable(%v) = %v, want %v", wrapped, got, tt.retryable)
			}
		})
	}
	if Retryable(context.Canceled) || Retryable(fmt.Errorf("x: %w", context.DeadlineExceeded)) {
		t.Error("context errors must not be retryable")
	}
	if got := Code(fmt.Errorf("x: %w", &APIError{Code: "InvalidParameter"})); got != "InvalidParameter" {
		t.Errorf("Code = %q, want InvalidParameter", got)
	}
}
