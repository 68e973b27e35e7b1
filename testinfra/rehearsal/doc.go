// Package rehearsal runs a whole migration offline, the way Function
// Compute would run it: the four real function binaries, deployed from the
// project's s.yaml by the FC twin, fired by their timers and chained by
// asynchronous invocations, against the KMS, STS, OSS and SLS twins seeded
// with an inventory, for one night or a campaign of many. It then checks
// the outcome against the twins themselves: every resource any night
// planned is in its instance or reported with a reason, every rotation
// policy is restored or left as its owner set it, exactly one task per
// batch across every run, no secret value was read, the campaign finished,
// and the audit trail is complete.
//
// Time. The FC twin's clock is the only clock: simulated time runs Speed
// times faster than the wall clock and jumps over the hours in which
// nothing is due (follow.go). The KMS twin's tasks run on it (30 s plus
// 2 s per resource, simulated), and the functions read it: the FC twin
// publishes the clock's mapping to a file named by KMSMIG_CLOCK, so the
// window, stall detection, leases and alert periods are decided in
// simulated time. Rates and waits that the functions spend in real time
// (the gateway's quotas, KMSMIG_POLL_WAIT) are scaled by Speed.
//
// Nights. Night k begins with discover's k-th firing; its window is the
// one open at, or next after, that moment; the rehearsal ends with the
// sweep after the last night's window. From the second night on, events
// change the world under the migration (events.go).
package rehearsal
