// Command discover is the discover function of the KMS 1.0 → 3.0
// migration, served by the Function Compute Go runtime: it inventories
// every configured account and region, classifies every key and secret,
// plans the batches and stores it all in the run-state store.
//
// The use case is shared/app's Discoverer; shared/wiring builds each
// invocation's adapters and serves it.
package main

import "github.com/kmsmig/kmsmig/shared/wiring"

func main() { wiring.Serve("discover", wiring.Discover) }
