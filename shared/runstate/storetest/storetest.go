package storetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/runstate"
)

// Factory returns a new, empty store for one subtest. It registers its own
// cleanup with t.
type Factory func(t *testing.T) runstate.Store

// Run runs the contract suite against the stores newStore makes.
func Run(t *testing.T, newStore Factory) {
	t.Run("GetMissing", func(t *testing.T) { testGetMissing(t, newStore(t)) })
	t.Run("CreateGet", func(t *testing.T) { testCreateGet(t, newStore(t)) })
	t.Run("Update", func(t *testing.T) { testUpdate(t, newStore(t)) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, newStore(t)) })
	t.Run("List", func(t *testing.T) { testList(t, newStore(t)) })
	t.Run("InvalidKeys", func(t *testing.T) { testInvalidKeys(t, newStore(t)) })
	t.Run("Cancelled", func(t *testing.T) { testCancelled(t, newStore(t)) })
	t.Run("Mutate", func(t *testing.T) { testMutate(t, newStore(t)) })
	t.Run("MutateJSON", func(t *testing.T) { testMutateJSON(t, newStore(t)) })
	t.Run("RaceMutate", func(t *testing.T) { testRaceMutate(t, newStore(t)) })
	t.Run("RaceCreate", func(t *testing.T) { testRaceCreate(t, newStore(t)) })
}

func testGetMissing(t *testing.T, s runstate.Store) {
	ctx := t.Context()
	_, err := s.Get(ctx, "runs/r1/missing")
	require.ErrorIs(t, err, runstate.ErrNotFound, "Get of a missing key")
	assert.ErrorContains(t, err, "runs/r1/missing", "Get error does not name the key")
}

func testCreateGet(t *testing.T, s runstate.Store) {
	ctx := t.Context()
	for _, tc := range []struct {
		name, key string
		data      []byte
	}{
		{"json", "runs/r1/plan", []byte(`{"batches":3}`)},
		{"empty", "runs/r1/empty", []byte{}},
		{"binary", "runs/r1/bin", []byte{0, 1, 2, 0xff, '\n'}},
		{"unicode key", "runs/r1/车道 cn-hangzhou+1", []byte("x")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := s.Create(ctx, tc.key, tc.data)
			require.NoError(t, err, "Create")
			require.NotEmpty(t, v, "Create returned an empty version")
			obj, err := s.Get(ctx, tc.key)
			require.NoError(t, err, "Get")
			require.Equal(t, tc.key, obj.Key, "Get")
			require.Equal(t, string(tc.data), string(obj.Data), "Get")
			require.Equal(t, v, obj.Version, "Get")
			_, err = s.Create(ctx, tc.key, []byte("other"))
			require.ErrorIs(t, err, runstate.ErrConflict, "second Create")
			obj, err = s.Get(ctx, tc.key)
			require.NoError(t, err, "Get after conflict")
			require.Equal(t, string(tc.data), string(obj.Data), "losing Create overwrote the object")
		})
	}
}

func testUpdate(t *testing.T, s runstate.Store) {
	ctx := t.Context()
	const key = "runs/r1/batch/0001"
	v1, err := s.Create(ctx, key, []byte("pending"))
	require.NoError(t, err, "Create")
	v2, err := s.Update(ctx, key, []byte("running"), v1)
	require.NoError(t, err, "Update")
	require.NotEqual(t, v1, v2, "Update returned the old version")
	_, err = s.Update(ctx, key, []byte("done"), v1)
	require.ErrorIs(t, err, runstate.ErrConflict, "Update at a stale version")
	_, err = s.Update(ctx, key, []byte("done"), "")
	require.ErrorIs(t, err, runstate.ErrConflict, "Update with an empty version")
	obj, err := s.Get(ctx, key)
	require.NoError(t, err, "Get")
	require.Equal(t, "running", string(obj.Data), "Get")
	require.Equal(t, v2, obj.Version, "Get")
	_, err = s.Update(ctx, "runs/r1/batch/0002", []byte("x"), v1)
	require.ErrorIs(t, err, runstate.ErrNotFound, "Update of a missing key")
	// Back to earlier content: the version the caller holds still works.
	v3, err := s.Update(ctx, key, []byte("pending"), v2)
	require.NoError(t, err, "Update")
	_, err = s.Update(ctx, key, []byte("done"), v3)
	require.NoError(t, err, "Update at the latest version")
}

func testDelete(t *testing.T, s runstate.Store) {
	ctx := t.Context()
	const key = "runs/r1/lease"
	v1, err := s.Create(ctx, key, []byte("a"))
	require.NoError(t, err, "Create")
	_, err = s.Update(ctx, key, []byte("b"), v1)
	require.NoError(t, err, "Update")
	require.ErrorIs(t, s.Delete(ctx, key, v1), runstate.ErrConflict, "Delete at a stale version")
	obj, err := s.Get(ctx, key)
	require.NoError(t, err, "Get")
	require.NoError(t, s.Delete(ctx, key, obj.Version), "Delete at the current version")
	_, err = s.Get(ctx, key)
	require.ErrorIs(t, err, runstate.ErrNotFound, "Get after Delete")
	require.ErrorIs(t, s.Delete(ctx, key, ""), runstate.ErrNotFound, "Delete of a missing key")
	// A deleted key can be created again, and deleted unconditionally.
	_, err = s.Create(ctx, key, []byte("c"))
	require.NoError(t, err, "Create after Delete")
	require.NoError(t, s.Delete(ctx, key, ""), "unconditional Delete")
}

func testList(t *testing.T, s runstate.Store) {
	ctx := t.Context()
	keys := []string{"runs/r1", "runs/r1/plan", "runs/r1/batches/0001", "runs/r1/batches/0002", "runs/r10/plan", "inventory/acct-1", "runs/r2/plan"}
	for _, k := range keys {
		_, err := s.Create(ctx, k, []byte(k))
		require.NoError(t, err, "Create "+k)
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"inventory/acct-1", "runs/r1", "runs/r1/batches/0001", "runs/r1/batches/0002", "runs/r1/plan", "runs/r10/plan", "runs/r2/plan"}},
		{"runs/r1/", []string{"runs/r1/batches/0001", "runs/r1/batches/0002", "runs/r1/plan"}},
		{"runs/r1", []string{"runs/r1", "runs/r1/batches/0001", "runs/r1/batches/0002", "runs/r1/plan", "runs/r10/plan"}},
		{"runs/r1/batches/000", []string{"runs/r1/batches/0001", "runs/r1/batches/0002"}},
		{"runs/r3", []string{}},
		{"nothing/here/", []string{}},
	} {
		t.Run("prefix="+tc.prefix, func(t *testing.T) {
			got, err := s.List(ctx, tc.prefix)
			require.NoError(t, err, "List")
			// Equal tells nil from empty: List answers an empty, non-nil slice.
			require.Equal(t, tc.want, got, "List(%q)", tc.prefix)
		})
	}
	require.NoError(t, s.Delete(ctx, "runs/r1/batches/0001", ""), "Delete")
	require.NoError(t, s.Delete(ctx, "runs/r1/batches/0002", ""), "Delete")
	got, err := s.List(ctx, "runs/r1")
	require.NoError(t, err, "List")
	require.Equal(t, []string{"runs/r1", "runs/r1/plan", "runs/r10/plan"}, got, "List after Delete")
}

func testInvalidKeys(t *testing.T, s runstate.Store) {
	ctx := t.Context()
	for _, tc := range []struct{ key, reason string }{
		{"", "empty"},
		{"/runs/r1", "slash"},
		{"runs/r1/", "slash"},
		{"runs//r1", "empty segment"},
		{"runs/../r1", `".."`},
		{"runs/./r1", `"."`},
		{"runs/.hidden", "dot"},
		{"runs/r1.obj", ".obj"},
		{"runs/a\\b", "backslash"},
		{"runs/a\nb", "control"},
		{strings.Repeat("k", runstate.MaxKeyLen+1), "longer"},
	} {
		name := tc.key
		if len(name) > 20 {
			name = name[:20]
		}
		t.Run(name, func(t *testing.T) {
			check := func(op string, err error) {
				t.Helper()
				var ke *runstate.KeyError
				require.ErrorAs(t, err, &ke, "%s(%q): want a *runstate.KeyError", op, tc.key)
				require.Equal(t, tc.key, ke.Key, "%s(%q): the error should name the key", op, tc.key)
				require.ErrorContains(t, err, tc.reason, "%s(%q)", op, tc.key)
			}
			_, err := s.Get(ctx, tc.key)
			check("Get", err)
			_, err = s.Create(ctx, tc.key, nil)
			check("Create", err)
			_, err = s.Update(ctx, tc.key, nil, "v")
			check("Update", err)
			check("Delete", s.Delete(ctx, tc.key, ""))
			_, err = runstate.Mutate(ctx, s, tc.key, func([]byte, bool) ([]byte, error) { return nil, nil })
			check("Mutate", err)
		})
	}
	for _, prefix := range []string{"/runs", "runs/../x", "runs//x"} {
		_, err := s.List(ctx, prefix)
		var ke *runstate.KeyError
		assert.ErrorAs(t, err, &ke, "List(%q): want a *runstate.KeyError", prefix)
	}
}

func testCancelled(t *testing.T, s runstate.Store) {
	const key = "runs/r1/plan"
	v, err := s.Create(t.Context(), key, []byte("x"))
	require.NoError(t, err, "Create")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = s.Get(ctx, key)
	require.ErrorIs(t, err, context.Canceled, "Get")
	_, err = s.Create(ctx, "runs/r1/other", []byte("x"))
	require.ErrorIs(t, err, context.Canceled, "Create")
	_, err = s.Update(ctx, key, []byte("y"), v)
	require.ErrorIs(t, err, context.Canceled, "Update")
	_, err = s.List(ctx, "")
	require.ErrorIs(t, err, context.Canceled, "List")
	require.ErrorIs(t, s.Delete(ctx, key, v), context.Canceled, "Delete")
	_, err = runstate.Mutate(ctx, s, key, func(b []byte, _ bool) ([]byte, error) { return append(b, 'z'), nil })
	require.ErrorIs(t, err, context.Canceled, "Mutate")
	obj, err := s.Get(t.Context(), key)
	require.NoError(t, err, "Get")
	require.Equal(t, "x", string(obj.Data), "a cancelled call changed the object")
}

func testMutate(t *testing.T, s runstate.Store) {
	ctx := t.Context()
	const key = "ledger/rotation"
	appendA := func(old []byte, exists bool) ([]byte, error) { return append(old, 'a'), nil }
	same := func(old []byte, exists bool) ([]byte, error) { return old, nil }
	steps := []struct {
		name string
		f    runstate.MutateFunc
		want runstate.Outcome
		data string
	}{
		{"create", appendA, runstate.Created, "a"},
		{"update", appendA, runstate.Updated, "aa"},
		{"unchanged", same, runstate.Unchanged, "aa"},
	}
	for _, st := range steps {
		res, err := runstate.Mutate(ctx, s, key, st.f)
		require.NoError(t, err, "%s: Mutate", st.name)
		require.Equal(t, st.want, res.Outcome, "%s: Mutate", st.name)
		obj, err := s.Get(ctx, key)
		require.NoError(t, err, "Get")
		require.Equal(t, st.data, string(obj.Data), "%s: stored", st.name)
		require.Equal(t, res.Version, obj.Version, "%s: stored version", st.name)
	}
	boom := errors.New("boom")
	_, err := runstate.Mutate(ctx, s, key, func([]byte, bool) ([]byte, error) { return nil, boom })
	require.ErrorIs(t, err, boom, "Mutate with failing f")
	// f's own sentinel errors must not be mistaken for lost races.
	calls := 0
	_, err = runstate.Mutate(ctx, s, key, func([]byte, bool) ([]byte, error) { calls++; return nil, runstate.ErrConflict })
	require.ErrorIs(t, err, runstate.ErrConflict, "Mutate with f returning ErrConflict")
	require.Equal(t, 1, calls, "Mutate with f returning ErrConflict: want one call")
}

type ledger struct {
	Rotations map[string]int `json:"rotations"`
	Note      string         `json:"note,omitempty"`
}

func testMutateJSON(t *testing.T, s runstate.Store) {
	ctx := t.Context()
	const key = "ledger/acct-1"
	bump := func(l *ledger, exists bool) error {
		if l.Rotations == nil {
			l.Rotations = map[string]int{}
		}
		l.Rotations["key-1"]++
		return nil
	}
	for i, want := range []runstate.Outcome{runstate.Created, runstate.Updated} {
		res, err := runstate.MutateJSON(ctx, s, key, bump)
		require.NoError(t, err, "MutateJSON #%d", i)
		require.Equal(t, want, res.Outcome, "MutateJSON #%d", i)
	}
	res, err := runstate.MutateJSON(ctx, s, key, func(*ledger, bool) error { return nil })
	require.NoError(t, err, "no-op MutateJSON")
	require.Equal(t, runstate.Unchanged, res.Outcome, "no-op MutateJSON")
	got, v, err := runstate.GetJSON[ledger](ctx, s, key)
	require.NoError(t, err, "GetJSON")
	require.Equal(t, 2, got.Rotations["key-1"], "GetJSON rotations")
	require.Equal(t, res.Version, v, "GetJSON version")
	_, err = s.Create(ctx, "ledger/bad", []byte("not json"))
	require.NoError(t, err, "Create")
	_, _, err = runstate.GetJSON[ledger](ctx, s, "ledger/bad")
	require.ErrorContains(t, err, "ledger/bad", "GetJSON of a non-JSON object: want a decode error naming the key")
	_, _, err = runstate.GetJSON[ledger](ctx, s, "ledger/none")
	require.ErrorIs(t, err, runstate.ErrNotFound, "GetJSON of a missing key")
}

// testRaceMutate: workers race Mutate increments on one key; none is lost.
func testRaceMutate(t *testing.T, s runstate.Store) {
	const workers, each = 12, 5
	ctx := t.Context()
	const key = "runs/r1/counter"
	incr := func(old []byte, exists bool) ([]byte, error) {
		n := 0
		if exists {
			var err error
			if n, err = strconv.Atoi(string(old)); err != nil {
				return nil, err
			}
		}
		return []byte(strconv.Itoa(n + 1)), nil
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			<-start
			for range each {
				if _, err := runstate.Mutate(ctx, s, key, incr); err != nil {
					errs <- err
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err, "Mutate")
	}
	obj, err := s.Get(ctx, key)
	require.NoError(t, err, "Get")
	require.Equal(t, strconv.Itoa(workers*each), string(obj.Data), "counter after %d racing increments", workers*each)
}

// testRaceCreate: workers race Create of one key; exactly one wins and the
// stored object is the winner's.
func testRaceCreate(t *testing.T, s runstate.Store) {
	const workers, rounds = 8, 5
	ctx := t.Context()
	for round := range rounds {
		key := fmt.Sprintf("runs/r1/lease-%d", round)
		var wg sync.WaitGroup
		start := make(chan struct{})
		results := make([]error, workers)
		for w := range workers {
			wg.Go(func() {
				<-start
				_, results[w] = s.Create(ctx, key, []byte(strconv.Itoa(w)))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for w, err := range results {
			if err != nil {
				require.ErrorIs(t, err, runstate.ErrConflict, "%s: worker %d: want nil or ErrConflict", key, w)
				continue
			}
			require.Negative(t, winner, "%s: workers %d and %d both created it", key, winner, w)
			winner = w
		}
		require.GreaterOrEqual(t, winner, 0, "%s: no worker created it", key)
		obj, err := s.Get(ctx, key)
		require.NoError(t, err, "Get")
		require.Equal(t, strconv.Itoa(winner), string(obj.Data), "%s: want the winner's", key)
	}
}
