// Package kms is the adapter between the migration and the KMS 2016-01-20
// API (github.com/alibabacloud-go/kms-20160120/v3). It is the only code
// that touches that SDK.
//
// It owns everything that makes calls to the shared KMS gateway safe at
// scale: the credential of each account and region (public endpoint
// kms.<region>.aliyuncs.com unless overridden, so the offline twin works)
// resolved once, an SDK client made per call over one HTTP transport per
// process, at most Config.MaxInFlight exchanges in flight across every
// account and region (so memory does not grow with the number of lanes),
// a client-side rate limiter per account, region and quota group set to the
// gateway's documented quotas and backing off when throttled anyway,
// retries with jittered exponential back-off on throttling and transient
// failures only, and every call bounded by the caller's context. SDK errors
// come back as *cloud.APIError so the domain can use errors.Is with the
// cloud package's kinds.
//
// Secret values are never read: the adapter has no method that calls
// GetSecretValue.
package kms
