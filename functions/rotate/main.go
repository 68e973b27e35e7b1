// Command rotate is the rotate function of the KMS 1.0 → 3.0 migration,
// served by the Function Compute Go runtime: it switches automatic
// rotation off before a batch moves, gives it back exactly as it was
// afterwards, sweeps daily for anything left off, and turns the other
// functions' asynchronous failures into alerts.
//
// The use case is shared/app's Executor.Rotate; shared/wiring builds each
// invocation's adapters and serves it.
package main

import "github.com/kmsmig/kmsmig/shared/wiring"

func main() { wiring.Serve("rotate", wiring.Rotate) }
