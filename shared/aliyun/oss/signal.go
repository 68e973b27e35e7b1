package oss

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	osssdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"

	"github.com/kmsmig/kmsmig/shared/statekeys"
)

// Signal writes data as the plain object <prefix><name> (overwriting it):
// the source of an OSS trigger, outside the store's keys. name must lie
// under statekeys.ApprovalSignalPrefix and end in .json; its content
// announces, it never decides (the store's keys do). Cancellation:
// ctx.Err().
func (s *Store) Signal(ctx context.Context, name string, data []byte) (objectURL string, err error) {
	if !isSignal(name) {
		return "", fmt.Errorf("ossstore: signal %q: want %s<name>.json", name, statekeys.ApprovalSignalPrefix)
	}
	key := s.prefix + name
	_, err = s.client.PutObject(ctx, &osssdk.PutObjectRequest{Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(data),
		ContentType: osssdk.Ptr("application/json")})
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("ossstore: write signal oss://%s/%s: %w", s.bucket, key, err)
	}
	return "oss://" + s.bucket + "/" + key, nil
}

// SignalLocation is where signals go: the bucket and the prefix of the
// OSS trigger (<store prefix>approvals/).
func (s *Store) SignalLocation() (bucket, prefix string) {
	return s.bucket, s.prefix + statekeys.ApprovalSignalPrefix
}

// isSignal reports whether name (relative to the store's prefix) is a
// signal object: approvals/<one segment>.json.
func isSignal(name string) bool {
	rest, ok := strings.CutPrefix(name, statekeys.ApprovalSignalPrefix)
	return ok && strings.HasSuffix(rest, ".json") && len(rest) > len(".json") && !strings.Contains(rest, "/")
}
