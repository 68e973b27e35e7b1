package cloud

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Sentinel error kinds. An *APIError matches one of them with errors.Is
// according to its code and HTTP status.
var (
	// ErrNotFound: the resource does not exist or is not visible to the caller.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request conflicts with the resource's current state
	// (for example a control-plane change while a migration task runs).
	ErrConflict = errors.New("conflict")
	// ErrThrottled: the provider refused the call for exceeding a quota.
	ErrThrottled = errors.New("throttled")
	// ErrTransient: a temporary provider or network failure; the same call
	// may succeed later.
	ErrTransient = errors.New("transient failure")
	// ErrDenied: authentication or authorisation failed.
	ErrDenied = errors.New("denied")
	// ErrActionUnavailable: the action cannot be called at this endpoint
	// with these credentials: the gateway does not know it
	// (InvalidAction.NotFound, HTTP 404), the caller lacks the permission
	// (Forbidden.RAM, Forbidden.NoPermission), or the request's
	// credentials or signature are not accepted for it (every ErrDenied
	// refusal). It is permanent: the same call fails the same way until
	// the configuration or the grants change, so it is never retried.
	ErrActionUnavailable = errors.New("action unavailable")
)

// APIError is a refusal by a cloud API, reduced to what the domain needs.
// It never carries credentials or request signatures.
type APIError struct {
	Service   string // kms, sls, oss, fc, sts
	Action    string // the API action, e.g. DescribeKey
	Status    int    // HTTP status, 0 for network failures
	Code      string // the provider's error code, e.g. Forbidden.KeyNotFound
	Message   string
	RequestID string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: ", e.Service, e.Action)
	if e.Code != "" {
		fmt.Fprintf(&b, "%s", e.Code)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request %s]", e.RequestID)
	}
	return b.String()
}

// Is maps the provider's codes onto the sentinel kinds.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		// An unknown action or a refused access key answers 404 too; that
		// is not a missing resource.
		if e.unknownAction() || e.denied() {
			return false
		}
		return e.Status == 404 || strings.HasSuffix(e.Code, "NotFound") || strings.HasSuffix(e.Code, "NotExist") ||
			e.Code == "Forbidden.KeyNotFound" || e.Code == "Forbidden.ResourceNotFound" ||
			e.Code == "Forbidden.AliasNotFound" || e.Code == "Forbidden.DKMSInstanceNotFound"
	case ErrThrottled:
		return e.Status == 429 || e.Code == "Rejected.Throttling" || strings.HasPrefix(e.Code, "Throttling")
	case ErrTransient:
		return e.Status == 0 || e.Status >= 500 || e.Code == "ServiceUnavailable" || e.Code == "InternalError"
	case ErrConflict:
		return e.Status == 409 || e.Code == "Rejected.MigrationInProgress" || e.Code == "Conflict" ||
			e.Code == "Forbidden.DKMSInstanceStateInvalid"
	case ErrDenied:
		return e.denied()
	case ErrActionUnavailable:
		return e.unknownAction() || e.denied()
	}
	return false
}

// unknownAction reports the gateway's refusal of an action it does not
// serve (InvalidAction.NotFound; older gateways answer InvalidAction).
func (e *APIError) unknownAction() bool {
	return e.Code == "InvalidAction.NotFound" || e.Code == "InvalidAction" || e.Code == "InvalidApi.NotFound"
}

// denied reports a refusal of the caller: missing permission, or
// credentials or a signature the gateway does not accept.
func (e *APIError) denied() bool {
	return e.Status == 401 || e.Code == "Forbidden.NoPermission" || e.Code == "Forbidden.RAM" ||
		strings.HasPrefix(e.Code, "InvalidAccessKeyId") || e.Code == "SignatureDoesNotMatch" ||
		e.Code == "IncompleteSignature" || strings.HasPrefix(e.Code, "InvalidSecurityToken")
}

// Retryable reports whether a failed call may be sent again unchanged:
// throttling, transient provider failures and network errors. Context
// cancellation and deadlines are never retryable; neither is anything the
// provider refused on its merits.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, ErrThrottled) || errors.Is(err, ErrTransient) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// Code returns the provider error code carried by err, or "" when err is
// not an *APIError.
func Code(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

// Sleep waits for d, or returns ctx's error unchanged if ctx ends first. It
// is the one wait every retry loop uses.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
