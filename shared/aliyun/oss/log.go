package oss

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	osssdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

// How the version log is kept consistent, from two documented OSS
// guarantees only: a PutObject with x-oss-forbid-overwrite: true fails with
// 409 FileAlreadyExists when the name exists (on a bucket that has never
// had versioning), and an object is readable at once after its upload and
// gone at once after its deletion. Listings are used as hints, never as
// evidence: OSS documents no list-after-write consistency.
//
// Every write of version n+1 follows a version n that the writer read
// (id a): it checks with a HeadObject that name n still holds a, writes
// n+1 with forbid-overwrite, and then confirms (see confirm). The legit
// versions of a key are therefore 1..M, each written over the one before.
// Pruning removes old versions in increasing order only: name k is
// deleted after name k-1 is gone, and name 1 is overwritten with a stub
// instead of deleted, so that no create can ever win it twice (see prune).
// Hence: while version n still holds the object a, no name above n has
// been removed, and a forbid-overwrite write of n+1 can only succeed if
// n+1 was never written — it is the one winner of n+1.

// entry is one version as read.
type entry struct {
	seq int64
	meta
	data []byte
}

// maxSettle bounds the rounds resolve tries; maxChase the versions it
// follows past its starting point within one round.
const (
	maxSettle = 8
	maxChase  = 256
)

// resolve finds the current version of key (seq 0: the key was never
// written) and reads it, with its bytes when withData. It starts from a
// hint (the last version this Store saw, or the newest name a listing
// shows), follows newer versions with HeadObject until one is missing, and
// accepts the version it lands on only if its predecessor still holds the
// object it was written over: that excludes versions recreated under a
// pruned name. The result is current at some instant during the call.
func (s *Store) resolve(ctx context.Context, key string, withData bool) (entry, error) {
	m, fromHint := s.hint(key)
	for round := range maxSettle {
		if !fromHint || round > 0 {
			var err error
			if m, err = s.listHead(ctx, key); err != nil {
				return entry{}, err
			}
		}
		if m == 0 {
			// Name 1 is never deleted (pruning leaves a stub): missing, it
			// was never written.
			_, ok, err := s.headVersion(ctx, key, 1)
			if err != nil || !ok {
				s.hints.Delete(key)
				return entry{}, err
			}
			m = 1
		}
		var err error
		if m, err = s.chase(ctx, key, m); err != nil {
			return entry{}, err
		}
		e, settled, err := s.readHead(ctx, key, m, withData)
		if err != nil {
			return entry{}, err
		}
		if settled {
			s.hints.Store(key, m)
			return e, nil
		}
	}
	return entry{}, fmt.Errorf("no current version of %s settled in %d reads: its log kept changing, or listings lag far behind it", key, maxSettle)
}

// chase returns the first version from m on whose successor is missing.
func (s *Store) chase(ctx context.Context, key string, m int64) (int64, error) {
	for range maxChase {
		_, ok, err := s.headVersion(ctx, key, m+1)
		if err != nil || !ok {
			return m, err
		}
		m++
	}
	return 0, fmt.Errorf("the version log of %s grew by %d versions during one read", key, maxChase)
}

// readHead reads version m, whose successor was just found missing, and
// its predecessor's metadata. settled is false when m is gone, is the
// stub, or was not written over the object now at m-1: the caller starts
// again from a listing.
func (s *Store) readHead(ctx context.Context, key string, m int64, withData bool) (e entry, settled bool, err error) {
	var (
		pred           meta
		predOK         bool
		predErr, exErr error
		wg             sync.WaitGroup
		found          bool
	)
	if m > 1 {
		wg.Go(func() { pred, predOK, predErr = s.headVersion(ctx, key, m-1) })
	}
	if withData {
		e, found, exErr = s.getVersion(ctx, key, m)
	} else {
		e.seq = m
		e.meta, found, exErr = s.headVersion(ctx, key, m)
	}
	wg.Wait()
	if err = errors.Join(exErr, predErr); err != nil {
		return entry{}, false, err
	}
	if !found || e.kind == kindStub || m > 1 && (!predOK || pred.id != e.prev) {
		return entry{}, false, nil
	}
	if e.kind != kindData && e.kind != kindTombstone || e.id == "" {
		return entry{}, false, fmt.Errorf("%s is not a run-state version (kind %q, id %q): remove what another tool wrote under the store's prefix", s.versionName(key, m), e.kind, e.id)
	}
	return e, true, nil
}

// listHead returns the newest version a listing shows for key, 0 for none.
func (s *Store) listHead(ctx context.Context, key string) (int64, error) {
	res, err := s.client.ListObjectsV2(ctx, &osssdk.ListObjectsV2Request{
		Bucket: &s.bucket, Prefix: osssdk.Ptr(s.logPrefix(key)), MaxKeys: 10,
	})
	if err != nil {
		return 0, err
	}
	for _, o := range res.Contents {
		if k, seq, ok := parseName(osssdk.ToString(o.Key)[len(s.prefix):]); ok && k == key {
			return seq, nil
		}
	}
	return 0, nil
}

func (s *Store) hint(key string) (int64, bool) {
	v, ok := s.hints.Load(key)
	if !ok {
		return 0, false
	}
	return v.(int64), true
}

// headVersion reads the metadata of version seq; ok is false when no
// object has its name.
func (s *Store) headVersion(ctx context.Context, key string, seq int64) (meta, bool, error) {
	res, err := s.client.HeadObject(ctx, &osssdk.HeadObjectRequest{Bucket: &s.bucket, Key: osssdk.Ptr(s.versionName(key, seq))})
	if isMissing(err) {
		return meta{}, false, nil
	}
	if err != nil {
		return meta{}, false, err
	}
	return metaOf(res.Metadata), true, nil
}

// getVersion reads version seq with its bytes.
func (s *Store) getVersion(ctx context.Context, key string, seq int64) (entry, bool, error) {
	res, err := s.client.GetObject(ctx, &osssdk.GetObjectRequest{Bucket: &s.bucket, Key: osssdk.Ptr(s.versionName(key, seq))})
	if isMissing(err) {
		return entry{}, false, nil
	}
	if err != nil {
		return entry{}, false, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return entry{}, false, err
	}
	return entry{seq: seq, meta: metaOf(res.Metadata), data: data}, true, nil
}

// put creates version seq; it fails with 409 FileAlreadyExists (see
// isTaken) when the name exists. It is sent without blind retries.
func (s *Store) put(ctx context.Context, key string, seq int64, m meta, data []byte) error {
	_, err := s.client.PutObject(ctx, &osssdk.PutObjectRequest{
		Bucket:          &s.bucket,
		Key:             osssdk.Ptr(s.versionName(key, seq)),
		Body:            bytes.NewReader(data),
		ForbidOverwrite: osssdk.Ptr("true"),
		Metadata:        m.headers(),
	}, noBlindRetry)
	return err
}

// advance writes version n+1 of key, of kind to and holding data, over
// version n, which must still be the object a of kind from. lost reports
// that it did not win n+1: n no longer holds a, another writer took n+1
// first, or the name had been pruned (see confirm); nothing current was
// written then. Any other failure is returned as err, and when it comes
// after the write was sent the outcome is unknown.
func (s *Store) advance(ctx context.Context, key string, n int64, a string, from, to kind, data []byte) (v entry, lost bool, err error) {
	pm, ok, err := s.headVersion(ctx, key, n)
	if err != nil {
		return entry{}, false, err
	}
	if !ok || pm.id != a || pm.kind != from {
		return entry{}, true, nil
	}
	w := meta{id: newID(), prev: a, kind: to}
	if err := s.put(ctx, key, n+1, w, data); err != nil {
		if isTaken(err) {
			return entry{}, true, nil
		}
		return entry{}, false, err
	}
	if lost, err := s.confirm(ctx, key, n, a, w.id); lost || err != nil {
		return entry{}, lost, err
	}
	s.hints.Store(key, n+1)
	s.prune(ctx, key, n+1, to)
	return entry{seq: n + 1, meta: w}, false, nil
}

// confirm decides whether the object w just written at n+1, over the
// object a at n, is the one winner of n+1. The forbid-overwrite write
// proves n+1 was free, not that it was never taken: between the check of
// n and the write, versions up to n+2 may have been written and n, n+1
// pruned, leaving a free name below the newest version.
//
//   - n still holds a: nothing above n was pruned (pruning goes upwards),
//     so n+1 was never taken before: w won.
//   - n+2 exists and was written over w: someone read w as current: w won.
//   - n+2 exists over another object: another n+1 was current, and w was
//     written after it was pruned. w never was current; lost, and w is
//     deleted (best effort: it lies below the two newest versions).
//   - neither: w was current and both neighbours were pruned since, or
//     w was not; ErrOutcomeUnknown. With pruning held back by PruneAfter,
//     this takes a write that stalls that long.
func (s *Store) confirm(ctx context.Context, key string, n int64, a, w string) (lost bool, err error) {
	unknown := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: wrote version %d, could not check it: %v", ErrOutcomeUnknown, n+1, err)
	}
	pm, ok, err := s.headVersion(ctx, key, n)
	if err != nil {
		return false, unknown(err)
	}
	if ok && pm.id == a {
		return false, nil
	}
	sm, ok, err := s.headVersion(ctx, key, n+2)
	if err != nil {
		return false, unknown(err)
	}
	switch {
	case ok && sm.prev == w:
		return false, nil
	case ok:
		_, _ = s.client.DeleteObject(ctx, &osssdk.DeleteObjectRequest{Bucket: &s.bucket, Key: osssdk.Ptr(s.versionName(key, n+1))})
		return true, nil
	}
	return false, fmt.Errorf("%w: wrote version %d, but versions %d and %d were pruned meanwhile", ErrOutcomeUnknown, n+1, n, n+2)
}

// isMissing reports an object that does not exist (not a missing bucket).
func isMissing(err error) bool {
	var se *osssdk.ServiceError
	return errors.As(err, &se) && se.StatusCode == http.StatusNotFound && se.Code != "NoSuchBucket"
}

// isTaken reports a forbid-overwrite write refused because the name
// exists.
func isTaken(err error) bool {
	var se *osssdk.ServiceError
	return errors.As(err, &se) && (se.Code == "FileAlreadyExists" || se.StatusCode == http.StatusConflict)
}
