package cloud

import (
	"math"
	"math/rand/v2"
	"time"
)

// Backoff is the one retry schedule every retry loop uses: exponential
// growth from Base, capped at Max, with equal jitter.
//
// The jitter rule: Delay draws uniformly from [c/2, c], where c is the
// ceiling min(Base·2^attempt, Max). Half of each wait is fixed, so retries
// never fire back-to-back; the other half is random, so concurrent callers
// that failed together do not retry together. No delay exceeds Max.
type Backoff struct {
	// Base is the ceiling of the first retry's delay (attempt 0). A Base of
	// zero or less means no delay at all.
	Base time.Duration
	// Max caps every delay. Zero or less means no cap (beyond the largest
	// time.Duration).
	Max time.Duration
}

// Delay returns the jittered wait before retry number attempt, counted from
// 0 for the first retry. A negative attempt counts as 0; attempts too large
// to double Base that often give Max (never an overflow).
func (b Backoff) Delay(attempt int) time.Duration { return Jitter(b.ceiling(attempt)) }

// ceiling is min(Base·2^attempt, Max), computed without overflow.
func (b Backoff) ceiling(attempt int) time.Duration {
	if b.Base <= 0 {
		return 0
	}
	limit := b.Max
	if limit <= 0 {
		limit = math.MaxInt64
	}
	d := min(b.Base, limit)
	for range max(attempt, 0) {
		if d > limit/2 {
			return limit
		}
		d *= 2
	}
	return d
}

// Jitter returns a duration drawn uniformly from [d/2, d], Backoff's jitter
// rule applied to a single wait; 0 when d is zero or less.
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d-d/2+1)
}
