// Command kmsmig is the command-line tool of the KMS 1.0 → 3.0 migration:
// it runs the offline twins, and runs discovery, planning and status
// against them or against Alibaba Cloud.
package main
