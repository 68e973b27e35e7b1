// Package oss is the adapter to Alibaba Cloud OSS: the runstate.Store over
// a bucket (github.com/aliyun/alibabacloud-oss-go-sdk-v2), for Function
// Compute handlers whose local disk does not outlive an invocation, and
// Open, which builds it from an oss:// URL and a credential.
//
// Each key is the object <prefix><key>. Compare-and-swap uses OSS's
// conditional writes: Create is a PutObject with x-oss-forbid-overwrite:
// true (409 FileAlreadyExists → runstate.ErrConflict), Update a PutObject
// with If-Match: <ETag> (412 PreconditionFailed → runstate.ErrConflict).
// The Version is the object's ETag. OSS has no conditional delete, so
// Delete checks the ETag with a HeadObject first; see Store.Delete.
//
// Conditional writes are sent without the SDK's automatic retries (except
// after RequestTimeTooSkewed, which OSS answers before touching the object):
// a retried write whose first attempt landed would report a conflict with
// itself. A transport failure is returned as an error whose outcome is
// unknown, and level-triggered callers re-read.
package oss
