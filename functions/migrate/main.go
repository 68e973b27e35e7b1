// Command migrate is the migrate function of the KMS 1.0 → 3.0 migration,
// served by the Function Compute Go runtime: inside the off-hours window
// it switches rotation off for the next batch of each lane and submits the
// batch's migration task (at most 50 keys and 50 secrets).
//
// The use case is shared/app's Executor.Migrate; shared/wiring builds each
// invocation's adapters and serves it.
package main

import "github.com/kmsmig/kmsmig/shared/wiring"

func main() { wiring.Serve("migrate", wiring.Migrate) }
