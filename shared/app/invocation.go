package app

import (
	"context"
	"fmt"
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

// Credentials builds the credential set of an invocation: its STS
// credential for its own account, RAM roles from cfg for the others.
func (inv Invocation) Credentials(cfg Config) (Credentials, error) {
	if inv.AccessKeyID == "" {
		return Credentials{}, fmt.Errorf("invocation %s carries no credentials: give the function a role (s.yaml role)", inv.RequestID)
	}
	base, err := StaticCredential(inv.AccessKeyID, inv.AccessKeySecret, inv.SecurityToken)
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{Home: inv.AccountID, Base: base, RoleArns: cfg.RoleArns, STSEndpoint: cfg.STSEndpoint, SessionName: "kmsmig-" + inv.Function}, nil
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
