package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

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

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// must returns v, failing the test with what when err is not nil. Use as
// must(s.Get(ctx, key))(t, "Get").
func must[T any](v T, err error) func(t *testing.T, what string) T {
	return func(t *testing.T, what string) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

func mustOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func testGetMissing(t *testing.T, s runstate.Store) {
	ctx := t.Context()
	_, err := s.Get(ctx, "runs/r1/missing")
	wantErr(t, "Get of a missing key", err, runstate.ErrNotFound)
	if !strings.Contains(err.Error(), "runs/r1/missing") {
		t.Errorf("Get error %q does not name the key", err)
	}
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
			v := must(s.Create(ctx, tc.key, tc.data))(t, "Create")
			if v == "" {
				t.Fatal("Create returned an empty version")
			}
			obj := must(s.Get(ctx, tc.key))(t, "Get")
			if string(obj.Data) != string(tc.data) || obj.Version != v || obj.Key != tc.key {
				t.Fatalf("Get = {%q %q %q}, want {%q %q %q}", obj.Key, obj.Data, obj.Version, tc.key, tc.data, v)
			}
			_, err := s.Create(ctx, tc.key, []byte("other"))
			wantErr(t, "second Create", err, runstate.ErrConflict)
			obj = must(s.Get(ctx, tc.key))(t, "Get after conflict")
			if string(obj.Data) != string(tc.data) {
				t.Fatalf("losing Create overwrote the object: got %q, want %q", obj.Data, tc.data)
			}
		})
	}
}

func testUpdate(t *testing.T, s runstate.Store) {
	ctx := t.Context()
	const key = "runs/r1/batch/0001"
	v1 := must(s.Create(ctx, key, []byte("pending")))(t, "Create")
	v2 := must(s.Update(ctx, key, []byte("running"), v1))(t, "Update")
	if v2 == v1 {
		t.Fatalf("Update returned the old version %q", v2)
	}
	_, err := s.Update(ctx, key, []byte("done"), v1)
	wantErr(t, "Update at a stale version", err, runstate.ErrConflict)
	_, err = s.Update(ctx, key, []byte("done"), "")
	wantErr(t, "Update with an empty version", err, runstate.ErrConflict)
	obj := must(s.Get(ctx, key))(t, "Get")
	if string(obj.Data) != "running" || obj.Version != v2 {
		t.Fatalf("Get = %q@%q, want %q@%q", obj.Data, obj.Version, "running", v2)
	}
	_, err = s.Update(ctx, "runs/r1/batch/0002", []byte("x"), v1)
	wantErr(t, "Update of a missing key", err, runstate.ErrNotFound)
	// Back to earlier content: the version the caller holds still works.
	v3 := must(s.Update(ctx, key, []byte("pending"), v2))(t, "Update")
	must(s.Update(ctx, key, []byte("done"), v3))(t, "Update at the latest version")
}

func testDelete(t *testing.T, s runstate.Store) {
	ctx := t.Context()
	const key = "runs/r1/lease"
	v1 := must(s.Create(ctx, key, []byte("a")))(t, "Create")
	must(s.Update(ctx, key, []byte("b"), v1))(t, "Update")
	wantErr(t, "Delete at a stale version", s.Delete(ctx, key, v1), runstate.ErrConflict)
	obj := must(s.Get(ctx, key))(t, "Get")
	if err := s.Delete(ctx, key, obj.Version); err != nil {
		t.Fatalf("Delete at the current version: %v", err)
	}
	_, err := s.Get(ctx, key)
	wantErr(t, "Get after Delete", err, runstate.ErrNotFound)
	wantErr(t, "Delete of a missing key", s.Delete(ctx, key, ""), runstate.ErrNotFound)
	// A deleted key can be created again, and deleted unconditionally.
	must(s.Create(ctx, key, []byte("c")))(t, "Create after Delete")
	if err := s.Delete(ctx, key, ""); err != nil {
		t.Fatalf("unconditional Delete: %v", err)
	}
}

func testList(t *testing.T, s runstate.Store) {
	ctx := t.Context()
	keys := []string{"runs/r1", "runs/r1/plan", "runs/r1/batches/0001", "runs/r1/batches/0002", "runs/r10/plan", "inventory/acct-1", "runs/r2/plan"}
	for _, k := range keys {
		must(s.Create(ctx, k, []byte(k)))(t, "Create "+k)
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
			got := must(s.List(ctx, tc.prefix))(t, "List")
			if got == nil || !slices.Equal(got, tc.want) {
				t.Fatalf("List(%q) = %#v, want %#v", tc.prefix, got, tc.want)
			}
		})
	}
	mustOK(t, "Delete", s.Delete(ctx, "runs/r1/batches/0001", ""))
	mustOK(t, "Delete", s.Delete(ctx, "runs/r1/batches/0002", ""))
	got := must(s.List(ctx, "runs/r1"))(t, "List")
	if want := []string{"runs/r1", "runs/r1/plan", "runs/r10/plan"}; !slices.Equal(got, want) {
		t.Fatalf("List after Delete = %q, want %q", got, want)
	}
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
				if !errors.As(err, &ke) {
					t.Fatalf("%s(%q): got %v, want a *runstate.KeyError", op, tc.key, err)
				}
				if ke.Key != tc.key || !strings.Contains(err.Error(), tc.reason) {
					t.Fatalf("%s(%q): error %q should name the key and say %q", op, tc.key, err, tc.reason)
				}
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
		if !errors.As(err, &ke) {
			t.Errorf("List(%q): got %v, want a *runstate.KeyError", prefix, err)
		}
	}
}

func testCancelled(t *testing.T, s runstate.Store) {
	const key = "runs/r1/plan"
	v := must(s.Create(t.Context(), key, []byte("x")))(t, "Create")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Get(ctx, key)
	wantErr(t, "Get", err, context.Canceled)
	_, err = s.Create(ctx, "runs/r1/other", []byte("x"))
	wantErr(t, "Create", err, context.Canceled)
	_, err = s.Update(ctx, key, []byte("y"), v)
	wantErr(t, "Update", err, context.Canceled)
	_, err = s.List(ctx, "")
	wantErr(t, "List", err, context.Canceled)
	wantErr(t, "Delete", s.Delete(ctx, key, v), context.Canceled)
	_, err = runstate.Mutate(ctx, s, key, func(b []byte, _ bool) ([]byte, error) { return append(b, 'z'), nil })
	wantErr(t, "Mutate", err, context.Canceled)
	obj := must(s.Get(t.Context(), key))(t, "Get")
	if string(obj.Data) != "x" {
		t.Fatalf("a cancelled call changed the object to %q", obj.Data)
	}
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
		if err != nil || res.Outcome != st.want {
			t.Fatalf("%s: Mutate = %v, %v; want outcome %v", st.name, res, err, st.want)
		}
		obj := must(s.Get(ctx, key))(t, "Get")
		if string(obj.Data) != st.data || obj.Version != res.Version {
			t.Fatalf("%s: stored %q@%q, want %q@%q", st.name, obj.Data, obj.Version, st.data, res.Version)
		}
	}
	boom := errors.New("boom")
	_, err := runstate.Mutate(ctx, s, key, func([]byte, bool) ([]byte, error) { return nil, boom })
	wantErr(t, "Mutate with failing f", err, boom)
	// f's own sentinel errors must not be mistaken for lost races.
	calls := 0
	_, err = runstate.Mutate(ctx, s, key, func([]byte, bool) ([]byte, error) { calls++; return nil, runstate.ErrConflict })
	if !errors.Is(err, runstate.ErrConflict) || calls != 1 {
		t.Fatalf("Mutate with f returning ErrConflict: err %v after %d calls, want one call", err, calls)
	}
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
		if err != nil || res.Outcome != want {
			t.Fatalf("MutateJSON #%d = %v, %v; want %v", i, res, err, want)
		}
	}
	res, err := runstate.MutateJSON(ctx, s, key, func(*ledger, bool) error { return nil })
	if err != nil || res.Outcome != runstate.Unchanged {
		t.Fatalf("no-op MutateJSON = %v, %v; want unchanged", res, err)
	}
	got, v, err := runstate.GetJSON[ledger](ctx, s, key)
	if err != nil || got.Rotations["key-1"] != 2 || v != res.Version {
		t.Fatalf("GetJSON = %+v@%q, %v; want 2 rotations @%q", got, v, err, res.Version)
	}
	must(s.Create(ctx, "ledger/bad", []byte("not json")))(t, "Create")
	_, _, err = runstate.GetJSON[ledger](ctx, s, "ledger/bad")
	if err == nil || !strings.Contains(err.Error(), "ledger/bad") {
		t.Fatalf("GetJSON of a non-JSON object: got %v, want a decode error naming the key", err)
	}
	_, _, err = runstate.GetJSON[ledger](ctx, s, "ledger/none")
	wantErr(t, "GetJSON of a missing key", err, runstate.ErrNotFound)
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
		t.Errorf("Mutate: %v", err)
	}
	obj := must(s.Get(ctx, key))(t, "Get")
	if got, want := string(obj.Data), strconv.Itoa(workers*each); got != want {
		t.Fatalf("counter = %s after %d racing increments, want %s", got, workers*each, want)
	}
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
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("%s: workers %d and %d both created it", key, winner, w)
			case err == nil:
				winner = w
			case !errors.Is(err, runstate.ErrConflict):
				t.Fatalf("%s: worker %d: got %v, want nil or ErrConflict", key, w, err)
			}
		}
		if winner < 0 {
			t.Fatalf("%s: no worker created it", key)
		}
		obj := must(s.Get(ctx, key))(t, "Get")
		if string(obj.Data) != strconv.Itoa(winner) {
			t.Fatalf("%s holds %q, want the winner's %d", key, obj.Data, winner)
		}
	}
}
