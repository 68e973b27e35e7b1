// Package app holds the use cases of the four functions: discover
// (Discoverer) and migrate, poll and rotate (Executor), the events they
// accept, the results they return, and their configuration (environment
// variables, validated all at once). It links no SDK: shared/wiring builds
// the adapters and serves these use cases under Function Compute.
package app
