package chaos

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kmsmig/kmsmig/shared/audit"
	"github.com/kmsmig/kmsmig/shared/runstate"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// ErrCrash is what a crashed store returns: the invocation's process is
// gone.
var ErrCrash = errors.New("chaos: injected crash")

// CrashStore is a Store that dies at its N-th write (Create, Update or
// Delete): before it (the write does not happen) or after it (the write
// happens, the caller never hears), and fails every later write. Reads go
// on working: a crashed invocation may still read, but never again write.
type CrashStore struct {
	runstate.Store
	// N is the write that crashes, from 1; 0 never crashes.
	N int
	// After applies the N-th write before failing it.
	After bool

	mu      sync.Mutex
	writes  int
	crashed bool
}

// Crashed reports whether the store has crashed.
func (c *CrashStore) Crashed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.crashed
}

func (c *CrashStore) write(do func() (runstate.Version, error)) (runstate.Version, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crashed {
		return "", ErrCrash
	}
	c.writes++
	if c.N <= 0 || c.writes != c.N {
		return do()
	}
	c.crashed = true
	if c.After {
		if _, err := do(); err != nil {
			return "", err // the write itself failed: no crash needed to lose it
		}
	}
	return "", ErrCrash
}

// Create is the wrapped store's Create, or ErrCrash.
func (c *CrashStore) Create(ctx context.Context, key string, data []byte) (runstate.Version, error) {
	return c.write(func() (runstate.Version, error) { return c.Store.Create(ctx, key, data) })
}

// Update is the wrapped store's Update, or ErrCrash.
func (c *CrashStore) Update(ctx context.Context, key string, data []byte, v runstate.Version) (runstate.Version, error) {
	return c.write(func() (runstate.Version, error) { return c.Store.Update(ctx, key, data, v) })
}

// Delete is the wrapped store's Delete, or ErrCrash.
func (c *CrashStore) Delete(ctx context.Context, key string, v runstate.Version) error {
	_, err := c.write(func() (runstate.Version, error) { return "", c.Store.Delete(ctx, key, v) })
	return err
}

// ConflictStore is a Store that refuses some compare-and-swap writes with
// runstate.ErrConflict without applying them, as if another writer had
// won the race, so that runstate.Mutate re-reads and retries. Which writes
// are refused is drawn from an RNG seeded with Seed.
type ConflictStore struct {
	runstate.Store
	// Rate is the probability that a write is refused.
	Rate float64

	mu        sync.Mutex
	rng       *mrand.Rand
	conflicts int
}

// NewConflictStore wraps s, refusing writes with probability rate.
func NewConflictStore(s runstate.Store, rate float64, seed uint64) *ConflictStore {
	return &ConflictStore{Store: s, Rate: rate, rng: mrand.New(mrand.NewPCG(seed, seed^0xc0ff1c7))}
}

// Conflicts returns how many writes were refused.
func (c *ConflictStore) Conflicts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conflicts
}

func (c *ConflictStore) refuse(op, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rng.Float64() < c.Rate {
		c.conflicts++
		return fmt.Errorf("chaos: %s %s: %w (injected)", op, key, runstate.ErrConflict)
	}
	return nil
}

// Create is the wrapped store's Create, or an injected ErrConflict.
func (c *ConflictStore) Create(ctx context.Context, key string, data []byte) (runstate.Version, error) {
	if err := c.refuse("create", key); err != nil {
		return "", err
	}
	return c.Store.Create(ctx, key, data)
}

// Update is the wrapped store's Update, or an injected ErrConflict.
func (c *ConflictStore) Update(ctx context.Context, key string, data []byte, v runstate.Version) (runstate.Version, error) {
	if err := c.refuse("update", key); err != nil {
		return "", err
	}
	return c.Store.Update(ctx, key, data, v)
}

var (
	_ runstate.Store = (*CrashStore)(nil)
	_ runstate.Store = (*ConflictStore)(nil)
)

// SkewedClock is a clock offset from a reference clock (another machine's
// clock that is off).
type SkewedClock struct {
	Ref    kmstwin.Clock
	Offset time.Duration
}

// Now returns the reference time plus the offset, in UTC.
func (c SkewedClock) Now() time.Time { return c.Ref.Now().Add(c.Offset).UTC() }

// Trail is an in-memory audit.Logger keeping every record.
type Trail struct {
	mu     sync.Mutex
	recs   []audit.Record
	logged atomic.Int64
}

// Log keeps r.
func (t *Trail) Log(_ context.Context, r audit.Record) {
	t.logged.Add(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.recs = append(t.recs, r)
}

// Flush returns nil: records are kept at once.
func (t *Trail) Flush(context.Context) error { return nil }

// Stats counts the records: every one logged is written.
func (t *Trail) Stats() audit.Stats {
	t.mu.Lock()
	n := int64(len(t.recs))
	t.mu.Unlock()
	l := t.logged.Load()
	return audit.Stats{Logged: l, Written: n, Dropped: l - n}
}

// Records returns a copy of the records kept so far.
func (t *Trail) Records() []audit.Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]audit.Record(nil), t.recs...)
}

var _ audit.Logger = (*Trail)(nil)
