package runstate_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/runstate/storetest"
)

func TestDirStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) runstate.Store {
		s, err := runstate.OpenDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// Several DirStore values on one root behave as one store: each call goes
// to the next handle, so races cross handles (and their separate flocks).
func TestDirStoreHandlesShareRoot(t *testing.T) {
	storetest.Run(t, func(t *testing.T) runstate.Store {
		root := t.TempDir()
		rr := &roundRobin{}
		for range 3 {
			s, err := runstate.OpenDir(root)
			if err != nil {
				t.Fatal(err)
			}
			rr.stores = append(rr.stores, s)
		}
		return rr
	})
}

// roundRobin sends each call to the next of several handles on one root.
type roundRobin struct {
	stores []runstate.Store
	next   atomic.Uint32
}

var _ runstate.Store = (*roundRobin)(nil)

func (r *roundRobin) pick() runstate.Store {
	return r.stores[int(r.next.Add(1))%len(r.stores)]
}

func (r *roundRobin) Get(ctx context.Context, key string) (runstate.Object, error) {
	return r.pick().Get(ctx, key)
}
func (r *roundRobin) Create(ctx context.Context, key string, data []byte) (runstate.Version, error) {
	return r.pick().Create(ctx, key, data)
}
func (r *roundRobin) Update(ctx context.Context, key string, data []byte, v runstate.Version) (runstate.Version, error) {
	return r.pick().Update(ctx, key, data, v)
}
func (r *roundRobin) List(ctx context.Context, prefix string) ([]string, error) {
	return r.pick().List(ctx, prefix)
}
func (r *roundRobin) Delete(ctx context.Context, key string, v runstate.Version) error {
	return r.pick().Delete(ctx, key, v)
}

func TestDirStoreLayout(t *testing.T) {
	root := t.TempDir()
	s, err := runstate.OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := s.Create(ctx, "runs/r1", []byte("run")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "runs/r1/plan", []byte(`{"plan":1}`)); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"runs/r1.obj": "run", "runs/r1/plan.obj": `{"plan":1}`} {
		got, err := os.ReadFile(filepath.Join(root, file))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", file, got, err, want)
		}
	}
	if err := s.Delete(ctx, "runs/r1/plan", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "runs", "r1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty directory runs/r1 left behind after Delete (stat: %v)", err)
	}
	tmp, _ := os.ReadDir(filepath.Join(root, ".runstate", "tmp"))
	if len(tmp) != 0 {
		t.Errorf("temporary files left behind: %v", tmp)
	}
}

// The cross-process race: the test binary re-executes itself twice; the two
// children race Mutate increments on one counter and Create on a series of
// lease keys through separate DirStores on one directory.
const (
	childEnv       = "RUNSTATE_DIRSTORE_CHILD"
	childRounds    = 40
	childIncrement = 60
)

func TestDirStoreCrossProcess(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("running as a child")
	}
	root := t.TempDir()
	startFile := filepath.Join(root, "go")
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for id := range 2 {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestDirStoreChildProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			childEnv+"="+strconv.Itoa(id),
			"RUNSTATE_DIRSTORE_ROOT="+filepath.Join(root, "store"),
			"RUNSTATE_DIRSTORE_START="+startFile)
		out := new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		outs = append(outs, out)
	}
	// Release both children at once.
	if err := os.WriteFile(startFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wins := map[int]int{} // round -> winning child
	for id, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v\n%s", id, err, outs[id])
		}
		sc := bufio.NewScanner(outs[id])
		sawDone := false
		for sc.Scan() {
			line := sc.Text()
			if r, ok := strings.CutPrefix(line, "WON "); ok {
				round, _ := strconv.Atoi(r)
				if prev, dup := wins[round]; dup {
					t.Errorf("round %d: both child %d and child %d created the lease", round, prev, id)
				}
				wins[round] = id
			}
			sawDone = sawDone || line == "CHILD DONE"
		}
		if !sawDone {
			t.Fatalf("child %d did not finish its work:\n%s", id, outs[id])
		}
	}
	if len(wins) != childRounds {
		t.Errorf("%d of %d rounds had a winner, want all", len(wins), childRounds)
	}
	perChild := map[int]int{}
	for _, id := range wins {
		perChild[id]++
	}
	t.Logf("lease wins per child: %v", perChild)

	s, err := runstate.OpenDir(filepath.Join(root, "store"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Get(t.Context(), "race/counter")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(obj.Data), strconv.Itoa(2*childIncrement); got != want {
		t.Fatalf("counter = %s after two processes each incremented %d times, want %s", got, childIncrement, want)
	}
	for round, id := range wins {
		obj, err := s.Get(t.Context(), fmt.Sprintf("race/lease-%03d", round))
		if err != nil || string(obj.Data) != strconv.Itoa(id) {
			t.Errorf("lease %d = %q, %v; want the winner %d", round, obj.Data, err, id)
		}
	}
}

// TestDirStoreChildProcess is the child side of TestDirStoreCrossProcess; it
// does nothing unless started by it.
func TestDirStoreChildProcess(t *testing.T) {
	id := os.Getenv(childEnv)
	if id == "" {
		t.Skip("only runs as a child of TestDirStoreCrossProcess")
	}
	s, err := runstate.OpenDir(os.Getenv("RUNSTATE_DIRSTORE_ROOT"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(os.Getenv("RUNSTATE_DIRSTORE_START")); err == nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ctx := t.Context()
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
	for i := range max(childRounds, childIncrement) {
		if i < childRounds {
			_, err := s.Create(ctx, fmt.Sprintf("race/lease-%03d", i), []byte(id))
			switch {
			case err == nil:
				fmt.Printf("WON %d\n", i)
			case !errors.Is(err, runstate.ErrConflict):
				t.Fatalf("Create: %v", err)
			}
		}
		if i < childIncrement {
			if _, err := runstate.Mutate(ctx, s, "race/counter", incr); err != nil {
				t.Fatalf("Mutate: %v", err)
			}
		}
	}
	fmt.Println("CHILD DONE")
}
