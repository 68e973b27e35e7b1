package wiring

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/fcruntime"
	"github.com/kmsmig/kmsmig/shared/aliyun/sls"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/audit"
)

// An SLS sink that cannot be opened never fails the invocation: the trail
// falls back to stdout and stderr says why.
func TestObserverFallsBackToStdout(t *testing.T) {
	cfg, err := app.LoadConfig(func(k string) string { return map[string]string{"KMSMIG_AUDIT": "sls"}[k] })
	require.NoError(t, err)
	var stdout, stderr bytes.Buffer
	o := NewObserver(cfg, &stdout)
	o.stderr = &stderr
	inv := fcruntime.Invocation{RequestID: "req-1", Region: "cn-hangzhou"} // no log project known
	ctx, logger := o.Begin(t.Context(), inv, "poll")
	logger.Log(ctx, audit.Record{Action: "Probe", Outcome: "ok"})
	stats := o.End(ctx, inv)
	assert.Equal(t, int64(1), stats.Written)
	assert.Contains(t, stdout.String(), `"action":"Probe"`)
	assert.Contains(t, stderr.String(), "kmsmig: audit: SLS sink unavailable (sls: project and logstore are required); writing the audit trail to stdout")
}

// With the function's own log project (auto), the sink is SLS, opened once
// per process; each invocation's credentials replace the previous ones for
// signing (Function Compute reuses the process across invocations).
func TestObserverOpensSLSOnce(t *testing.T) {
	cfg, err := app.LoadConfig(func(string) string { return "" })
	require.NoError(t, err)
	var stdout bytes.Buffer
	o := NewObserver(cfg, &stdout)
	first := fcruntime.Invocation{RequestID: "req-1", Region: "cn-hangzhou", LogProject: "p", LogStore: "s", AccessKeyID: "AK1"}
	o.Begin(t.Context(), first, "poll")
	sink, ok := o.sink.(*sls.Sink)
	require.True(t, ok, "auto with a known log project: SLS, got %T", o.sink)

	second := first
	second.RequestID, second.AccessKeyID = "req-2", "AK2"
	o.Begin(t.Context(), second, "poll")
	assert.True(t, o.sink == audit.Logger(sink), "the sink is not reopened")
	assert.Equal(t, "AK2", o.inv.AccessKeyID, "the latest invocation signs")
	assert.Empty(t, stdout.String())
}
