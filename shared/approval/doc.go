// Package approval is the approval gate of a run: the digest of the plan a
// person reads (SHA-256 of the canonical form of its pending batches), the
// approval record that names that digest, who gave it and when, and the
// gate migrate consults under KMSMIG_APPROVAL=required. The run-state
// store is the only authority on approvals: an event that announces one
// is a prompt to read the store, never evidence.
package approval
