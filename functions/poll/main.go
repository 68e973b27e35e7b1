// Command poll is the poll function of the KMS 1.0 → 3.0 migration, served
// by the Function Compute Go runtime: it follows each task to its end,
// confirms in KMS that every resource really moved, re-plans what can be
// retried, and chains rotate and migrate.
//
// The use case is shared/app's Executor.Poll; shared/wiring builds each
// invocation's adapters and serves it.
package main

import "github.com/kmsmig/kmsmig/shared/wiring"

func main() { wiring.Serve("poll", wiring.Poll) }
