// Package estate is the domain's resource model: what discovery finds in an
// Alibaba Cloud estate before, during and after a KMS 1.0 → KMS 3.0
// migration.
//
// The unit of a migration is a Lane: one account in one region, because the
// migration tool works on one region at a time and each account migrates its
// own resources. Discovery records, per lane, the keys (CMKs and service
// keys), the secrets (metadata only: this package has no field for a secret
// value, on purpose) and the KMS 3.0 instances the account can see, in an
// Inventory. The Inventory is persisted as JSON and read back by other
// functions, so its encoding is stable: slices are kept in a canonical order
// by Normalize, maps encode with sorted keys, times are UTC. Diff compares
// the inventories of two runs (a campaign discovers every night) and lists
// what owners changed in between.
//
// The package is pure: it imports the standard library only, never an SDK.
package estate
