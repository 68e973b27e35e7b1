package oss_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	osssdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/oss"
	"github.com/kmsmig/kmsmig/shared/runstate"
)

// conflicts counts the compare-and-swap writes a store refused.
type conflicts struct {
	runstate.Store
	n *atomic.Int64
}

func (c conflicts) Create(ctx context.Context, key string, data []byte) (runstate.Version, error) {
	v, err := c.Store.Create(ctx, key, data)
	if errors.Is(err, runstate.ErrConflict) {
		c.n.Add(1)
	}
	return v, err
}

func (c conflicts) Update(ctx context.Context, key string, data []byte, ifVersion runstate.Version) (runstate.Version, error) {
	v, err := c.Store.Update(ctx, key, data, ifVersion)
	if errors.Is(err, runstate.ErrConflict) {
		c.n.Add(1)
	}
	return v, err
}

func increment(old []byte, exists bool) ([]byte, error) {
	if !exists {
		return []byte("1"), nil
	}
	n, err := strconv.Atoi(string(old))
	if err != nil {
		return nil, err
	}
	return []byte(strconv.Itoa(n + 1)), nil
}

// seqOf is the sequence number of a Version ("<n>.<id>").
func seqOf(t *testing.T, v runstate.Version) int {
	t.Helper()
	n, _, ok := strings.Cut(string(v), ".")
	require.True(t, ok, "version %q", v)
	seq, err := strconv.Atoi(n)
	require.NoError(t, err, "version %q", v)
	return seq
}

// raceResult is what racing read-modify-write increments did.
type raceResult struct {
	wins      []int // sequence numbers of the versions the increments wrote
	unknown   int   // increments that ended in ErrOutcomeUnknown
	conflicts int64 // writes refused along the way
	errs      []error
}

// race runs writers goroutines, each with its own SDK client and Store
// (newStore), each doing each increments of key through runstate.Mutate.
func race(t *testing.T, newStore func() *oss.Store, key string, writers, each int) raceResult {
	t.Helper()
	var (
		mu  sync.Mutex
		res raceResult
		n   atomic.Int64
		wg  sync.WaitGroup
	)
	start := make(chan struct{})
	for range writers {
		store := conflicts{Store: newStore(), n: &n}
		wg.Go(func() {
			<-start
			for range each {
				r, err := runstate.Mutate(t.Context(), store, key, increment)
				mu.Lock()
				switch {
				case errors.Is(err, oss.ErrOutcomeUnknown):
					res.unknown++
				case err != nil:
					res.errs = append(res.errs, err)
				default:
					res.wins = append(res.wins, seqOf(t, r.Version))
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	res.conflicts = n.Load()
	slices.Sort(res.wins)
	return res
}

// ownedTwin starts a twin and returns a maker of clients signed by the
// bucket's owner, a new one each call.
func ownedTwin(t *testing.T, o twinOptions) func() *osssdk.Client {
	t.Helper()
	hs, keys, _ := startTwin(t, o)
	owner, ok := keys.Account(account)
	require.True(t, ok)
	return func() *osssdk.Client { return client(hs, owner) }
}

// storeMaker returns a maker of Stores with cfg, each with its own client.
func storeMaker(t *testing.T, newClient func() *osssdk.Client, cfg oss.Config) func() *oss.Store {
	return func() *oss.Store {
		s, err := oss.New(newClient(), cfg)
		require.NoError(t, err)
		return s
	}
}

// Many writers, each with its own client, increment one counter through
// runstate.Mutate: every version has exactly one winner, the versions the
// increments report are 1..N with no gap or repeat, the counter is N, and
// the log holds, at version n, the value n written over version n-1.
func TestRaceIncrements(t *testing.T) {
	const writers, each = 16, 10
	newClient := ownedTwin(t, twinOptions{})
	const key = "runs/r1/counter"
	res := race(t, storeMaker(t, newClient, oss.Config{Bucket: bucket, Prefix: "kmsmig"}), key, writers, each)
	require.Empty(t, res.errs, "Mutate errors")
	require.Zero(t, res.unknown, "outcomes unknown without pruning")
	want := make([]int, writers*each)
	for i := range want {
		want[i] = i + 1
	}
	require.Equal(t, want, res.wins, "the versions won: one winner each, none lost")
	t.Logf("%d writers, %d increments, %d conflicts", writers, len(res.wins), res.conflicts)
	assert.Positive(t, res.conflicts, "writers that never conflicted did not race")

	c := newClient()
	s, err := oss.New(c, oss.Config{Bucket: bucket, Prefix: "kmsmig"})
	require.NoError(t, err)
	obj, err := s.Get(t.Context(), key)
	require.NoError(t, err)
	require.Equal(t, strconv.Itoa(writers*each), string(obj.Data), "counter")

	// The log itself: version n holds n and was written over version n-1.
	prev := ""
	for n := 1; n <= writers*each; n++ {
		res, err := c.GetObject(t.Context(), &osssdk.GetObjectRequest{Bucket: osssdk.Ptr(bucket), Key: osssdk.Ptr(versionName("kmsmig/"+key, n))})
		require.NoError(t, err, "version %d", n)
		data, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, strconv.Itoa(n), string(data), "version %d", n)
		require.Equal(t, prev, res.Metadata["kmsmig-prev"], "version %d was not written over version %d", n, n-1)
		prev = res.Metadata["kmsmig-id"]
	}
}

// The same race with pruning at every opportunity: nothing is lost (every
// increment that reported success is counted, and only those whose outcome
// was reported unknown may be counted besides), and the log stays short.
func TestRaceIncrementsPruning(t *testing.T) {
	const writers, each = 8, 10
	newClient := ownedTwin(t, twinOptions{})
	const key = "runs/r1/counter"
	res := race(t, storeMaker(t, newClient, oss.Config{Bucket: bucket, Prefix: "kmsmig", PruneAfter: -1}), key, writers, each)
	require.Empty(t, res.errs, "Mutate errors")
	require.Len(t, slices.Compact(slices.Clone(res.wins)), len(res.wins), "two increments won one version")
	c := newClient()
	s, err := oss.New(c, oss.Config{Bucket: bucket, Prefix: "kmsmig"})
	require.NoError(t, err)
	obj, err := s.Get(t.Context(), key)
	require.NoError(t, err)
	got, err := strconv.Atoi(string(obj.Data))
	require.NoError(t, err)
	t.Logf("%d writers, %d increments won, %d unknown, %d conflicts, counter %d", writers, len(res.wins), res.unknown, res.conflicts, got)
	require.GreaterOrEqual(t, got, len(res.wins), "increments lost")
	require.LessOrEqual(t, got, len(res.wins)+res.unknown, "increments counted that nobody made")
	require.LessOrEqual(t, len(logNames(t, c, "kmsmig/"+key)), 8, "versions left after pruning")
}

// versionName is the object name of version n of the key at full (prefix
// included), as the layout names it.
func versionName(full string, n int) string {
	return full + "/.v/" + leftPad(strconv.Itoa(999_999_999_999-n), 12)
}

func leftPad(s string, w int) string { return strings.Repeat("0", w-len(s)) + s }

// logNames lists the objects of a key's log.
func logNames(t *testing.T, c *osssdk.Client, full string) []string {
	t.Helper()
	res, err := c.ListObjectsV2(t.Context(), &osssdk.ListObjectsV2Request{Bucket: osssdk.Ptr(bucket), Prefix: osssdk.Ptr(full + "/.v/"), MaxKeys: 1000})
	require.NoError(t, err)
	var names []string
	for _, o := range res.Contents {
		names = append(names, osssdk.ToString(o.Key))
	}
	return names
}

// headOf reads the metadata of one object, nil when missing.
func headOf(t *testing.T, c *osssdk.Client, name string) map[string]string {
	t.Helper()
	res, err := c.HeadObject(t.Context(), &osssdk.HeadObjectRequest{Bucket: osssdk.Ptr(bucket), Key: osssdk.Ptr(name)})
	var se *osssdk.ServiceError
	if errors.As(err, &se) && se.StatusCode == http.StatusNotFound {
		return nil
	}
	require.NoError(t, err)
	return res.Metadata
}

// hook runs a function before requests reach the twin, to interleave
// another writer or a pruner at an exact point of a call. The function
// disarms or rearms itself with set before it makes requests of its own.
type hook struct {
	mu sync.Mutex
	fn func(r *http.Request)
}

func (h *hook) set(fn func(r *http.Request)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fn = fn
}

func (h *hook) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		fn := h.fn
		h.mu.Unlock()
		if fn != nil {
			fn(r)
		}
		next.ServeHTTP(w, r)
	})
}

func is(r *http.Request, method, name string) bool {
	return r.Method == method && r.URL.Path == "/"+bucket+"/"+name
}

// prune removes versions 1..upTo of the key at full as the store's pruning
// does: version 1 emptied to a stub, the others deleted, in order.
func prune(t *testing.T, c *osssdk.Client, full string, upTo int) {
	t.Helper()
	ctx := context.Background() // inside a request: t.Context is fine too, but keep it simple
	_, err := c.PutObject(ctx, &osssdk.PutObjectRequest{Bucket: osssdk.Ptr(bucket), Key: osssdk.Ptr(versionName(full, 1)),
		Body: strings.NewReader(""), Metadata: map[string]string{"kmsmig-id": "stub-" + strconv.Itoa(upTo), "kmsmig-kind": "stub"}})
	require.NoError(t, err)
	for n := 2; n <= upTo; n++ {
		_, err := c.DeleteObject(ctx, &osssdk.DeleteObjectRequest{Bucket: osssdk.Ptr(bucket), Key: osssdk.Ptr(versionName(full, n))})
		require.NoError(t, err)
	}
}

// history writes versions 1..n of key ("1".."n") and returns the Version
// of each, index 1..n.
func history(t *testing.T, s runstate.Store, key string, n int) []runstate.Version {
	t.Helper()
	vs := make([]runstate.Version, n+1)
	var err error
	vs[1], err = s.Create(t.Context(), key, []byte("1"))
	require.NoError(t, err)
	for i := 2; i <= n; i++ {
		vs[i], err = s.Update(t.Context(), key, []byte(strconv.Itoa(i)), vs[i-1])
		require.NoError(t, err)
	}
	return vs
}

// What confirm decides after a write whose name may have been pruned and
// recreated, with the other writers and the pruner placed exactly.
func TestWriteAfterPruning(t *testing.T) {
	const key, full = "lease", "kmsmig/lease"
	cfg := oss.Config{Bucket: bucket, Prefix: "kmsmig"}

	t.Run("a stale write into a pruned name loses", func(t *testing.T) {
		h := &hook{}
		newClient := ownedTwin(t, twinOptions{wrap: h.wrap})
		c, s := newClient(), storeMaker(t, newClient, cfg)()
		vs := history(t, s, key, 5)
		// Between the stale writer's check of version 2 and its write of
		// version 3, versions 1..3 are pruned: its write lands in a free
		// name below version 5.
		h.set(func(r *http.Request) {
			if is(r, http.MethodPut, versionName(full, 3)) {
				h.set(nil)
				prune(t, c, full, 3)
			}
		})
		_, err := s.Update(t.Context(), key, []byte("stale"), vs[2])
		require.ErrorIs(t, err, runstate.ErrConflict)
		obj, err := s.Get(t.Context(), key)
		require.NoError(t, err)
		require.Equal(t, "5", string(obj.Data))
		require.Equal(t, vs[5], obj.Version)
		require.Nil(t, headOf(t, c, versionName(full, 3)), "the lost write is left behind")
	})

	t.Run("a write superseded and pruned at once still wins", func(t *testing.T) {
		h := &hook{}
		newClient := ownedTwin(t, twinOptions{wrap: h.wrap})
		c, s, other := newClient(), storeMaker(t, newClient, cfg)(), storeMaker(t, newClient, cfg)()
		vs := history(t, s, key, 3)
		// Once version 4 is written, before its writer checks version 3,
		// another writer reads 4 and writes 5, and versions 1..3 go.
		h.set(func(r *http.Request) {
			if is(r, http.MethodPut, versionName(full, 4)) {
				h.set(func(r *http.Request) {
					if is(r, http.MethodHead, versionName(full, 3)) {
						h.set(nil)
						_, err := runstate.Mutate(t.Context(), other, key, func(old []byte, _ bool) ([]byte, error) { return append(old, '+'), nil })
						require.NoError(t, err)
						prune(t, c, full, 3)
					}
				})
			}
		})
		v, err := s.Update(t.Context(), key, []byte("4"), vs[3])
		require.NoError(t, err, "the write that version 5 was built on")
		require.Equal(t, 4, seqOf(t, v))
		obj, err := s.Get(t.Context(), key)
		require.NoError(t, err)
		require.Equal(t, "4+", string(obj.Data))
	})

	t.Run("a write whose neighbours are both pruned is an unknown outcome", func(t *testing.T) {
		h := &hook{}
		newClient := ownedTwin(t, twinOptions{wrap: h.wrap})
		c, s, other := newClient(), storeMaker(t, newClient, cfg)(), storeMaker(t, newClient, cfg)()
		vs := history(t, s, key, 3)
		h.set(func(r *http.Request) {
			if is(r, http.MethodPut, versionName(full, 4)) {
				h.set(func(r *http.Request) {
					if is(r, http.MethodHead, versionName(full, 3)) {
						h.set(nil)
						for range 3 {
							_, err := runstate.Mutate(t.Context(), other, key, func(old []byte, _ bool) ([]byte, error) { return append(old, '+'), nil })
							require.NoError(t, err)
						}
						prune(t, c, full, 5)
					}
				})
			}
		})
		_, err := s.Update(t.Context(), key, []byte("4"), vs[3])
		require.ErrorIs(t, err, oss.ErrOutcomeUnknown)
		require.NotErrorIs(t, err, runstate.ErrConflict, "a write that may have won is not a conflict")
		obj, err := s.Get(t.Context(), key)
		require.NoError(t, err)
		require.Equal(t, "4+++", string(obj.Data), "it had won")
	})
}

// frozenLists answers every ListObjectsV2 with the first answer to the same
// query: the most stale listing OSS's documentation allows. With once, a
// recorded answer is replayed once, then the next one is recorded.
type frozenLists struct {
	mu   sync.Mutex
	seen map[string]*httptest.ResponseRecorder
	once bool
}

func (f *frozenLists) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Query().Get("list-type") != "2" {
			next.ServeHTTP(w, r)
			return
		}
		f.mu.Lock()
		rec, ok := f.seen[r.URL.RawQuery]
		switch {
		case !ok:
			rec = httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			f.seen[r.URL.RawQuery] = rec
		case f.once:
			delete(f.seen, r.URL.RawQuery)
		}
		f.mu.Unlock()
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// Reads and writes do not depend on listings being current: with every
// listing frozen at its first answer, a new Store still reads the current
// version, sees a key created or deleted since, and conflicts where it
// must.
func TestStaleListings(t *testing.T) {
	f := &frozenLists{seen: map[string]*httptest.ResponseRecorder{}}
	newClient := ownedTwin(t, twinOptions{wrap: f.wrap})
	cfg := oss.Config{Bucket: bucket, Prefix: "kmsmig"}
	fresh := storeMaker(t, newClient, cfg) // no hints: each starts from a listing
	writer := fresh()
	ctx := t.Context()

	vs := history(t, writer, "plan", 1)
	obj, err := fresh().Get(ctx, "plan")
	require.NoError(t, err)
	require.Equal(t, "1", string(obj.Data), "the listing is recorded here, showing version 1")
	_, err = fresh().Get(ctx, "lease")
	require.ErrorIs(t, err, runstate.ErrNotFound, "the listing is recorded here, empty")

	v2, err := writer.Update(ctx, "plan", []byte("2"), vs[1])
	require.NoError(t, err)
	v3, err := writer.Update(ctx, "plan", []byte("3"), v2)
	require.NoError(t, err)
	_, err = writer.Create(ctx, "lease", []byte("a"))
	require.NoError(t, err)

	obj, err = fresh().Get(ctx, "plan")
	require.NoError(t, err)
	require.Equal(t, "3", string(obj.Data), "Get behind a listing that shows version 1")
	require.Equal(t, v3, obj.Version)
	_, err = fresh().Update(ctx, "plan", []byte("x"), vs[1])
	require.ErrorIs(t, err, runstate.ErrConflict, "Update at the version the listing shows")
	obj, err = fresh().Get(ctx, "lease")
	require.NoError(t, err, "Get of a key the listing does not show")
	require.Equal(t, "a", string(obj.Data))
	_, err = fresh().Create(ctx, "lease", []byte("b"))
	require.ErrorIs(t, err, runstate.ErrConflict, "Create of a key the listing does not show")

	require.NoError(t, writer.Delete(ctx, "plan", v3))
	_, err = fresh().Get(ctx, "plan")
	require.ErrorIs(t, err, runstate.ErrNotFound, "Get of a key deleted since the listing")
	_, err = fresh().Update(ctx, "plan", []byte("x"), v3)
	require.ErrorIs(t, err, runstate.ErrNotFound, "Update of a key deleted since the listing")
}

// A write lost over a pruned name and left behind (its writer crashed
// before removing it) is never read as current, even when a listing
// points at it: Get checks that it was written over its predecessor.
func TestGetSkipsLeftoverWrite(t *testing.T) {
	f := &frozenLists{seen: map[string]*httptest.ResponseRecorder{}, once: true}
	newClient := ownedTwin(t, twinOptions{wrap: f.wrap})
	c := newClient()
	cfg := oss.Config{Bucket: bucket, Prefix: "kmsmig"}
	fresh := storeMaker(t, newClient, cfg)
	const key, full = "lease", "kmsmig/lease"
	writer := fresh()
	vs := history(t, writer, key, 3)
	_, err := fresh().Get(t.Context(), key) // records a listing whose newest is version 3
	require.NoError(t, err)
	for i := 4; i <= 6; i++ {
		v, err := writer.Update(t.Context(), key, []byte(strconv.Itoa(i)), vs[len(vs)-1])
		require.NoError(t, err)
		vs = append(vs, v)
	}
	prune(t, c, full, 4)
	// The leftover: version 3 written again after 1..4 were pruned.
	_, err = c.PutObject(t.Context(), &osssdk.PutObjectRequest{Bucket: osssdk.Ptr(bucket), Key: osssdk.Ptr(versionName(full, 3)),
		Body: strings.NewReader("leftover"), Metadata: map[string]string{"kmsmig-id": "leftover", "kmsmig-prev": strings.SplitN(string(vs[2]), ".", 2)[1], "kmsmig-kind": "data"}})
	require.NoError(t, err)
	obj, err := fresh().Get(t.Context(), key) // the listing replayed says version 3, and 4 is gone
	require.NoError(t, err)
	require.Equal(t, "6", string(obj.Data))
}

// Pruning removes a version only once the one below it is gone, whatever
// its listing shows: a listing that misses version 3 does not make it
// delete 4, which would let a writer still holding 3 win 4 again.
func TestPruningChecksWhatListingsMiss(t *testing.T) {
	const key, full = "ledger", "kmsmig/ledger"
	var hide atomic.Bool
	hideThree := func(next http.Handler) http.Handler {
		three := versionName(full, 3) // as sent, or URL-encoded (encoding-type=url)
		contents := regexp.MustCompile(`(?s)<Contents>\s*<Key>(` + regexp.QuoteMeta(three) + `|` + regexp.QuoteMeta(strings.ReplaceAll(three, "/", "%2F")) + `)</Key>.*?</Contents>`)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !hide.Load() || r.URL.Query().Get("list-type") != "2" {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			for k, vs := range rec.Header() {
				if k != "Content-Length" {
					w.Header()[k] = vs
				}
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(contents.ReplaceAll(rec.Body.Bytes(), nil))
		})
	}
	newClient := ownedTwin(t, twinOptions{wrap: hideThree})
	c := newClient()
	s := storeMaker(t, newClient, oss.Config{Bucket: bucket, Prefix: "kmsmig", PruneAfter: -1})()
	vs := history(t, s, key, 7) // version 4 pruned up to 2
	hide.Store(true)
	v8, err := s.Update(t.Context(), key, []byte("8"), vs[7]) // prunes, listing without 3
	require.NoError(t, err)
	hide.Store(false)
	require.Len(t, logNames(t, c, full), 7, "pruned past a version its listing missed")
	_, err = s.Update(t.Context(), key, []byte("stale"), vs[3])
	require.ErrorIs(t, err, runstate.ErrConflict, "a writer holding version 3")
	obj, err := s.Get(t.Context(), key)
	require.NoError(t, err)
	require.Equal(t, v8, obj.Version)
}

// Pruning keeps a log short however long its history: version 1 as an
// empty stub and the newest versions; the rest goes, and old versions no
// longer pass.
func TestPruning(t *testing.T) {
	newClient := ownedTwin(t, twinOptions{})
	c := newClient()
	s := storeMaker(t, newClient, oss.Config{Bucket: bucket, Prefix: "kmsmig", PruneAfter: -1})()
	ctx := t.Context()
	const key, full = "ledger", "kmsmig/ledger"
	vs := history(t, s, key, 41)
	require.Equal(t, []string{versionName(full, 41), versionName(full, 40), versionName(full, 39), versionName(full, 1)},
		logNames(t, c, full), "the log after 41 versions")
	require.Equal(t, "stub", headOf(t, c, versionName(full, 1))["kmsmig-kind"], "version 1")
	obj, err := s.Get(ctx, key)
	require.NoError(t, err)
	require.Equal(t, "41", string(obj.Data))
	for _, n := range []int{1, 2, 38, 40} {
		_, err = s.Update(ctx, key, []byte("x"), vs[n])
		require.ErrorIs(t, err, runstate.ErrConflict, "Update at version %d", n)
	}
	_, err = s.Create(ctx, key, []byte("x"))
	require.ErrorIs(t, err, runstate.ErrConflict, "Create over a pruned log")

	require.NoError(t, s.Delete(ctx, key, vs[41]), "Delete")
	require.Equal(t, []string{versionName(full, 42), versionName(full, 41), versionName(full, 1)}, logNames(t, c, full), "the log after Delete")
	got, err := s.List(ctx, "")
	require.NoError(t, err)
	require.Empty(t, got, "List after Delete")
	v, err := s.Create(ctx, key, []byte("again"))
	require.NoError(t, err, "Create after Delete")
	require.Equal(t, 43, seqOf(t, v))
	got, err = s.List(ctx, "")
	require.NoError(t, err)
	require.Equal(t, []string{key}, got)
}
