package fc_test

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/acs"
	"github.com/kmsmig/kmsmig/twin/fc"
)

// Invocations through InvokeFunction (the official SDK's CallApi) of a
// binary function that touches a chosen amount of memory: each record
// carries the peak resident set of its instance's process while it ran,
// measured from that invocation's start (a small invocation after a large
// one on the same instance shows the small one), and Usage counts the
// function's invocations and its instances with their peaks.
func TestPeakMemoryPerInvocationAndInstance(t *testing.T) {
	keys := acs.NewKeyring()
	s, _ := newServer(t, fc.Config{Keyring: keys, Verifier: acs.NewVerifier(keys, acs.VerifierOptions{})})
	root, _ := keys.Account(testAccount)
	fn := binaryFunction("memory")
	fn.InstanceConcurrency, fn.MaxInstances = 1, 2
	require.NoError(t, s.Deploy(fn))
	addr, err := s.Listen("127.0.0.1:0")
	require.NoError(t, err)
	c := fcClient(t, addr, root)

	const mib = 1 << 20
	invokeSync := func(ev string) fc.Invocation {
		t.Helper()
		status, h, body, err := invokeFunction(c, "memory", []byte(ev), map[string]string{fc.HeaderInvocationType: "Sync"})
		require.NoError(t, err)
		require.Equal(t, 200, status)
		require.Empty(t, h[fc.HeaderErrorType], "%s", body)
		inv, ok := s.Invocation(h[fc.HeaderRequestID])
		require.True(t, ok)
		return inv
	}
	large := invokeSync(`{"op":"alloc","allocMb":96}`)
	small := invokeSync(`{"op":"alloc","allocMb":8}`)
	assert.GreaterOrEqual(t, large.PeakRSS, int64(96*mib), "the large invocation's peak")
	assert.Less(t, large.PeakRSS, int64(160*mib), "the large invocation's peak")
	assert.Positive(t, small.PeakRSS)
	assert.Less(t, small.PeakRSS, int64(64*mib), "the small invocation's peak starts from its own start, not the process's")
	assert.Equal(t, large.Instance, small.Instance, "one instance serves invocations one after another")
	assert.NotEmpty(t, large.Instance)

	// Two at once: a second instance starts.
	var wg sync.WaitGroup
	ids := make([]string, 2)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, h, _, err := invokeFunction(c, "memory", []byte(`{"op":"alloc","allocMb":32,"sleepMs":300}`), map[string]string{fc.HeaderInvocationType: "Sync"})
			assert.NoError(t, err)
			ids[i] = h[fc.HeaderRequestID]
		}()
	}
	wg.Wait()
	instances := map[string]bool{}
	for _, id := range ids {
		inv, ok := s.Invocation(id)
		require.True(t, ok)
		assert.GreaterOrEqual(t, inv.PeakRSS, int64(32*mib), "%s", id)
		instances[inv.Instance] = true
	}
	assert.Len(t, instances, 2, "one invocation per instance at once")

	u := s.Usage("memory")
	assert.Equal(t, 4, u.Invocations)
	require.Len(t, u.Instances, 2)
	handed := 0
	for _, in := range u.Instances {
		handed += in.Invocations
		assert.NotEmpty(t, in.ID)
		assert.GreaterOrEqual(t, in.PeakRSS, int64(32*mib), "%s", in.ID)
	}
	assert.Equal(t, 4, handed, "every attempt was handed to an instance's process")
	assert.Equal(t, large.PeakRSS, u.PeakRSS(), "the function's peak is its largest invocation's")
	b, err := json.Marshal(u)
	require.NoError(t, err)
	t.Logf("usage %s", b)

	assert.Zero(t, s.Usage("unknown").Invocations)
}
