package oss

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	osssdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"

	"github.com/kmsmig/kmsmig/shared/runstate"
)

// MigrateLayout moves run state of the earlier layout — the object
// <prefix><key>, one per key, updated in place — into the version log:
// each object becomes its key's first version and is then deleted; at the
// end the prefix gets the layout marker, so that Open accepts it. It
// returns the number of objects moved.
//
// Run it with every function stopped: an earlier kmsmig still writing to
// the prefix would write where this version does not read. It can be run
// again after a failure: a key whose log already holds the same bytes is
// only cleaned up. It refuses a versioned bucket, an object whose name is
// not a valid key, and a key whose log holds other bytes than its earlier
// object (then neither is touched). Cancellation: ctx.Err().
func (s *Store) MigrateLayout(ctx context.Context) (int, error) {
	res, err := s.client.GetBucketVersioning(ctx, &osssdk.GetBucketVersioningRequest{Bucket: &s.bucket})
	if err != nil {
		return 0, s.refusal(ctx, "GetBucketVersioning", err)
	}
	if st := osssdk.ToString(res.VersionStatus); st != "" {
		return 0, fmt.Errorf("%w: bucket %s has versioning %s: move the state to a bucket that never had versioning first", ErrVersionedBucket, s.bucket, st)
	}
	// The names first, in one pass: the versions written below land
	// under the same prefix.
	names, err := s.earlierObjects(ctx, math.MaxInt)
	if err != nil {
		return 0, s.fail(ctx, "migrate", s.prefix, err)
	}
	moved := 0
	for _, name := range names {
		if err := s.migrateObject(ctx, name); err != nil {
			return moved, err
		}
		moved++
	}
	_, err = s.client.PutObject(ctx, &osssdk.PutObjectRequest{
		Bucket: &s.bucket, Key: osssdk.Ptr(s.prefix + markerName), Body: bytes.NewReader([]byte(layoutText)),
		ForbidOverwrite: osssdk.Ptr("true"), Metadata: map[string]string{metaLayout: layoutValue},
	}, noBlindRetry)
	if err != nil && !isTaken(err) {
		return moved, s.fail(ctx, "migrate", s.prefix+markerName, err)
	}
	return moved, nil
}

func (s *Store) migrateObject(ctx context.Context, name string) error {
	key := name[len(s.prefix):]
	if err := runstate.ValidateKey(key); err != nil {
		return fmt.Errorf("ossstore: migrate oss://%s/%s: not a run-state key (%v): move it out of the prefix", s.bucket, name, err)
	}
	res, err := s.client.GetObject(ctx, &osssdk.GetObjectRequest{Bucket: &s.bucket, Key: &name})
	if err != nil {
		return s.fail(ctx, "migrate", key, err)
	}
	data, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return s.fail(ctx, "migrate", key, err)
	}
	if _, err := s.Create(ctx, key, data); errors.Is(err, runstate.ErrConflict) {
		cur, gerr := s.Get(ctx, key)
		if gerr != nil {
			return gerr
		}
		if !bytes.Equal(cur.Data, data) {
			return fmt.Errorf("ossstore: migrate %s: its log (version %s) and oss://%s/%s hold different bytes; decide which is right and delete the other", key, cur.Version, s.bucket, name)
		}
	} else if err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &osssdk.DeleteObjectRequest{Bucket: &s.bucket, Key: &name}); err != nil {
		return s.fail(ctx, "migrate", key, err)
	}
	return nil
}
