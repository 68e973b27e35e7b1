// Package sls is the adapter to Alibaba Cloud Log Service: the audit
// trail's sink (Sink, over the aliyun-log-go-sdk producer) and the set-up of
// the trail in SLS (EnsureTrail, used by kmsmig setup-logs).
//
// # Setting up the trail
//
// EnsureTrail is level-triggered: for each object it reads what exists,
// creates it when it is missing, replaces it when it no longer says what
// kmsmig's definition says, and otherwise leaves it alone, and it reports
// created, updated or unchanged. "Says" is a covering comparison of JSON
// documents (covers): every field the definition sets must be there with
// the same value, fields the service adds (times, ids, defaults) are
// ignored, and a field the definition leaves zero may be missing. The
// objects, in order: the logstore and its index (EnsureLogstore), the
// saved searches (SavedQueries), the dashboard (Dashboard), the webhook
// integrations and action policy of the alert routing when a webhook or
// DingTalk robot is configured (RouteFor), and the Alert 2.0 rule
// (AlertRule), which names the dashboard and the action policy.
//
// Alert routing is what Alert 2.0 documents and the SDK can write: the
// rule's policyConfiguration names the built-in dynamic alert policy
// (sls.builtin.dynamic, which sends with the action policy the rule names)
// and kmsmig's action policy; the action policy and the webhook
// integrations are alert resource records (ResourceNameActionPolicy,
// ResourceNameWebhookIntegration) in the account. The action policy's
// script fires type="webhook_integration" with the integration's type
// ("custom" or "dingtalk") and id, the built-in content template
// sls.builtin.cn, at any time; this DSL is taken from the action-policy
// examples that accompany "Data structure of alert resource data", as the
// SDK has no type for it. Without a webhook or robot, the rule's routing is
// kept as found, so routing chosen in the console survives.
//
// Assumptions, unverified against the real service: a second create of a
// saved search or record fails (whatever its code), after which the object
// is read again and compared (so two set-ups at once converge); GetAlert
// answers the rule's state or status, which is kept, not compared; a
// webhook integration's secret is answered back as written (were it
// masked, every run would report the DingTalk integration updated).
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
