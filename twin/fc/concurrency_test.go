package fc_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/acs"
	"github.com/kmsmig/kmsmig/twin/fc"
)

// timedReply is the part of the test function's answer that says when it
// ran and in which process.
type timedReply struct {
	PID       int   `json:"pid"`
	StartedNS int64 `json:"startedNs"`
	EndedNS   int64 `json:"endedNs"`
}

// mostOverlapping returns the largest number of runs in progress at once.
func mostOverlapping(runs []timedReply) int {
	type edge struct {
		at    int64
		delta int
	}
	var edges []edge
	for _, r := range runs {
		edges = append(edges, edge{r.StartedNS, 1}, edge{r.EndedNS, -1})
	}
	// An end and a start at the same instant do not overlap.
	slices.SortFunc(edges, func(a, b edge) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		return a.delta - b.delta
	})
	open, most := 0, 0
	for _, e := range edges {
		open += e.delta
		most = max(most, open)
	}
	return most
}

// Asynchronous invocations through InvokeFunction (the official SDK's
// CallApi) of a binary function with instanceConcurrency 1 and at most 3
// instances: three processes run them, three at a time and never more.
func TestAsyncInvocationsRunOnSeveralInstancesUpToTheLimit(t *testing.T) {
	keys := acs.NewKeyring()
	s, _ := newServer(t, fc.Config{Keyring: keys, Verifier: acs.NewVerifier(keys, acs.VerifierOptions{})})
	root, _ := keys.Account(testAccount)
	fn := binaryFunction("fanout")
	fn.InstanceConcurrency, fn.MaxInstances = 1, 3
	require.NoError(t, s.Deploy(fn))
	addr, err := s.Listen("127.0.0.1:0")
	require.NoError(t, err)
	c := fcClient(t, addr, root)

	const n = 7
	var ids []string
	for range n {
		status, h, _, err := invokeFunction(c, "fanout", []byte(`{"op":"sleep","sleepMs":400}`), map[string]string{fc.HeaderInvocationType: "Async"})
		require.NoError(t, err)
		require.Equal(t, 202, status)
		ids = append(ids, h[fc.HeaderRequestID])
	}
	var runs []timedReply
	pids := map[int]int{}
	for _, id := range ids {
		inv, err := s.Wait(waitCtx(t), id)
		require.NoError(t, err)
		require.Equal(t, fc.StatusSucceeded, inv.Status, "%s: %s", id, inv.Response)
		var r timedReply
		require.NoError(t, json.Unmarshal(inv.Response, &r))
		runs = append(runs, r)
		pids[r.PID]++
	}
	assert.Equal(t, 3, mostOverlapping(runs), "invocations running at once")
	assert.Len(t, pids, 3, "one process per instance")
	for pid, count := range pids {
		assert.LessOrEqual(t, count, n-2, "process %d: an instance is reused once free", pid)
	}
	assert.Len(t, s.ColdStarts("fanout"), 3)
}

// Synchronous invocations through InvokeFunction of an in-process
// function with instanceConcurrency 2 and at most 2 instances: four run at
// once, the others wait for a slot, and all succeed.
func TestSyncInvocationsOverlapUpToInstancesTimesConcurrency(t *testing.T) {
	tests := []struct {
		name                       string
		perInstance, instances, at int
	}{
		{"2 instances of 2", 2, 2, 4},
		{"one request per instance by default", 0, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := acs.NewKeyring()
			s, _ := newServer(t, fc.Config{Keyring: keys, Verifier: acs.NewVerifier(keys, acs.VerifierOptions{})})
			root, _ := keys.Account(testAccount)
			// Each run waits until tt.at runs are in progress (fewer slots
			// never get there and fail), then a little longer, for runs
			// beyond the limit to show.
			var mu sync.Mutex
			open, most := 0, 0
			full := make(chan struct{})
			var fill sync.Once
			require.NoError(t, s.Deploy(fc.Function{Name: "limited", Timeout: 10 * time.Second,
				InstanceConcurrency: tt.perInstance, MaxInstances: tt.instances,
				Handler: func(ctx context.Context, _ []byte) ([]byte, error) {
					mu.Lock()
					open++
					most = max(most, open)
					if open == tt.at {
						fill.Do(func() { close(full) })
					}
					mu.Unlock()
					defer func() {
						mu.Lock()
						open--
						mu.Unlock()
					}()
					select {
					case <-full:
						time.Sleep(30 * time.Millisecond)
						return []byte(`{}`), nil
					case <-time.After(5 * time.Second):
						return nil, errors.New("fewer invocations than the limit ran at once")
					}
				}}))
			addr, err := s.Listen("127.0.0.1:0")
			require.NoError(t, err)
			c := fcClient(t, addr, root)
			const n = 9
			errs := make(chan error, n)
			for range n {
				go func() {
					_, h, body, err := invokeFunction(c, "limited", []byte(`{}`), map[string]string{fc.HeaderInvocationType: "Sync"})
					if err == nil && h[fc.HeaderErrorType] != "" {
						err = errors.New(string(body))
					}
					errs <- err
				}()
			}
			for range n {
				require.NoError(t, <-errs)
			}
			assert.Equal(t, tt.at, most, "invocations running at once")
		})
	}
}

// A function's limits are checked when it is deployed.
func TestDeployRefusesLimitsOutOfRange(t *testing.T) {
	s, _ := newServer(t, fc.Config{})
	nop := func(context.Context, []byte) ([]byte, error) { return nil, nil }
	for _, fn := range []fc.Function{
		{Name: "f", Handler: nop, InstanceConcurrency: 201},
		{Name: "f", Handler: nop, InstanceConcurrency: -1},
		{Name: "f", Handler: nop, MaxInstances: 301},
	} {
		err := s.Deploy(fn)
		require.Error(t, err)
		assert.Regexp(t, `instanceConcurrency|reservedConcurrency`, err.Error())
	}
}
