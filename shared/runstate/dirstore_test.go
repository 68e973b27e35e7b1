package runstate_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/runstate/storetest"
)

func TestDirStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) runstate.Store {
		s, err := runstate.OpenDir(t.TempDir())
		require.NoError(t, err)
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
			require.NoError(t, err)
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
	require.NoError(t, err)
	ctx := t.Context()
	_, err = s.Create(ctx, "runs/r1", []byte("run"))
	require.NoError(t, err)
	_, err = s.Create(ctx, "runs/r1/plan", []byte(`{"plan":1}`))
	require.NoError(t, err)
	for file, want := range map[string]string{"runs/r1.obj": "run", "runs/r1/plan.obj": `{"plan":1}`} {
		got, err := os.ReadFile(filepath.Join(root, file))
		if assert.NoError(t, err, file) {
			assert.Equal(t, want, string(got), file)
		}
	}
	require.NoError(t, s.Delete(ctx, "runs/r1/plan", ""))
	_, err = os.Stat(filepath.Join(root, "runs", "r1"))
	assert.ErrorIs(t, err, os.ErrNotExist, "empty directory runs/r1 left behind after Delete")
	tmp, _ := os.ReadDir(filepath.Join(root, ".runstate", "tmp"))
	assert.Empty(t, tmp, "temporary files left behind")
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
		require.NoError(t, cmd.Start())
		cmds = append(cmds, cmd)
		outs = append(outs, out)
	}
	// Release both children at once.
	require.NoError(t, os.WriteFile(startFile, nil, 0o644))
	wins := map[int]int{} // round -> winning child
	for id, cmd := range cmds {
		require.NoError(t, cmd.Wait(), "child %d:\n%s", id, outs[id])
		sc := bufio.NewScanner(outs[id])
		sawDone := false
		for sc.Scan() {
			line := sc.Text()
			if r, ok := strings.CutPrefix(line, "WON "); ok {
				round, _ := strconv.Atoi(r)
				prev, dup := wins[round]
				assert.False(t, dup, "round %d: both child %d and child %d created the lease", round, prev, id)
				wins[round] = id
			}
			sawDone = sawDone || line == "CHILD DONE"
		}
		require.True(t, sawDone, "child %d did not finish its work:\n%s", id, outs[id])
	}
	assert.Len(t, wins, childRounds, "every round has a winner")
	perChild := map[int]int{}
	for _, id := range wins {
		perChild[id]++
	}
	t.Logf("lease wins per child: %v", perChild)

	s, err := runstate.OpenDir(filepath.Join(root, "store"))
	require.NoError(t, err)
	obj, err := s.Get(t.Context(), "race/counter")
	require.NoError(t, err)
	require.Equal(t, strconv.Itoa(2*childIncrement), string(obj.Data),
		"counter after two processes each incremented %d times", childIncrement)
	for round, id := range wins {
		obj, err := s.Get(t.Context(), fmt.Sprintf("race/lease-%03d", round))
		if assert.NoError(t, err, "lease %d", round) {
			assert.Equal(t, strconv.Itoa(id), string(obj.Data), "lease %d: want the winner", round)
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
	require.NoError(t, err)
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
			if err == nil {
				fmt.Printf("WON %d\n", i)
			} else {
				require.ErrorIs(t, err, runstate.ErrConflict, "Create")
			}
		}
		if i < childIncrement {
			_, err := runstate.Mutate(ctx, s, "race/counter", incr)
			require.NoError(t, err, "Mutate")
		}
	}
	fmt.Println("CHILD DONE")
}
