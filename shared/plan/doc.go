// Package plan turns verdicts into a migration plan: per lane, an ordered
// list of batches, each small enough for one migration task (at most
// Settings.MaxKeys keys and Settings.MaxSecrets secrets, 50 and 50 by
// default), into the lane's target instance.
//
// Rules the planner keeps:
//   - only resources whose verdict will migrate are planned; the rest are
//     listed as excluded with their reason, as are resources left out by
//     the include/exclude filters;
//   - a secret under a CMK that migrates in this run goes in a strictly
//     later batch than the CMK; keys and secrets share batches whenever
//     that order allows, because every task has a fixed overhead and fewer
//     batches means a shorter migration;
//   - an instance's free quota is never exceeded: the plan stops where it
//     would overflow and says so (LanePlan.Stopped);
//   - the same verdicts and settings give the same plan, byte for byte.
//
// Replan re-plans a run in progress: batches that left the pending state
// are frozen and kept as they are, and only the pending resources are
// planned again, into new batches numbered after the frozen ones.
//
// AppendRetries (retry.go) appends the retryable failures of an ended
// batch to its lane as new batches, the engine's re-planning of a run in
// progress.
//
// The package is pure: it imports estate, verdict and the standard library.
package plan
