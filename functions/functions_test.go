// Package functions_test checks the four function binaries as Function
// Compute runs them: what they link, and how they answer invocations under
// the FC twin.
package functions_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	fctwin "github.com/kmsmig/kmsmig/twin/fc"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
	"github.com/kmsmig/kmsmig/twin/stack"
)

var functions = []string{"discover", "migrate", "poll", "rotate"}

// TestNoTwinInFunctionBinaries: the twins are test and rehearsal tools and
// must never be linked into what is deployed.
func TestNoTwinInFunctionBinaries(t *testing.T) {
	for _, f := range functions {
		out, err := exec.Command("go", "list", "-deps", "./"+f).CombinedOutput()
		require.NoError(t, err, string(out))
		for _, dep := range strings.Fields(string(out)) {
			require.False(t, strings.Contains(dep, "/kmsmig/twin"), "%s links %s", f, dep)
		}
	}
}

// build compiles a function for this machine into dir.
func build(t *testing.T, name, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	out, err := exec.Command("go", "build", "-o", bin, "./"+name).CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

// TestDiscoverBinaryUnderFCTwin runs the real discover binary under the FC
// twin against the KMS twin, as Function Compute would: STS credentials
// from the invocation, configuration from the environment.
func TestDiscoverBinaryUnderFCTwin(t *testing.T) {
	st, err := stack.Start(stack.Options{Inventory: kmstwin.DemoInventory(), Unthrottled: true})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	ready := st.Ready()
	var endpoints []string
	for r, a := range ready.KMS {
		endpoints = append(endpoints, r+"="+a)
	}
	stateDir := t.TempDir()
	err = st.FC.Deploy(fctwin.Function{
		Name: "discover", Binary: build(t, "discover", t.TempDir()), Timeout: time.Minute,
		AccountID: ready.Home, Region: "cn-hangzhou", Role: "acs:ram::" + ready.Home + ":role/kmsmig",
		Env: map[string]string{
			"KMSMIG_KMS_ENDPOINTS": strings.Join(endpoints, ","),
			"KMSMIG_INSECURE":      "true",
			"KMSMIG_STATE":         "dir:" + stateDir,
			"KMSMIG_REGIONS":       "cn-hangzhou,cn-shanghai",
		},
	})
	require.NoError(t, err)

	res, err := st.FC.Invoke(t.Context(), "discover", []byte(`{"triggerTime":"2026-11-29T01:00:00Z","triggerName":"nightly"}`))
	require.NoError(t, err)
	require.Nil(t, res.Error, "function error: %+v", res.Error)
	var out app.DiscoverResult
	require.NoError(t, json.Unmarshal(res.Payload, &out))
	require.Equal(t, "run-20261129", out.RunID)
	require.Equal(t, 2, out.Lanes, "the home account in two regions")
	require.Positive(t, out.Batches)

	store, err := runstate.OpenDir(stateDir)
	require.NoError(t, err)
	p, _, err := runstate.GetJSON[plan.Plan](t.Context(), store, out.Plan)
	require.NoError(t, err)
	require.Equal(t, out.Batches, p.BatchCount())

	// An event with an unknown field is refused, naming the field, and
	// writes nothing new.
	res, err = st.FC.Invoke(t.Context(), "discover", []byte(`{"runName":"x"}`))
	require.NoError(t, err)
	require.NotNil(t, res.Error)
	require.Contains(t, res.Error.Message, "runName")
	require.Zero(t, st.KMS.CallCounts()["GetSecretValue"])
}
