package oss

import (
	"bytes"
	"context"
	"sort"
	"time"

	osssdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

// DefaultPruneAfter is how old a version's successor must be before the
// version is pruned. It only needs to exceed how long a writer may take
// between its write and the check after it (see confirm); below that, a
// writer whose version was current could have to answer ErrOutcomeUnknown.
const DefaultPruneAfter = 10 * time.Minute

// pruneEvery: a write prunes when its sequence number is a multiple of it
// (and every delete does), so that pruning's listing is paid once every
// few writes.
const pruneEvery = 4

// prune removes, best effort, the old versions of key after this Store won
// version seq (of kind k): every version but the two newest whose
// successor is older than PruneAfter. Failures are ignored; the next prune
// takes over.
//
// Order is what keeps compare-and-swap sound (see confirm): versions go in
// increasing order, name k only once name k-1 is gone, and name 1 is
// overwritten with an empty stub rather than deleted, so that a create
// that found the key empty can never win it after it was written. The
// listing only proposes candidates; each removal's precondition is
// checked with HeadObject, which OSS keeps current.
func (s *Store) prune(ctx context.Context, key string, seq int64, k kind) {
	if seq < 3 || seq%pruneEvery != 0 && k != kindTombstone {
		return
	}
	type listed struct {
		seq      int64
		modified time.Time
	}
	var vs []listed
	p := s.client.NewListObjectsV2Paginator(&osssdk.ListObjectsV2Request{Bucket: &s.bucket, Prefix: osssdk.Ptr(s.logPrefix(key)), MaxKeys: 1000})
	for page := 0; p.HasNext() && page < 2; page++ {
		res, err := p.NextPage(ctx)
		if err != nil {
			return
		}
		for _, o := range res.Contents {
			if kk, n, ok := parseName(osssdk.ToString(o.Key)[len(s.prefix):]); ok && kk == key && o.LastModified != nil {
				vs = append(vs, listed{n, *o.LastModified})
			}
		}
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].seq < vs[j].seq })
	at := map[int64]time.Time{}
	for _, v := range vs {
		at[v.seq] = v.modified
	}
	now, ok := at[seq]
	if !ok {
		return // the listing does not show this write yet
	}
	old := func(n int64) bool {
		t, ok := at[n]
		return ok && (s.pruneAfter < 0 || now.Sub(t) >= s.pruneAfter)
	}
	removed := int64(-1) // the last name this call removed
	for _, v := range vs {
		n := v.seq
		if n > seq-2 {
			return
		}
		if n == 1 {
			if _, listed := at[2]; !listed {
				continue // 2 is gone, so 1 was stubbed first
			}
		}
		if !old(n + 1) {
			return
		}
		if n == 1 {
			m, ok, err := s.headVersion(ctx, key, 1)
			if err != nil || !ok {
				return
			}
			if m.kind != kindStub {
				if _, err := s.client.PutObject(ctx, &osssdk.PutObjectRequest{Bucket: &s.bucket, Key: osssdk.Ptr(s.versionName(key, 1)),
					Body: bytes.NewReader(nil), Metadata: meta{id: newID(), kind: kindStub}.headers()}); err != nil {
					return
				}
			}
			removed = 1
			continue
		}
		if removed != n-1 {
			m, ok, err := s.headVersion(ctx, key, n-1)
			if err != nil || ok && !(n-1 == 1 && m.kind == kindStub) {
				return // a version below n is still there: the listing missed it
			}
		}
		if _, err := s.client.DeleteObject(ctx, &osssdk.DeleteObjectRequest{Bucket: &s.bucket, Key: osssdk.Ptr(s.versionName(key, n))}); err != nil {
			return
		}
		removed = n
	}
}
