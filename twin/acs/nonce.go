package acs

import (
	"hash/maphash"
	"sync"
)

// nonceShards spreads the nonce cache over independent locks so concurrent
// verifications rarely contend.
const nonceShards = 32

// nonceCache remembers signature nonces until their request's timestamp
// leaves the skew window, so a replayed request is refused. Memory is
// bounded: each shard forgets its oldest nonce once it holds
// maxNonces/nonceShards of them, so under sustained load above maxNonces per
// skew window a
// nonce can be forgotten before its window ends.
type nonceCache struct {
	seed   maphash.Seed
	perCap int
	shards [nonceShards]nonceShard
}

type nonceShard struct {
	mu   sync.Mutex
	seen map[string]int64 // nonce -> expiry, unix nanoseconds
	q    []nonceEntry     // insertion order; q[head:] are live
	head int
}

type nonceEntry struct {
	nonce   string
	expires int64
}

func newNonceCache(maxNonces int) *nonceCache {
	c := &nonceCache{seed: maphash.MakeSeed(), perCap: maxNonces / nonceShards}
	if c.perCap < 1 {
		c.perCap = 1
	}
	for i := range c.shards {
		c.shards[i].seen = map[string]int64{}
	}
	return c
}

// use records nonce as used until expires and reports whether it was unused
// (or its earlier use has expired) at now.
func (c *nonceCache) use(nonce string, expires, now int64) bool {
	s := &c.shards[maphash.String(c.seed, nonce)%nonceShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.seen[nonce]; ok {
		if exp >= now {
			return false
		}
		// Seen long ago and not yet evicted: accept and extend in place.
		s.seen[nonce] = expires
		return true
	}
	for s.head < len(s.q) && (len(s.q)-s.head >= c.perCap || s.q[s.head].expires < now) {
		delete(s.seen, s.q[s.head].nonce)
		s.q[s.head] = nonceEntry{}
		s.head++
	}
	if s.head > 0 && s.head >= len(s.q)/2 {
		n := copy(s.q, s.q[s.head:])
		clear(s.q[n:])
		s.q = s.q[:n]
		s.head = 0
	}
	s.q = append(s.q, nonceEntry{nonce: nonce, expires: expires})
	s.seen[nonce] = expires
	return true
}
