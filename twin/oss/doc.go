// Package oss is the offline twin of Alibaba Cloud Object Storage Service:
// an http.Handler speaking the subset of the OSS API that the run-state
// store uses, as github.com/aliyun/alibabacloud-oss-go-sdk-v2 sends it —
// PutObject, GetObject, HeadObject, DeleteObject, ListObjectsV2,
// GetBucketVersioning and PutBucketVersioning — with the real wire format:
// XML error bodies (<Error><Code/><Message/><RequestId/><HostId/>...</Error>,
// base64 in the x-oss-err header for HEAD), x-oss-request-id, quoted
// upper-case MD5 ETags, x-oss-hash-crc64ecma (which the SDK checks after
// uploads), user metadata (x-oss-meta-*), and only the preconditions OSS
// documents:
//   - PutObject honours x-oss-forbid-overwrite: true (409
//     FileAlreadyExists) on a bucket that has never had versioning, and
//     ignores it on a bucket whose versioning is Enabled or Suspended, as
//     the PutObject documentation says. PutObject refuses If-Match,
//     If-None-Match, If-Modified-Since and If-Unmodified-Since with
//     NotImplemented (status 400, the header in a Header element), as OSS
//     documents under error 0017-00000245: OSS has no conditional
//     overwrite.
//   - GetObject and HeadObject honour If-Match / If-Unmodified-Since (412
//     PreconditionFailed) and If-None-Match / If-Modified-Since (304).
//   - DeleteObject ignores conditional headers (OSS documents none) and
//     answers 204 whether or not the object existed.
//
// Requests are authenticated against a twin/acs Keyring: signature V4
// (OSS4-HMAC-SHA256, the SDK's default) and V1 (OSS ak:signature) in the
// Authorization header — V1 dated by Date or, as ali-oss sends it, by
// x-oss-date alone — STS keys with x-oss-security-token, clock skew
// (RequestTimeTooSkewed, with the twin's clock in the Date header so the SDK
// can correct itself), SignatureDoesNotMatch (with StringToSign and
// CanonicalRequest in the body, as OSS), InvalidAccessKeyId. Buckets are
// created from the configuration and belong to one account; another
// account's keys get 403 AccessDenied, an unknown bucket 404 NoSuchBucket.
// Both path-style (endpoint/bucket/key, what the SDK sends to an IP endpoint
// or with UsePathStyle) and virtual-hosted-style (bucket.endpoint/key)
// addressing work.
//
// Event notification is a hook (Config.OnObjectCreated), called for every
// successful PutObject: what OSS delivers to Function Compute's OSS
// triggers (twin/fc matches the triggers and builds FC's event).
//
// Server.Faulty returns a handler over the same buckets that injects
// faults (Faulty.SetFaults), for chaos campaigns: requests refused with 500
// InternalError before they are served, and requests served whose
// connection is then closed without a reply (a write that landed, a
// caller who cannot tell). The Server itself stays clean. OSS documents
// 5xx answers as retryable and promises nothing about replies lost in the
// network; the twin injects nothing else (no latency, no partial bodies,
// no 503 SlowDown).
//
// Where it differs from the real service:
//   - Objects live in memory; PutObject bodies are capped (64 MiB by
//     default, 5 GiB in OSS). No multipart, append, copy, ACLs, tagging,
//     lifecycle, Range reads or ListObjects (v1): those answer 501
//     NotImplemented. Service-level calls (ListBuckets) too.
//   - Versioning is a state only (Bucket.Versioning, GetBucketVersioning,
//     PutBucketVersioning): it switches x-oss-forbid-overwrite off, but a
//     versioned bucket keeps only the current object — no previous
//     versions, delete markers, x-oss-version-id or ListObjectVersions.
//   - Every request sees every write that completed before it, listings
//     included. OSS documents that for reads of an object after its upload
//     or deletion, not for ListObjects: code under test must not rely on a
//     listing being current, and the twin cannot show it when it does.
//   - No RAM policies or bucket ACLs: a bucket's owning account may do
//     everything, other accounts nothing, anonymous requests nothing.
//   - Signatures in the URL (presigned requests) are refused.
//   - Event notifications are delivered synchronously, once, for
//     PutObject only (the only creation served), with the bucket's
//     Bucket (not an ARN), the caller's account as principal and the
//     caller's IP as sourceIPAddress; OSS documents at-least-once
//     delivery with a delay, which code under test must tolerate (a
//     trigger is a prompt, never the only way work starts).
//   - A signed request carrying Date, Content-Type or Content-MD5 more
//     than once is refused (400 InvalidArgument): the signature covers
//     one value of each. OSS does not document such requests; refusing
//     them is the weakest reading, and no SDK sends them.
//   - A V1 request carrying both Date and x-oss-date is accepted with
//     either as the signed date (ali-oss and oss2 sign x-oss-date, the Go
//     v2 SDK signs Date; which one OSS takes is not documented), and the
//     signed one is checked against the clock. x-oss-date may be an HTTP
//     date (what ali-oss sends) or 20060102T150405Z (what OSS documents).
//   - The V4 scope's region is used to verify the signature but not checked
//     against the bucket's region. x-oss-content-sha256 is signed as sent;
//     the body is not hashed against it (the SDK sends UNSIGNED-PAYLOAD).
//   - Responses carry no EC (detailed error code) element.
//   - The codes for a bad or expired STS token (InvalidSecurityToken,
//     SecurityTokenExpired) follow the OSS documentation's descriptions;
//     the exact codes were not verified against the live service.
//   - A host is read as virtual-hosted when its first label is a bucket the
//     twin has or the rest begins with "oss-"; otherwise path style.
//   - Continuation tokens are the base64url of the last entry returned, not
//     OSS's opaque tokens.
//   - With encoding-type=url, ListObjectsV2 percent-encodes every byte but
//     RFC 3986's unreserved characters (a space is %20, "/" %2F, as in the
//     Go SDK's fixtures); whether OSS leaves any other character bare was
//     not verified.
package oss
