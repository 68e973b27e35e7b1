// Package audit is the migration's audit trail: one structured Record per
// thing that happened (a key's rotation disabled, a batch planned, a task
// created, a resource failed), written through a small Logger interface to
// stdout as JSON lines here, or to an SLS logstore through the adapter in
// shared/aliyun/sls. It links no SDK: Counters, Diagnostics and
// Guard.ScrubRecord are the kit a sink is built from.
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
// registered with Guard.Add; the SLS sink (shared/aliyun/sls)
// registers the credentials it signs with. Scrubbed records are counted in Stats.Redacted.
//
// The Guard is the process's one scrubbing path, not only the trail's:
// ScrubStored scrubs run-state payloads (the text fields of JSON, Markdown
// whole, identifiers untouched), ScrubError the error an invocation
// returns, Writer what goes to stderr; shared/alert scrubs alerts with it.
// shared/wiring builds one Guard per process and applies it at each of
// those boundaries.
package audit
