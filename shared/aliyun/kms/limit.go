package kms

import (
	"context"
	"sync"
	"time"
)

// Group is a shared-gateway quota group: calls in one group share one QPS
// budget per account and region.
type Group string

// The quota groups of the KMS shared gateway that the migration calls into.
const (
	GroupKeyRead      Group = "key-read"      // DescribeKey, ListKeys, ListAliases*, ListKeyVersions
	GroupKeyWrite     Group = "key-write"     // UpdateRotationPolicy and other key/alias/tag changes
	GroupTags         Group = "tags"          // ListResourceTags
	GroupSecretRead   Group = "secret-read"   // ListSecrets, DescribeSecret, ListSecretVersionIds
	GroupSecretWrite  Group = "secret-write"  // UpdateSecretRotationPolicy
	GroupInstanceRead Group = "instance-read" // ListKmsInstances, GetKmsInstance, GetKmsInstanceQuotaInfos, DescribeRegions
	GroupMigration    Group = "migration"     // migration task operations
)

// DefaultQuotas are the shared gateway's documented quotas per account and
// region, in calls per second. Instance and migration calls have no
// published quota; they get a conservative one.
func DefaultQuotas() map[Group]float64 {
	return map[Group]float64{
		GroupKeyRead:      50,
		GroupKeyWrite:     30,
		GroupTags:         300,
		GroupSecretRead:   40,
		GroupSecretWrite:  30,
		GroupInstanceRead: 20,
		GroupMigration:    10,
	}
}

// bucket is a token bucket whose rate backs off multiplicatively when the
// provider throttles and recovers additively after each success, so that a
// quota shared with other callers is found without being told.
type bucket struct {
	mu      sync.Mutex
	ceiling float64 // configured rate, tokens/s
	rate    float64 // current rate, ≤ ceiling
	tokens  float64
	burst   float64
	last    time.Time
}

func newBucket(rate float64) *bucket {
	// A burst of a tenth of a second's quota absorbs timer overshoot
	// without ever letting the provider see more than the quota in any
	// second.
	burst := max(1, rate/10)
	return &bucket{ceiling: rate, rate: rate, tokens: burst, burst: burst}
}

// wait blocks until a call may be sent, or ctx ends (returning its error
// unchanged).
func (b *bucket) wait(ctx context.Context) error {
	for {
		b.mu.Lock()
		now := time.Now()
		if b.last.IsZero() {
			b.last = now
		}
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
		if b.tokens >= 1 {
			b.tokens--
			b.mu.Unlock()
			return nil
		}
		delay := time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
		b.mu.Unlock()
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// throttled halves the rate (never below a tenth of the ceiling).
func (b *bucket) throttled() {
	b.mu.Lock()
	b.rate = max(b.rate*0.5, b.ceiling/10)
	b.mu.Unlock()
}

// succeeded gives back a little of the rate lost to throttling.
func (b *bucket) succeeded() {
	b.mu.Lock()
	if b.rate < b.ceiling {
		b.rate = min(b.ceiling, b.rate+b.ceiling/50)
	}
	b.mu.Unlock()
}

// limiter holds one bucket per account, region and group.
type limiter struct {
	quotas  map[Group]float64
	mu      sync.Mutex
	buckets map[limitKey]*bucket
}

type limitKey struct {
	account, region string
	group           Group
}

func newLimiter(quotas map[Group]float64) *limiter {
	return &limiter{quotas: quotas, buckets: map[limitKey]*bucket{}}
}

// bucket returns the bucket for a key, or nil when the group is unlimited.
func (l *limiter) bucket(account, region string, g Group) *bucket {
	rate := l.quotas[g]
	if rate <= 0 {
		return nil
	}
	k := limitKey{account, region, g}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[k]
	if !ok {
		b = newBucket(rate)
		l.buckets[k] = b
	}
	return b
}
