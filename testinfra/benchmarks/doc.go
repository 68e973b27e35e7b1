// Package benchmarks measures the figures the project is judged by, each
// as a ratio or an absolute taken in one run on this machine: how much of
// the shared gateway's quota discovery uses, the speed-up over one call at
// a time, planning time and memory at 100,000 resources, the window
// utilisation of a full rehearsal, per-function cold start and binary size,
// and the cost of the audit trail. `kmsmig bench` runs them and writes the
// results table; the Go benchmarks beside the code measure the same
// quantities for `go test -bench`.
package benchmarks
