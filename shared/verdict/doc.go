// Package verdict classifies every key and secret of an estate.Inventory
// for the KMS 1.0 → KMS 3.0 migration.
//
// Each resource gets exactly one Verdict: already-migrated, migratable,
// migratable-once-rotation-off (automatic rotation must be switched off
// first) or blocked with a Reason code and a remediation sentence. Reason
// codes are stable strings meant for dashboards and alerts; their Severity
// says whether a blocked resource is a failure to fix (blocker), a choice
// for a person (decision), or nothing to do at all (info: service keys).
// Warnings such as an instance that expires without auto-renewal are
// lane findings; they never block.
//
// Classify also chooses each lane's target instance (an explicit choice
// from Settings, otherwise a documented default), checks the instance
// prerequisites (region, sharing, image version, an end date not passed
// and status Connected: shared/rules, which the KMS twin applies too),
// blocks every copy of a secret name that several accounts may bring into
// one instance, orders each secret after its CMK, and spends each
// instance's key and secret quota across all lanes that target it,
// blocking what would overflow. The result, Verdicts, encodes to stable
// JSON.
//
// The package is pure: it imports estate, rules and the standard library
// only.
package verdict
