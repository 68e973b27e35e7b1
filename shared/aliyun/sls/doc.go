// Package sls is the adapter to Alibaba Cloud Log Service: the audit
// trail's sink (Sink, over the aliyun-log-go-sdk producer) and the set-up of
// its logstore and index (EnsureLogstore, used by kmsmig setup-logs).
//
// # The sink and Function Compute's freeze/thaw
//
// The aliyun-log-go-sdk producer batches records (linger, size and count
// limits), compresses with lz4 and retries with back-off. It has no flush:
// Close is the only way to push out what it holds, and Close is final (its
// mover, retry queue and I/O pool shut down; a retry that would be due after
// Close is abandoned). The two candidate designs were:
//
//   - a producer per invocation, closed at the end: every invocation pays
//     for goroutine start-up and a Close that polls in 100ms steps, and the
//     batches sent during Close lose their retries, so a transient 5xx at the
//     end of an invocation loses records;
//   - one producer per process, kept across invocations, with a flush that
//     waits for the producer's per-record callbacks.
//
// This package does the second. Every record is sent with a callback; the
// sink counts records pending until their callback reports success or
// failure, and Flush waits for the pending count to reach zero within the
// context deadline. Retries keep working during Flush. After a successful
// Flush nothing is in flight when FC freezes the instance, so nothing
// depends on timers or connections surviving the freeze; the producer's
// mover simply sleeps until the next invocation thaws it. If the deadline
// comes first, the undelivered records stay in the producer (Stats.Pending)
// and are sent, with their retries, when the instance thaws, or are lost if
// FC reclaims it; the invocation result shows the count either way. Flush
// latency is bounded by the linger (Config.Linger, default 100ms, the
// producer's minimum) plus one PutLogs round trip. FC hands each invocation
// its own STS credentials: Config.CredentialsFunc is consulted before
// every request, so a long-lived producer always signs with the current
// ones. Close belongs in FC's PreStop hook or at process exit.
//
// Note that the SDK under the producer also retries 500/502/503 answers
// inside each attempt (exponential back-off for up to 90s, not
// configurable through the producer); Flush stays bounded by its context
// either way, and such records show as pending.
//
// The producer's own logger is silenced (its default writes to stdout, which
// FC ships as the function log); failures reach the sink through callbacks.
package sls
