// Package rehearsal runs a whole migration offline, the way Function
// Compute would run it: the four real function binaries, deployed from the
// project's s.yaml by the FC twin, fired by their timers on an accelerated
// clock and chained by asynchronous invocations, against the KMS, STS, OSS
// and SLS twins seeded with an inventory. It then checks the outcome
// against the twins themselves: every resource that should have moved is in
// its instance, every rotation policy is as it was, no secret value was
// read, and the audit trail is complete.
//
// The FC clock and the KMS twin's task timing run at the same speed-up, so
// the schedule keeps its real proportions: a poll every simulated minute
// against tasks that take 30 s plus 2 s per resource, simulated.
package rehearsal
