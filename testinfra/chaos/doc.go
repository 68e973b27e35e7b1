// Package chaos is a seeded fault campaign against the execution engine
// (shared/migration, driven through shared/app's Executor) on the offline
// KMS twin.
//
// Each schedule starts a fresh KMS twin on its own ports (a KMS-only
// stack whose migration tasks run on a virtual clock shared with the
// engines: testinfra/stack runs tasks on the wall clock), a fresh run-state
// store, runs discover, and then drives the migrate, poll and rotate steps
// one at a time from a deterministic scheduler (math/rand/v2 PCG seeded
// from the campaign seed and the schedule index).
//
// The store (Options.State, state.go) is by default the one the functions
// use in the cloud, shared/aliyun/oss (a log of create-only versions
// written with x-oss-forbid-overwrite), in the unversioned bucket
// kmsmig-state of a fresh OSS twin (twin/oss, on the KMS twin's keyring,
// dating objects on the virtual clock so that pruning follows simulated
// time), opened and checked as the functions open it and reached through
// the official OSS SDK. The twin honours only what OSS documents: PutObject
// refuses If-Match, x-oss-forbid-overwrite holds on an unversioned bucket.
// The functions' engines reach it through the twin's faulty handler, the
// harness (the checks, the operator's reads) through the clean one. With
// StateDir the store is a directory store on a memory file system, and
// the schedules draw exactly what they drew before the OSS store existed.
//
// The scheduler combines:
//
//   - crashes at every transition: a store wrapper that fails the Nth
//     write of an invocation before or after applying it, and every write
//     after it; the next step is a fresh engine. Reads still work after
//     the crash, so "after" is a write whose reply was lost (the engine
//     may re-read and see that it landed). A process that dies between a
//     write and its audit record loses that record; no engine can help;
//   - duplicate (sequential) and concurrent invocations of the same step,
//     each on its own engine;
//   - throttling (the twin's quotas set low) and transient 503s (the
//     twin's acs.Faults ErrorRate, its RNG seeded from the schedule);
//   - stalled tasks (StallTasks for a few steps, then released);
//   - per-resource task failures (FailResource), some permanent, some
//     cleared after a few steps;
//   - state-store conflicts: a wrapper that returns runstate.ErrConflict
//     on some compare-and-swap writes without applying them, forcing
//     Mutate to re-read and retry;
//   - clock skew: some engines see the virtual clock offset by 20 s to
//     3 min either way;
//   - on the OSS store, from a stream of its own (so that the draws above
//     are those of the directory store): the OSS twin's faults switched on
//     and off, which answer a share of the functions' requests 500
//     InternalError without serving them and serve another share without
//     replying (a create-only write lands, its writer sees a broken
//     connection and cannot tell); and in a third of the schedules the
//     store prunes old versions at once instead of after 10 minutes, so
//     that pruning races the writers. The crash and conflict wrappers wrap
//     the OSS store: a crash "after" is a version that landed in the bucket.
//
// After the step budget every fault but the permanent resource failures
// is released and clean engines drive the run to its end. Then the
// invariants are checked: one task per submitted batch and no task
// without a batch; every migratable resource in its instance or reported
// with a reason; every rotation policy exactly as discovery recorded it,
// no ledger entry left off; no secret value read; every batch transition
// in the batch histories matched by a Transition audit record, none
// dropped; every batch history a path through the engine's transition
// table (migration.ValidHistory); and the run finished.
//
// With Options.Nights > 1 (kmsmig chaos --nights N) a schedule spans N
// simulated nights of a campaign (nightly.go): discover at 01:00 every
// night through app.Discoverer (a run per night), a window from 01:05, the
// per-step faults above, and on top: crashes of discover, stalls that last
// across a night boundary, pauses and resumptions of a run, aborts of
// batches (kmsmig abort or rotate's abort), the observe backend with an
// operator who starts published batches late or never (timeouts longer
// than a day), and the estate's owners changing it between nights
// (owners.go): rotation switched on (often where kmsmig holds it off),
// another interval, switched off; keys and secrets created and deleted;
// keys disabled or scheduled for deletion. Quiet nights then run until
// the campaign has converged: the current run finished, every other run
// closed, no ledger entry off. The invariants are the same code for one
// night and many, checked across every run of the schedule:
//
//   - every task the provider lists is claimed by exactly one batch of one
//     run (observe backend: by the operator, for one batch); no batch
//     claims two; a batch's task carries exactly the batch's resources; no
//     resource is in two tasks whose lifetimes overlap;
//   - every resource some run classified to migrate and that still exists
//     is in an instance some run targeted, or the last outcome any batch
//     recorded for it is a failure with a reason code, or the last
//     discovery classified it not to migrate, with a reason;
//   - every key and secret shows the policy the schedule first saw (the
//     first run's inventory, or at its creation), unless an owner changed
//     it; then it shows what the owner last set, except a switch-off made
//     while kmsmig's ledger entry for it was off: kmsmig cannot tell that
//     from its own switch-off, and the ledger governs. No ledger entry is
//     off, and each shows how it ended: its recorded original (restored,
//     verified) or the owner's policy (superseded), unless the owner
//     changed the resource after that;
//   - no secret value read; every history of every run valid and ending
//     in its phase; every transition of every run audited.
//
// Schedule i of seed N runs again alone with
// "kmsmig chaos --seed N --first i --schedules 1 -v" (with --nights when
// it had many), which prints its fault log. The same seed gives the same
// schedule of faults (a schedule of many nights draws its night faults
// from a stream of its own, so its first night draws the steps of one);
// outcomes may differ in detail where goroutines race (concurrent
// invocations, lanes stepped in parallel) and where the twin's quotas,
// which count wall-clock time, throttle a call or not.
package chaos
