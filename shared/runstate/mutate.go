package runstate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kmsmig/kmsmig/shared/cloud"
)

// Outcome says what a Mutate did, so handlers can report it.
type Outcome string

// The outcomes of Mutate.
const (
	Unchanged Outcome = "unchanged" // f returned the bytes already stored
	Created   Outcome = "created"   // the key was absent and now holds f's result
	Updated   Outcome = "updated"   // the key held other bytes and now holds f's result
)

// Result is what Mutate did and the Version now stored.
type Result struct {
	Outcome Outcome
	Version Version
}

// MaxMutateAttempts bounds how many compare-and-swap rounds Mutate tries
// before it gives up with ErrConflict.
const MaxMutateAttempts = 64

// mutateBackoff spaces the rounds of a contended Mutate: they race other
// writers of the same key in the same store, so the waits stay short.
var mutateBackoff = cloud.Backoff{Base: time.Millisecond, Max: 50 * time.Millisecond}

// MutateFunc computes the new bytes of a key from its current bytes; exists
// is false (and old nil) when the key is absent. It may run several times and
// must not have side effects beyond computing its result. Returning an error
// aborts Mutate with that error.
type MutateFunc func(old []byte, exists bool) ([]byte, error)

// Mutate reads key, applies f and writes the result with compare-and-swap
// (Create when absent, Update at the version read), retrying from a fresh
// read on conflict, with a short jittered back-off, up to MaxMutateAttempts
// rounds. When f returns the bytes already stored, nothing is written.
//
// Errors: f's error, wrapped; ErrConflict (wrapped) when every round lost a
// race; ctx.Err() unchanged on cancellation; ErrNotFound is never returned
// (an absent key is passed to f). A transport failure is returned as is: the
// write may or may not have happened, so callers re-read rather than blindly
// re-apply f.
func Mutate(ctx context.Context, s Store, key string, f MutateFunc) (Result, error) {
	if err := ValidateKey(key); err != nil {
		return Result{}, err
	}
	for attempt := 1; ; attempt++ {
		res, lost, err := mutateOnce(ctx, s, key, f)
		if !lost {
			return res, err
		}
		if attempt == MaxMutateAttempts {
			return Result{}, fmt.Errorf("runstate: mutate %s: gave up after %d attempts: %w (last: %v)", key, attempt, ErrConflict, err)
		}
		if err := cloud.Sleep(ctx, mutateBackoff.Delay(attempt-1)); err != nil {
			return Result{}, err
		}
	}
}

// mutateOnce runs one read-compute-write round; lost reports that the write
// lost a race (ErrConflict, or ErrNotFound when the object was deleted
// between the read and the update) and the round should be retried.
func mutateOnce(ctx context.Context, s Store, key string, f MutateFunc) (res Result, lost bool, err error) {
	obj, err := s.Get(ctx, key)
	exists := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Result{}, false, err
	}
	data, err := f(obj.Data, exists)
	if err != nil {
		return Result{}, false, fmt.Errorf("runstate: mutate %s: %w", key, err)
	}
	if !exists {
		v, err := s.Create(ctx, key, data)
		if err != nil {
			return Result{}, errors.Is(err, ErrConflict), err
		}
		return Result{Outcome: Created, Version: v}, false, nil
	}
	if bytes.Equal(data, obj.Data) {
		return Result{Outcome: Unchanged, Version: obj.Version}, false, nil
	}
	v, err := s.Update(ctx, key, data, obj.Version)
	if err != nil {
		return Result{}, errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound), err
	}
	return Result{Outcome: Updated, Version: v}, false, nil
}

// GetJSON reads key and decodes it as JSON into a T. Not found: ErrNotFound.
// A body that is not a T's JSON is an error naming the key. Cancellation:
// ctx.Err().
func GetJSON[T any](ctx context.Context, s Store, key string) (T, Version, error) {
	var v T
	obj, err := s.Get(ctx, key)
	if err != nil {
		return v, "", err
	}
	if err := json.Unmarshal(obj.Data, &v); err != nil {
		return v, "", fmt.Errorf("runstate: decode %s: %w", key, err)
	}
	return v, obj.Version, nil
}

// MutateJSON is Mutate over a JSON-encoded T: f receives the decoded value
// (the zero T when exists is false) and changes it in place. The value is
// stored as indented JSON with a trailing newline, so that state files read
// well; when f leaves it encoding to the stored bytes, nothing is written.
// Errors are Mutate's, plus a decode error naming the key when the stored
// bytes are not a T's JSON.
func MutateJSON[T any](ctx context.Context, s Store, key string, f func(v *T, exists bool) error) (Result, error) {
	return Mutate(ctx, s, key, func(old []byte, exists bool) ([]byte, error) {
		var v T
		if exists {
			if err := json.Unmarshal(old, &v); err != nil {
				return nil, fmt.Errorf("decode: %w", err)
			}
		}
		if err := f(&v, exists); err != nil {
			return nil, err
		}
		out, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("encode: %w", err)
		}
		return append(out, '\n'), nil
	})
}

// ReadConcurrency is how many objects GetAllJSON reads at a time: a run of
// a thousand lanes has more than a thousand batch states, and each read of
// the OSS store is a few round trips; one after another they took a poll
// invocation most of its minute.
const ReadConcurrency = 16

// GetAllJSON reads keys, ReadConcurrency at a time, as GetJSON does; the
// values and errors are in keys' order (a missing key: ErrNotFound in its
// place). Cancellation: each read returns ctx.Err().
func GetAllJSON[T any](ctx context.Context, s Store, keys []string) ([]T, []error) {
	vs, errs := make([]T, len(keys)), make([]error, len(keys))
	sem := make(chan struct{}, ReadConcurrency)
	var wg sync.WaitGroup
	for i, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			vs[i], _, errs[i] = GetJSON[T](ctx, s, k)
		})
	}
	wg.Wait()
	return vs, errs
}
