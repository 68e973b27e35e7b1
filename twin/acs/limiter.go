package acs

import (
	"math"
	"sync"
	"time"
)

// Limiter is a token-bucket rate limiter keyed by (account, region, API
// group), the unit the real gateways enforce their QPS quotas on. Each group
// has a QPS (0: unlimited); a bucket holds at most max(1, ceil(QPS)) tokens,
// starts full and refills at QPS tokens per second. The KMS, SLS and OSS
// twins share the type. A Limiter is safe for concurrent use.
type Limiter struct {
	now func() time.Time

	mu      sync.RWMutex
	qps     map[string]float64
	buckets map[LimitKey]*bucket
}

// LimitKey names one bucket of a Limiter.
type LimitKey struct {
	Account, Region, Group string
}

type bucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

// NewLimiter returns a limiter with no quota set (every group unlimited).
// now is its clock; nil means time.Now.
func NewLimiter(now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{now: now, qps: map[string]float64{}, buckets: map[LimitKey]*bucket{}}
}

// SetQPS sets the quota of group; qps <= 0 (or NaN) makes it unlimited.
// Buckets of the group start again full at the new rate.
func (l *Limiter) SetQPS(group string, qps float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !(qps > 0) {
		delete(l.qps, group)
	} else {
		l.qps[group] = qps
	}
	for k := range l.buckets {
		if k.Group == group {
			delete(l.buckets, k)
		}
	}
}

// QPS returns the quota of group, 0 when unlimited.
func (l *Limiter) QPS(group string) float64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.qps[group]
}

// Allow takes one token from the bucket of (account, region, group) and
// reports whether there was one. An unlimited group always allows.
func (l *Limiter) Allow(account, region, group string) bool {
	key := LimitKey{Account: account, Region: region, Group: group}
	l.mu.RLock()
	rate, limited := l.qps[group]
	b := l.buckets[key]
	l.mu.RUnlock()
	if !limited {
		return true
	}
	if b == nil {
		l.mu.Lock()
		if rate, limited = l.qps[group]; !limited {
			l.mu.Unlock()
			return true
		}
		if b = l.buckets[key]; b == nil {
			burst := math.Max(1, math.Ceil(rate))
			b = &bucket{rate: rate, burst: burst, tokens: burst, last: l.now()}
			l.buckets[key] = b
		}
		l.mu.Unlock()
	}
	return b.take(l.now())
}

func (b *bucket) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d := now.Sub(b.last); d > 0 {
		b.tokens = math.Min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
