// Package wiring is the composition root of the four functions: it reads
// the configuration once per process, builds each invocation's adapters
// (credentials, KMS, run-state store, audit sink, alerter, invoker) and
// serves a use case of shared/app behind the Function Compute runtime,
// turning a panic into a function error at the boundary.
//
// A function's main is one call: wiring.Serve("discover", wiring.Discover).
package wiring
