// Package report renders what a run found and what it plans, for the
// people who run the migration: a machine-readable JSON document and a
// Markdown page.
//
// Build assembles a Report from an estate.Inventory, its verdict.Verdicts
// and its plan.Plan (any of which may be missing). Given the campaign's
// previous run (Options.Previous), the report also says what owners
// changed since that run (estate.Diff) and why a key or secret the
// previous plan carried is not in this one (deleted, scheduled for
// deletion, disabled, migrated, held by an earlier run's batch in flight,
// blocked). Report encodes with
// encoding/json; Markdown renders it. The Markdown is written for a cloud
// team at a glance and caps every listing at Limits.MaxRows rows, pointing
// to the JSON for the rest; the JSON keeps everything.
//
// The JSON field names are stable; consumers match on them. Layout:
//
//	runId, discoveredAt
//	summary          lanes, accounts, regions, keys, secrets,
//	                 verdicts {<verdict kind>: n} (blocked includes service keys),
//	                 blocked (needs a person), byReason {<reason>: n},
//	                 serviceKeys, batches, plannedKeys, plannedSecrets,
//	                 rotationOff, excluded (by the planner), warnings,
//	                 terraformResources,
//	                 incompleteLanes [{account, region, errors [{op, resource, code, message}]}]
//	regions[]        account, region, keysNotMigrated, keysMigrated,
//	                 secretsNotMigrated, secretsMigrated, serviceKeys,
//	                 targetInstance, noTargetReason, batches,
//	                 tasks {<batch status>: n}, discoveryErrors
//	blocked[]        reason, severity, action, count,
//	                 resources [{account, region, resource, id, aliases,
//	                 encryptionKeyId, detail}]
//	warnings[]       reason, instanceId, lanes [{account, region}], message
//	serviceKeys[]    account, region, count, keys [{id, aliases, creator}] (verbose only)
//	changes          previousRunId, counts {<change kind>: n},
//	                 items [{account, region, resource (key|secret|instance), id,
//	                 kind, from, to, previousBatch, note}], planCompared,
//	                 leftPlan [{account, region, resource, id, previousBatch,
//	                 why, detail}] (only with a previous run)
//	plan             settings (as plan.Settings encodes them),
//	                 lanes [{account, region, instanceId, alreadyMigrated, stopped,
//	                 batches [{id, seq, instanceId, status, keyCount, secretCount,
//	                 keys, secrets, keysRotationOff, secretsRotationOff}],
//	                 excluded [{resource, id, reason, detail, planner}]}]
//	terraform        keyIgnoreChanges, secretIgnoreChanges,
//	                 hardwareToSoftwareAttribute, dropInstanceIdAfterProvider,
//	                 resources [{account, region, type, id, aliases,
//	                 dkmsInstanceId, batchId, migrated, addProtectionLevel}]
//	limits           maxRows, maxIds, jsonName (how the Markdown is capped)
//
// Lists are ordered: lanes by account then region; resources keys before
// secrets, then by ID; blocked groups blockers before decisions, then by
// reason code. Maps encode with sorted keys. Empty lists and zero optional
// fields are omitted.
//
// The package is pure: it imports estate, verdict, plan and the standard
// library only.
package report
