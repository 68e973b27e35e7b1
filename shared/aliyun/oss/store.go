package oss

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	osssdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/retry"

	"github.com/kmsmig/kmsmig/shared/runstate"
)

// ErrOutcomeUnknown: a write was sent but the store cannot tell whether it
// became current (see Store.Update). Nothing is retried; re-read.
var ErrOutcomeUnknown = errors.New("ossstore: outcome unknown")

// Config names where the store keeps its objects.
type Config struct {
	// Bucket holds the objects. Required; it must never have had
	// versioning (Check refuses it otherwise).
	Bucket string
	// Prefix is prepended to every object name, e.g. "kmsmig/runstate"; a
	// trailing slash is added when missing. Empty stores at the bucket's
	// root. The prefix should hold nothing but the store.
	Prefix string
	// PruneAfter: a version is pruned once its successor is that old (and
	// two newer versions exist). Zero means DefaultPruneAfter; negative
	// prunes regardless of age (tests).
	PruneAfter time.Duration
}

// Store is a runstate.Store in an OSS bucket, keeping each key as a log of
// create-only versions (see the package documentation). It is safe for
// concurrent use, and by several Stores and processes on one prefix.
type Store struct {
	client     *osssdk.Client
	bucket     string
	prefix     string
	pruneAfter time.Duration
	// hints maps a key to the last version this Store saw: where resolve
	// starts looking, saving a listing. Never trusted as evidence.
	hints sync.Map
}

var _ runstate.Store = (*Store)(nil)

// New returns a Store using client (configured by the caller with region,
// endpoint and credentials). It fails when the bucket is empty or the
// prefix is not a valid key prefix or too long; it does not contact OSS
// (Open does, and checks the bucket).
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
	if len(prefix)+runstate.MaxKeyLen+logOverhead > maxObjectName {
		return nil, fmt.Errorf("ossstore: prefix %q too long: a version of a %d-byte key is named with %d more bytes, and OSS allows %d", prefix, runstate.MaxKeyLen, len(prefix)+logOverhead, maxObjectName)
	}
	pruneAfter := cfg.PruneAfter
	if pruneAfter == 0 {
		pruneAfter = DefaultPruneAfter
	}
	return &Store{client: client, bucket: cfg.Bucket, prefix: prefix, pruneAfter: pruneAfter}, nil
}

// writeRetryer retries a create-only write only after RequestTimeTooSkewed,
// which proves the write did not happen (and lets the SDK correct its
// clock); any other failure may hide a write that landed, and a retry of
// it would be refused by the write itself.
var writeRetryer = retry.NewStandard(func(o *retry.RetryOptions) {
	o.ErrorRetryables = []retry.ErrorRetryable{skewOnly{}}
})

type skewOnly struct{}

func (skewOnly) IsErrorRetryable(err error) bool {
	var se *osssdk.ServiceError
	return errors.As(err, &se) && se.Code == "RequestTimeTooSkewed"
}

func noBlindRetry(o *osssdk.Options) { o.Retryer = writeRetryer }

// maxRounds bounds the retries of Create and of an unconditional Delete
// that lose races to other writers.
const maxRounds = 16

// Get returns the current version of key. Not found (never written, or
// deleted): runstate.ErrNotFound. Never conflicts. Cancellation:
// ctx.Err(). It reads from OSS, not from a listing: what it returns was
// current at some instant during the call.
func (s *Store) Get(ctx context.Context, key string) (runstate.Object, error) {
	if err := s.check(ctx, key); err != nil {
		return runstate.Object{}, err
	}
	e, err := s.resolve(ctx, key, true)
	if err != nil {
		return runstate.Object{}, s.fail(ctx, "get", key, err)
	}
	if e.seq == 0 || e.kind == kindTombstone {
		return runstate.Object{}, fmt.Errorf("ossstore: get %s: %w", key, runstate.ErrNotFound)
	}
	return runstate.Object{Key: key, Data: e.data, Version: formatVersion(e.seq, e.id)}, nil
}

// Create writes data as the first version of key, or as the version after
// its tombstone. Conflict (the key exists): runstate.ErrConflict, nothing
// current written. Cancellation: ctx.Err(), outcome unknown.
func (s *Store) Create(ctx context.Context, key string, data []byte) (runstate.Version, error) {
	if err := s.check(ctx, key); err != nil {
		return "", err
	}
	for range maxRounds {
		e, err := s.resolve(ctx, key, false)
		if err != nil {
			return "", s.fail(ctx, "create", key, err)
		}
		switch {
		case e.seq == 0:
			// Name 1 is never freed once written: winning it is winning
			// the key.
			w := meta{id: newID(), kind: kindData}
			err := s.put(ctx, key, 1, w, data)
			if isTaken(err) {
				continue
			}
			if err != nil {
				return "", s.fail(ctx, "create", key, err)
			}
			s.hints.Store(key, int64(1))
			return formatVersion(1, w.id), nil
		case e.kind == kindTombstone:
			v, lost, err := s.advance(ctx, key, e.seq, e.id, kindTombstone, kindData, data)
			if lost {
				continue
			}
			if err != nil {
				return "", s.fail(ctx, "create", key, err)
			}
			return formatVersion(v.seq, v.id), nil
		default:
			return "", fmt.Errorf("ossstore: create %s: version %d exists: %w", key, e.seq, runstate.ErrConflict)
		}
	}
	return "", fmt.Errorf("ossstore: create %s: lost %d races to other writers: %w", key, maxRounds, runstate.ErrConflict)
}

// Update writes data as the version after ifVersion. Not found (the key is
// absent or deleted): runstate.ErrNotFound. Conflict (another version is
// current, or ifVersion is empty or not one of this key's):
// runstate.ErrConflict, nothing current written. Cancellation: ctx.Err(),
// outcome unknown. ErrOutcomeUnknown when the write landed and the check
// after it cannot tell whether it won (see confirm): it takes a write
// stalled for PruneAfter.
func (s *Store) Update(ctx context.Context, key string, data []byte, ifVersion runstate.Version) (runstate.Version, error) {
	if err := s.check(ctx, key); err != nil {
		return "", err
	}
	n, a, ok := parseVersion(ifVersion)
	if !ok {
		return "", s.refuse(ctx, "update", key, ifVersion)
	}
	v, lost, err := s.advance(ctx, key, n, a, kindData, kindData, data)
	switch {
	case lost:
		return "", s.refuse(ctx, "update", key, ifVersion)
	case err != nil:
		return "", s.fail(ctx, "update", key, err)
	}
	return formatVersion(v.seq, v.id), nil
}

// Delete writes a tombstone as the version after ifVersion, or after the
// current version when ifVersion is empty; a concurrent Update of the
// version it replaces conflicts. Not found: runstate.ErrNotFound.
// Conflict: runstate.ErrConflict, nothing written. Cancellation:
// ctx.Err(), outcome unknown.
func (s *Store) Delete(ctx context.Context, key string, ifVersion runstate.Version) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	if ifVersion != "" {
		n, a, ok := parseVersion(ifVersion)
		if !ok {
			return s.refuse(ctx, "delete", key, ifVersion)
		}
		_, lost, err := s.advance(ctx, key, n, a, kindData, kindTombstone, nil)
		switch {
		case lost:
			return s.refuse(ctx, "delete", key, ifVersion)
		case err != nil:
			return s.fail(ctx, "delete", key, err)
		}
		return nil
	}
	for range maxRounds {
		e, err := s.resolve(ctx, key, false)
		if err != nil {
			return s.fail(ctx, "delete", key, err)
		}
		if e.seq == 0 || e.kind == kindTombstone {
			return fmt.Errorf("ossstore: delete %s: %w", key, runstate.ErrNotFound)
		}
		_, lost, err := s.advance(ctx, key, e.seq, e.id, kindData, kindTombstone, nil)
		if lost {
			continue
		}
		if err != nil {
			return s.fail(ctx, "delete", key, err)
		}
		return nil
	}
	return fmt.Errorf("ossstore: delete %s: lost %d races to other writers: %w", key, maxRounds, runstate.ErrConflict)
}

// List returns the keys under the store's prefix that begin with prefix,
// sorted, each once, without the deleted ones; none is an empty slice.
// Never conflicts. Cancellation: ctx.Err().
//
// It reads one listing of the prefix — pruning keeps a few objects per key,
// so its cost follows the number of keys, not their history — and asks
// OSS about the keys whose newest listed version is empty (a tombstone, or
// an empty value). It is as current as OSS's ListObjectsV2, for which OSS
// documents no list-after-write consistency.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	if err := runstate.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type head struct {
		seq   int64
		empty bool
	}
	heads := map[string]head{}
	p := s.client.NewListObjectsV2Paginator(&osssdk.ListObjectsV2Request{
		Bucket: &s.bucket, Prefix: osssdk.Ptr(s.prefix + prefix), MaxKeys: 1000,
	})
	for p.HasNext() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.fail(ctx, "list", prefix, err)
		}
		for _, o := range page.Contents {
			// Objects written by other tools may not be in the layout or
			// name valid keys; a store cannot hand out keys it would refuse.
			k, seq, ok := parseName(osssdk.ToString(o.Key)[len(s.prefix):])
			if !ok || !strings.HasPrefix(k, prefix) || runstate.ValidateKey(k) != nil {
				continue
			}
			if h, seen := heads[k]; !seen || seq > h.seq {
				heads[k] = head{seq: seq, empty: o.Size == 0}
			}
		}
	}
	keys := []string{}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
		sem      = make(chan struct{}, 8)
	)
	for k, h := range heads {
		if !h.empty {
			keys = append(keys, k)
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			live, err := s.live(ctx, k, h.seq)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if live {
				keys = append(keys, k)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, s.fail(ctx, "list", prefix, firstErr)
	}
	sort.Strings(keys)
	return keys, nil
}

// live reports whether key's version seq, empty in a listing, is a value.
func (s *Store) live(ctx context.Context, key string, seq int64) (bool, error) {
	m, ok, err := s.headVersion(ctx, key, seq)
	if err != nil {
		return false, err
	}
	if ok && m.kind == kindData {
		return true, nil
	}
	if ok && m.kind == kindTombstone {
		return false, nil
	}
	// Pruned or a stub since the listing: it was not current; ask afresh.
	e, err := s.resolve(ctx, key, false)
	return e.seq > 0 && e.kind == kindData, err
}

func (s *Store) check(ctx context.Context, key string) error {
	if err := runstate.ValidateKey(key); err != nil {
		return err
	}
	return ctx.Err()
}

// refuse answers a write whose precondition failed: ErrNotFound when the
// key is absent or deleted, ErrConflict otherwise.
func (s *Store) refuse(ctx context.Context, op, key string, ifVersion runstate.Version) error {
	e, err := s.resolve(ctx, key, false)
	if err != nil {
		return s.fail(ctx, op, key, err)
	}
	if e.seq == 0 || e.kind == kindTombstone {
		return fmt.Errorf("ossstore: %s %s: %w", op, key, runstate.ErrNotFound)
	}
	return fmt.Errorf("ossstore: %s %s: version %q is not current (%d is): %w", op, key, ifVersion, e.seq, runstate.ErrConflict)
}

// fail turns an error into the store's: ctx errors unchanged, OSS
// refusals with their code, request id and bucket, others wrapped with the
// operation and key. A missing bucket is not ErrNotFound: it is a
// configuration error, not an absent state.
func (s *Store) fail(ctx context.Context, op, key string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	var se *osssdk.ServiceError
	if errors.As(err, &se) {
		return fmt.Errorf("ossstore: %s %s in bucket %s: %d %s: %s (request %s): %w",
			op, key, s.bucket, se.StatusCode, se.Code, se.Message, se.RequestID, err)
	}
	return fmt.Errorf("ossstore: %s %s: %w", op, key, err)
}
