// Command poll is the poll function of the KMS 1.0 → 3.0 migration, served by
// the Function Compute Go runtime. It only wires configuration and adapters;
// the logic lives in shared/.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "poll: not wired yet")
	os.Exit(1)
}
