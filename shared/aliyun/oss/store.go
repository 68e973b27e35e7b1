package oss

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	osssdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/retry"

	"github.com/kmsmig/kmsmig/shared/runstate"
)

// Config names where the store keeps its objects.
type Config struct {
	// Bucket holds the objects. Required.
	Bucket string
	// Prefix is prepended to every key, e.g. "kmsmig/runstate"; a trailing
	// slash is added when missing. Empty stores keys at the bucket's root.
	Prefix string
}

// Store is a runstate.Store in an OSS bucket. It is safe for concurrent use.
type Store struct {
	client *osssdk.Client
	bucket string
	prefix string
}

var _ runstate.Store = (*Store)(nil)

// New returns a Store using client (configured by the caller with region,
// endpoint and credentials). It fails when the bucket is empty or the
// prefix is not a valid key prefix; it does not contact OSS.
func New(client *osssdk.Client, cfg Config) (*Store, error) {
	if client == nil {
		return nil, errors.New("ossstore: nil client")
	}
	if cfg.Bucket == "" {
		return nil, errors.New("ossstore: no bucket configured")
	}
	prefix := cfg.Prefix
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	if err := runstate.ValidatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("ossstore: prefix: %w", err)
	}
	if len(prefix)+runstate.MaxKeyLen > 1023 {
		return nil, fmt.Errorf("ossstore: prefix %q too long: keys may reach %d bytes and OSS allows 1023", prefix, runstate.MaxKeyLen)
	}
	return &Store{client: client, bucket: cfg.Bucket, prefix: prefix}, nil
}

// writeRetryer retries a conditional write only after RequestTimeTooSkewed,
// which proves the write did not happen (and lets the SDK correct its
// clock); any other failure may hide a write that landed.
var writeRetryer = retry.NewStandard(func(o *retry.RetryOptions) {
	o.ErrorRetryables = []retry.ErrorRetryable{skewOnly{}}
})

type skewOnly struct{}

func (skewOnly) IsErrorRetryable(err error) bool {
	var se *osssdk.ServiceError
	return errors.As(err, &se) && se.Code == "RequestTimeTooSkewed"
}

func noBlindRetry(o *osssdk.Options) { o.Retryer = writeRetryer }

// Get returns the object at key with its ETag as Version. Not found:
// runstate.ErrNotFound. Never conflicts. Cancellation: ctx.Err().
func (s *Store) Get(ctx context.Context, key string) (runstate.Object, error) {
	if err := s.check(ctx, key); err != nil {
		return runstate.Object{}, err
	}
	res, err := s.client.GetObject(ctx, &osssdk.GetObjectRequest{Bucket: &s.bucket, Key: osssdk.Ptr(s.prefix + key)})
	if err != nil {
		return runstate.Object{}, s.fail(ctx, "get", key, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return runstate.Object{}, s.fail(ctx, "get", key, err)
	}
	return runstate.Object{Key: key, Data: data, Version: runstate.Version(osssdk.ToString(res.ETag))}, nil
}

// Create writes data at key with x-oss-forbid-overwrite. Conflict (the
// object exists): runstate.ErrConflict. Cancellation: ctx.Err(), outcome
// unknown.
func (s *Store) Create(ctx context.Context, key string, data []byte) (runstate.Version, error) {
	if err := s.check(ctx, key); err != nil {
		return "", err
	}
	res, err := s.client.PutObject(ctx, &osssdk.PutObjectRequest{
		Bucket:          &s.bucket,
		Key:             osssdk.Ptr(s.prefix + key),
		Body:            bytes.NewReader(data),
		ForbidOverwrite: osssdk.Ptr("true"),
	}, noBlindRetry)
	if err != nil {
		return "", s.fail(ctx, "create", key, err)
	}
	return runstate.Version(osssdk.ToString(res.ETag)), nil
}

// Update writes data at key with If-Match: ifVersion. Not found:
// runstate.ErrNotFound. Conflict (another ETag is current, or ifVersion is
// empty): runstate.ErrConflict. Cancellation: ctx.Err(), outcome unknown.
func (s *Store) Update(ctx context.Context, key string, data []byte, ifVersion runstate.Version) (runstate.Version, error) {
	if err := s.check(ctx, key); err != nil {
		return "", err
	}
	if ifVersion == "" {
		// The SDK drops empty headers, which would make the write
		// unconditional; the empty version matches nothing.
		if _, err := s.head(ctx, key); err != nil {
			return "", s.fail(ctx, "update", key, err)
		}
		return "", fmt.Errorf("ossstore: update %s: empty version: %w", key, runstate.ErrConflict)
	}
	res, err := s.client.PutObject(ctx, &osssdk.PutObjectRequest{
		Bucket:        &s.bucket,
		Key:           osssdk.Ptr(s.prefix + key),
		Body:          bytes.NewReader(data),
		RequestCommon: osssdk.RequestCommon{Headers: map[string]string{"If-Match": string(ifVersion)}},
	}, noBlindRetry)
	if err != nil {
		if isCode(err, "PreconditionFailed") {
			// OSS may answer 412 for a missing object too; tell them apart.
			if _, herr := s.head(ctx, key); herr != nil {
				return "", s.fail(ctx, "update", key, herr)
			}
		}
		return "", s.fail(ctx, "update", key, err)
	}
	return runstate.Version(osssdk.ToString(res.ETag)), nil
}

// Delete removes the object at key. Not found: runstate.ErrNotFound.
// Conflict (ifVersion non-empty and not the current ETag):
// runstate.ErrConflict. Cancellation: ctx.Err(), outcome unknown.
//
// OSS has no conditional delete: the ETag is checked with a HeadObject just
// before the DeleteObject, so an Update landing between the two is deleted
// with it. Where that matters, write a tombstone with Update instead.
func (s *Store) Delete(ctx context.Context, key string, ifVersion runstate.Version) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	etag, err := s.head(ctx, key)
	if err != nil {
		return s.fail(ctx, "delete", key, err)
	}
	if ifVersion != "" && !sameETag(etag, string(ifVersion)) {
		return fmt.Errorf("ossstore: delete %s: version %s is not current: %w", key, ifVersion, runstate.ErrConflict)
	}
	if _, err := s.client.DeleteObject(ctx, &osssdk.DeleteObjectRequest{Bucket: &s.bucket, Key: osssdk.Ptr(s.prefix + key)}); err != nil {
		return s.fail(ctx, "delete", key, err)
	}
	return nil
}

// List returns the keys under the store's prefix that begin with prefix,
// sorted (OSS lists in key order); none is an empty slice. Never conflicts.
// Cancellation: ctx.Err().
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	if err := runstate.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	keys := []string{}
	p := s.client.NewListObjectsV2Paginator(&osssdk.ListObjectsV2Request{
		Bucket:  &s.bucket,
		Prefix:  osssdk.Ptr(s.prefix + prefix),
		MaxKeys: 1000,
	})
	for p.HasNext() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.fail(ctx, "list", prefix, err)
		}
		for _, o := range page.Contents {
			k := strings.TrimPrefix(osssdk.ToString(o.Key), s.prefix)
			// Objects written by other tools may not be valid keys; a
			// store cannot hand out keys it would refuse.
			if runstate.ValidateKey(k) == nil {
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}

func (s *Store) check(ctx context.Context, key string) error {
	if err := runstate.ValidateKey(key); err != nil {
		return err
	}
	return ctx.Err()
}

// head returns the current ETag of key.
func (s *Store) head(ctx context.Context, key string) (string, error) {
	res, err := s.client.HeadObject(ctx, &osssdk.HeadObjectRequest{Bucket: &s.bucket, Key: osssdk.Ptr(s.prefix + key)})
	if err != nil {
		return "", err
	}
	return osssdk.ToString(res.ETag), nil
}

func sameETag(a, b string) bool {
	norm := func(s string) string { return strings.ToUpper(strings.Trim(s, `"`)) }
	return norm(a) == norm(b)
}

func isCode(err error, code string) bool {
	var se *osssdk.ServiceError
	return errors.As(err, &se) && se.Code == code
}

// fail turns an SDK error into the store's: ctx errors unchanged, missing
// objects ErrNotFound, failed preconditions ErrConflict, others wrapped with
// the operation and key. A missing bucket is not ErrNotFound: it is a
// configuration error, not an absent state.
func (s *Store) fail(ctx context.Context, op, key string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	var se *osssdk.ServiceError
	if errors.As(err, &se) {
		switch {
		case se.Code == "NoSuchKey":
			return fmt.Errorf("ossstore: %s %s: %w", op, key, runstate.ErrNotFound)
		case se.Code == "FileAlreadyExists", se.Code == "PreconditionFailed",
			se.StatusCode == http.StatusConflict, se.StatusCode == http.StatusPreconditionFailed:
			return fmt.Errorf("ossstore: %s %s: %s: %w", op, key, se.Code, runstate.ErrConflict)
		}
		return fmt.Errorf("ossstore: %s %s in bucket %s: %d %s: %s (request %s): %w",
			op, key, s.bucket, se.StatusCode, se.Code, se.Message, se.RequestID, err)
	}
	return fmt.Errorf("ossstore: %s %s: %w", op, key, err)
}
