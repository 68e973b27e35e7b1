// Package cloud holds what every adapter of an Alibaba Cloud service shares
// with the domain: the error kinds the domain reacts to (not found,
// conflict, throttled, transient, refused) and the one classifier that
// decides whether a failed call may be retried. Adapters wrap SDK errors
// into *APIError so that no domain code ever inspects an SDK type. Every
// retry loop waits with Sleep for the delays of one jittered exponential
// Backoff.
package cloud
