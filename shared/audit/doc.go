// Package audit is the migration's audit trail: one structured Record per
// thing that happened (a key's rotation disabled, a batch planned, a task
// created, a resource failed), written through a small Logger interface to
// stdout as JSON lines and/or to an SLS logstore.
//
// # Contract
//
// Log is on the hot path: it scrubs and encodes the record and hands it to a
// bounded buffer; it never waits for I/O and never returns an error. When a
// back-end is slow or down, records are dropped or fail, the counters in
// Stats say how many, and a rate-limited line goes to stderr (scrubbed, so
// it never shows credentials). Flush is called at the end of an invocation
// with the invocation's context and returns when everything logged so far
// has been delivered or failed, or when the deadline comes, whichever is
// first. The invocation result should carry Stats so that an incomplete
// trail is visible.
//
// Enrich and WithScope let a handler put the run id, request id, function,
// account and region into the context once; records then carry only what
// varies.
//
// # No secrets in the trail
//
// Record has fixed string fields and no free-form map, so no code path has
// a place to put a credential by accident. A Guard still scrubs every field
// before a sink writes it: values after keys such as secret, token,
// signature, password or authorization; "LOG ak:signature" and ACS3/SLS4
// signatures; STS tokens (CAIS...); and long random-looking base64/hex
// runs (an access key secret is 30 characters). Exact values can be
// registered with Guard.Add; the SLS sink registers the credentials it
// signs with. Scrubbed records are counted in Stats.Redacted.
//
// # The SLS sink and Function Compute's freeze/thaw
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
// latency is bounded by the linger (SLSConfig.Linger, default 100ms, the
// producer's minimum) plus one PutLogs round trip. FC hands each invocation
// its own STS credentials: SLSConfig.CredentialsFunc is consulted before
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
package audit
