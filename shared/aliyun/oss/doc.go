// Package oss is the adapter to Alibaba Cloud OSS: the runstate.Store over
// a bucket (github.com/aliyun/alibabacloud-oss-go-sdk-v2), for Function
// Compute handlers whose local disk does not outlive an invocation, and
// Open, which builds it from an oss:// URL and a credential and checks the
// bucket.
//
// OSS has no conditional overwrite: PutObject refuses If-Match (error
// 0017-00000245) and its one precondition, x-oss-forbid-overwrite: true,
// only refuses to replace an existing name — and does not take effect at
// all on a bucket whose versioning is enabled or suspended. So the store
// never overwrites: each key is a log of create-only objects, one per
// version, <prefix><key>/.v/<999999999999 - n> (see layout.go), and
// compare-and-swap is winning the next name:
//
//   - Create writes version 1 (or the version after a tombstone),
//     Update(ifVersion n) writes n+1, Delete writes a tombstone as n+1,
//     each with x-oss-forbid-overwrite: true. Exactly one writer wins each
//     name; the others get 409 FileAlreadyExists, answered as
//     runstate.ErrConflict (or ErrNotFound when the key is deleted).
//   - A Version is "<n>.<id>", id being random and carried in the object's
//     metadata with the id of the version it was written over, so that a
//     name recreated after pruning never passes for the one read.
//   - Get finds the newest version from a hint (the last one this Store
//     saw, else a listing), follows newer names with HeadObject and checks
//     the predecessor's id: it returns what was current at an instant of
//     the call, whatever the listing said.
//   - After its write, a writer checks that the version it wrote over is
//     still in place, which proves nobody had pruned and recreated the
//     name it won (see confirm in log.go).
//   - Old versions are pruned after writes, best effort: all but the two
//     newest, once their successor is PruneAfter old (default 10 min), in
//     increasing order, and version 1 is emptied rather than deleted. A key
//     thus keeps three or four objects plus the versions of its last
//     PruneAfter, and List, one listing of the prefix, costs what the keys
//     cost, not their history.
//
// What it assumes of OSS, all documented: x-oss-forbid-overwrite is atomic
// on a bucket that never had versioning; an object is readable at once
// after its upload and gone at once after its deletion (strong consistency
// of object operations); DeleteObject answers 204 for a missing object.
// What it does not assume: that ListObjectsV2 shows the writes that
// completed before it. OSS documents no list-after-write consistency, so
// listings are only hints for Get and the writers; List itself is as
// current as the listing.
//
// Open refuses, each with the remedy: a missing bucket, a versioned one
// (GetBucketVersioning), a credential without the permissions the store
// uses (probed with harmless calls), and a prefix holding state of the
// earlier layout, one object per key updated with If-Match (which OSS
// refuses). MigrateLayout moves such state into the logs.
//
// Creates are sent without the SDK's automatic retries (except after
// RequestTimeTooSkewed, which OSS answers before touching the object): a
// retried create whose first attempt landed would report a conflict with
// itself. A transport failure is returned as an error whose outcome is
// unknown, and level-triggered callers re-read; so is ErrOutcomeUnknown.
package oss
