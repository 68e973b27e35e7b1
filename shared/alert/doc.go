// Package alert tells people when the migration needs them: a resource
// failed, a pre-flight finding blocks a lane, rotation could not be
// restored after migration, a migration task stopped making progress, a
// batch overran its window, or a function failed. The constructors
// (ResourceFailed, PreflightBlocked, RotationRestoreFailed, TaskStalled,
// WindowOverrun, FunctionError, TaskAPIUnavailable) build an Alert with a Key naming what it
// is about.
//
// An Alerter scrubs each alert with the audit Guard (alerts leave the
// process), drops it when the same Key was sent within the de-duplication
// period, delivers it to every Sink (a generic JSON Webhook, a signed
// DingTalk robot), retrying network errors and 5xx answers with jittered
// exponential back-off but not 4xx answers, and writes one audit record at
// level ALERT whatever happened (sent, duplicate, failed, partly-sent).
//
// The de-duplication memory is the small Dedup interface; NewMemoryDedup
// keeps it in the process. A deployment that runs several function
// instances can back it with the run-state store (a conditional write per
// key) so that de-duplication holds across them. When every sink fails the
// key is released, so raising the alert again tries again.
package alert
