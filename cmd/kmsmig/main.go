// Command kmsmig is the command-line tool of the KMS 1.0 → 3.0 migration.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "kmsmig: no commands yet")
	os.Exit(2)
}
