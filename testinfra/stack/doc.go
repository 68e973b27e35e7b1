// Package stack starts the offline twins together on loopback listeners:
// one KMS endpoint per region of the inventory, STS, and OSS (with a bucket
// for run state), all sharing one keyring. It describes where they listen
// in the JSON "ready line" that `kmsmig twin` prints. Tests, `kmsmig
// rehearse` and `make run` use it so that every consumer of the twins
// starts them the same way.
package stack
