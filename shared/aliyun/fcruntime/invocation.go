package fcruntime

import (
	"context"
	"time"
)

// Invocation is what Function Compute passes with each call: who is
// calling, where, with which temporary credentials, and until when. The
// credentials are never logged or returned.
type Invocation struct {
	RequestID       string
	Function        string
	AccountID       string
	Region          string
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
	LogProject      string
	LogStore        string
	RetryCount      int
	Deadline        time.Time
}

// Bounded returns ctx bounded a little before the invocation's deadline, so
// that the handler can record its state and flush its audit trail before
// Function Compute stops it.
func (inv Invocation) Bounded(ctx context.Context, reserve time.Duration) (context.Context, context.CancelFunc) {
	if inv.Deadline.IsZero() {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, inv.Deadline.Add(-reserve))
}
