package app

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/runstate"
)

func TestLoadConfigBackend(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		backend string
		timeout time.Duration
		bad     []string
	}{
		{name: "default", backend: "task", timeout: 24 * time.Hour},
		{name: "task", env: map[string]string{"KMSMIG_BACKEND": "task"}, backend: "task", timeout: 24 * time.Hour},
		{name: "observe", env: map[string]string{"KMSMIG_BACKEND": " observe ", "KMSMIG_OBSERVE_TIMEOUT": "6h"}, backend: "observe", timeout: 6 * time.Hour},
		{name: "unknown backend", env: map[string]string{"KMSMIG_BACKEND": "console"}, bad: []string{"KMSMIG_BACKEND"}},
		{name: "bad timeout", env: map[string]string{"KMSMIG_OBSERVE_TIMEOUT": "soon"}, bad: []string{"KMSMIG_OBSERVE_TIMEOUT"}},
		{name: "timeout too short", env: map[string]string{"KMSMIG_OBSERVE_TIMEOUT": "10s"}, bad: []string{"KMSMIG_OBSERVE_TIMEOUT"}},
		{name: "automatic needs tasks", env: map[string]string{"KMSMIG_BACKEND": "observe", "KMSMIG_METHOD": "automatic"}, bad: []string{"KMSMIG_METHOD"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadConfig(env(tc.env))
			if len(tc.bad) > 0 {
				require.Error(t, err)
				for _, name := range tc.bad {
					assert.Contains(t, err.Error(), name)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.backend, c.Backend)
			assert.Equal(t, tc.timeout, c.ObserveTimeout)
			ec := c.EngineConfig(time.Now())
			assert.Equal(t, tc.backend, ec.Backend)
			assert.Equal(t, tc.timeout, ec.ObserveTimeout)
		})
	}
}

type alertList struct {
	mu sync.Mutex
	as []alert.Alert
}

func (l *alertList) Alert(_ context.Context, a alert.Alert) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.as = append(l.as, a)
	return nil
}

// A step that published a batch for the operator raises one INFO alert
// saying where the list is; other steps raise none.
func TestFinishAlertsHandoff(t *testing.T) {
	store, err := runstate.OpenDir(t.TempDir())
	require.NoError(t, err)
	alerts := &alertList{}
	x := &Executor{Engine: &migration.Engine{Store: store}, Alerts: alerts}
	const batch = "1111/cn-hangzhou/b0001"
	deadline := time.Date(2025, 3, 2, 2, 0, 0, 0, time.UTC)
	jk, mk := migration.HandoffKeys("r1", batch)
	res, err := x.finish(t.Context(), StepResult{RunID: "r1", Steps: []migration.StepResult{
		{BatchID: batch, Step: "submit", Outcome: migration.OutcomeUpdated, Phase: migration.PhaseAwaitingOperator,
			Handoff: &migration.HandoffNotice{InstanceID: "kst-1", Keys: 2, Secrets: 3, Deadline: deadline, JSONKey: jk, MarkdownKey: mk}},
		{BatchID: "1111/cn-shanghai/b0001", Step: "poll", Outcome: migration.OutcomeWaiting, Phase: migration.PhaseAwaitingOperator},
	}}, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Alerts)
	require.Len(t, alerts.as, 1)
	a := alerts.as[0]
	assert.Equal(t, alert.Info, a.Severity)
	assert.True(t, strings.HasPrefix(a.Title, "Batch "+batch+" ready to start in the console"), a.Title)
	assert.Contains(t, a.Text, mk)
	assert.Contains(t, a.Text, "2025-03-02T02:00:00Z")
	assert.Equal(t, "cn-hangzhou", a.Fields["region"])
	assert.Equal(t, batch, a.Fields["batch_id"])
}
