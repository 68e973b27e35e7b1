package deploy_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/deploy"
	"github.com/kmsmig/kmsmig/twin/fc"
)

// concurrencyOf reads the fan-out check's view of loaded functions.
func concurrencyOf(fns map[string]fc.Function) []deploy.FunctionConcurrency {
	var out []deploy.FunctionConcurrency
	for _, name := range functionNames {
		f := fns[name]
		out = append(out, deploy.FunctionConcurrency{Name: f.Name, Env: f.Env, ReservedConcurrency: f.MaxInstances})
	}
	return out
}

// s.yaml fans discovery out above 100 lanes and lets discover, migrate
// and poll run one invocation per instance on enough instances for a
// coordinator and the default 10 invocations it fans out to.
func TestSYAMLFanoutConcurrency(t *testing.T) {
	fns := loadSYAML(t, fc.LoadOptions{})
	assert.Equal(t, "100", fns["kmsmig-discover"].Env["KMSMIG_DISCOVER_LANES_PER_INVOCATION"])
	for _, name := range []string{"kmsmig-discover", "kmsmig-migrate", "kmsmig-poll"} {
		assert.Equal(t, 1, fns[name].InstanceConcurrency, name)
		assert.GreaterOrEqual(t, fns[name].MaxInstances, 1+deploy.DefaultFanoutInvocations, name)
		assert.LessOrEqual(t, fns[name].MaxInstances, 90, "%s: FC's per-function limit", name)
	}
	total := fns["kmsmig-discover"].MaxInstances + fns["kmsmig-migrate"].MaxInstances + fns["kmsmig-poll"].MaxInstances
	assert.Less(t, total, 100, "FC's default of 100 instances per account and region leaves room for rotate")
	require.NoError(t, deploy.CheckFanoutConcurrency(concurrencyOf(fns)))
}

func TestCheckFanoutConcurrency(t *testing.T) {
	fn := func(name string, reserved int, env ...string) deploy.FunctionConcurrency {
		m := map[string]string{}
		for i := 0; i+1 < len(env); i += 2 {
			m[env[i]] = env[i+1]
		}
		return deploy.FunctionConcurrency{Name: name, Env: m, ReservedConcurrency: reserved}
	}
	tests := []struct {
		name string
		fn   deploy.FunctionConcurrency
		want string // empty: accepted
	}{
		{"no fan-out, one instance", fn("kmsmig-discover", 1), ""},
		{"discover fans out, no reservation", fn("kmsmig-discover", 0, "KMSMIG_DISCOVER_LANES_PER_INVOCATION", "10"), ""},
		{"discover fans out, 11 for the default 10", fn("kmsmig-discover", 11, "KMSMIG_DISCOVER_LANES_PER_INVOCATION", "10"), ""},
		{"discover fans out beyond concurrency", fn("kmsmig-discover", 10, "KMSMIG_DISCOVER_LANES_PER_INVOCATION", "10"),
			"kmsmig-discover fans out (KMSMIG_DISCOVER_LANES_PER_INVOCATION=10) but concurrencyConfig.reservedConcurrency 10 is below 1 + KMSMIG_FANOUT_INVOCATIONS (10)"},
		{"fan-out invocations raised", fn("kmsmig-discover", 16, "KMSMIG_DISCOVER_LANES_PER_INVOCATION", "10", "KMSMIG_FANOUT_INVOCATIONS", "20"),
			"below 1 + KMSMIG_FANOUT_INVOCATIONS (20)"},
		{"fan-out invocations lowered", fn("kmsmig-poll", 4, "KMSMIG_STEP_LANES_PER_INVOCATION", "50", "KMSMIG_FANOUT_INVOCATIONS", "3"), ""},
		{"migrate fans out beyond concurrency", fn("kmsmig-migrate", 5, "KMSMIG_STEP_LANES_PER_INVOCATION", "50"),
			"kmsmig-migrate fans out (KMSMIG_STEP_LANES_PER_INVOCATION=50) but concurrencyConfig.reservedConcurrency 5"},
		{"poll fans out beyond concurrency", fn("kmsmig-poll", 2, "KMSMIG_STEP_LANES_PER_INVOCATION", "50"), "kmsmig-poll fans out"},
		{"discover ignores the step setting", fn("kmsmig-discover", 2, "KMSMIG_STEP_LANES_PER_INVOCATION", "50"), ""},
		{"rotate never fans out", fn("kmsmig-rotate", 1, "KMSMIG_STEP_LANES_PER_INVOCATION", "50"), ""},
		{"malformed fan-out invocations", fn("kmsmig-poll", 20, "KMSMIG_STEP_LANES_PER_INVOCATION", "50", "KMSMIG_FANOUT_INVOCATIONS", "91"),
			`kmsmig-poll: KMSMIG_FANOUT_INVOCATIONS "91": must be a whole number from 1 to 90`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := deploy.CheckFanoutConcurrency([]deploy.FunctionConcurrency{tt.fn})
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), "fan-out beyond concurrency")
		})
	}
}
