package app

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoadConfigProviderRules(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		total  int
		strict bool
	}{
		{name: "task backend: no combined limit", env: nil, total: 0},
		{name: "observe backend: the console's 50", env: map[string]string{"KMSMIG_BACKEND": "observe"}, total: ObserveBatchTotal},
		{name: "observe, explicit", env: map[string]string{"KMSMIG_BACKEND": "observe", "KMSMIG_BATCH_TOTAL": "30"}, total: 30},
		{name: "task, lowest", env: map[string]string{"KMSMIG_BATCH_TOTAL": "1"}, total: 1},
		{name: "task, highest", env: map[string]string{"KMSMIG_BATCH_TOTAL": " 100 "}, total: 100},
		{name: "strict versions", env: map[string]string{"KMSMIG_STRICT_KEY_VERSIONS": "true"}, strict: true},
		{name: "lenient versions", env: map[string]string{"KMSMIG_STRICT_KEY_VERSIONS": "false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadConfig(env(tt.env))
			require.NoError(t, err)
			require.Equal(t, tt.total, c.Plan.MaxResources)
			require.Equal(t, tt.strict, c.StrictKeyVersions)
			require.NoError(t, c.Plan.Validate(), "the loaded limit is one the planner accepts")
		})
	}
}

func TestLoadConfigProviderRulesRefused(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"KMSMIG_BATCH_TOTAL", "0", `KMSMIG_BATCH_TOTAL: "0": must be a whole number from 1 to 100`},
		{"KMSMIG_BATCH_TOTAL", "101", `KMSMIG_BATCH_TOTAL: "101": must be a whole number from 1 to 100`},
		{"KMSMIG_BATCH_TOTAL", "fifty", `KMSMIG_BATCH_TOTAL: "fifty": must be a whole number from 1 to 100`},
		{"KMSMIG_STRICT_KEY_VERSIONS", "yes please", `KMSMIG_STRICT_KEY_VERSIONS: "yes please" is not true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			c, err := LoadConfig(env(map[string]string{tt.name: tt.value, "KMSMIG_BACKEND": "observe"}))
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
			require.Zero(t, c.Plan.MaxResources, "nothing is partially applied")
		})
	}
}
