package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	kmsv3 "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// TestTwinReadyLine starts `kmsmig twin --inventory demo`, reads its one
// ready line and calls the KMS endpoint it names with the official client
// and the account key it gives.
func TestTwinReadyLine(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"twin", "--inventory", "demo", "--task-speed", "10"}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err)
	var ready stack.Ready
	require.NoError(t, json.Unmarshal([]byte(line), &ready))
	require.Len(t, ready.KMS, 3)
	require.NotEmpty(t, ready.STS)
	require.NotEmpty(t, ready.OSS)
	require.NotEmpty(t, ready.SLS)
	require.NotEmpty(t, ready.FC)
	require.Len(t, ready.Accounts, 3)

	a := ready.Accounts[0]
	c, err := kmsv3.NewClient(&openapiutil.Config{AccessKeyId: dara.String(a.AccessKeyID), AccessKeySecret: dara.String(a.AccessKeySecret),
		Endpoint: dara.String(ready.KMS["cn-hangzhou"]), Protocol: dara.String("http"), RegionId: dara.String("cn-hangzhou")})
	require.NoError(t, err)
	res, err := c.ListKeys(&kmsv3.ListKeysRequest{})
	require.NoError(t, err)
	require.Positive(t, dara.Int32Value(res.Body.TotalCount))

	cancel()
	select {
	case code := <-done:
		require.Equal(t, 0, code, "an interrupted twin exits 0")
	case <-time.After(10 * time.Second):
		require.FailNow(t, "twin did not stop on interrupt")
	}
}

func TestBadInvocations(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"accounts":[{"id":"1","regions":{"cn-hangzhou":{"keys":[{"keyId":"x","origin":"nope"}]}}}]}`), 0o600))
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, 2, "Commands:"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"twin without inventory", []string{"twin"}, 2, "--inventory is required"},
		{"twin bad qps group", []string{"twin", "--inventory", "demo", "--qps", "Keys=5"}, 2, "GROUP one of"},
		{"twin bad fault rate", []string{"twin", "--inventory", "demo", "--fault-rate", "2"}, 2, "--fault-rate"},
		{"twin bad addr", []string{"twin", "--inventory", "demo", "--addr", "127.0.0.1:8080"}, 2, "--addr"},
		{"twin bad inventory", []string{"twin", "--inventory", bad}, 2, "origin: must be Aliyun_KMS or EXTERNAL"},
		{"twin unknown flag", []string{"twin", "--colour"}, 2, "flag provided but not defined"},
		{"twin bad task api", []string{"twin", "--inventory", "demo", "--task-api", "missing"}, 2, "--task-api \"missing\": want present or absent"},
		{"rehearse bad task api", []string{"rehearse", "--task-api", "gone"}, 2, "--task-api \"gone\": want present or absent"},
		{"discover bad twin file", []string{"discover", "--twin", bad}, 2, "ready line"},
		{"rehearse bad inventory", []string{"rehearse", "--inventory", bad}, 2, "keyId"},
		{"rehearse bad speed", []string{"rehearse", "--speed", "0"}, 2, "--speed"},
		{"rehearse bad nights", []string{"rehearse", "--nights", "0"}, 2, "--nights"},
		{"rehearse bad window", []string{"rehearse", "--window", "2-6"}, 2, "--window"},
		{"rehearse bad generator", []string{"rehearse", "--inventory", "generate:keys=x"}, 2, "want name=number"},
		{"rehearse set not kmsmig", []string{"rehearse", "--set", "PATH=/tmp"}, 2, `--set "PATH=/tmp": "PATH" is not a KMSMIG_* setting`},
		{"rehearse set no value", []string{"rehearse", "--set", "KMSMIG_BATCH_KEYS"}, 2, `--set "KMSMIG_BATCH_KEYS": want KMSMIG_NAME=value`},
		{"rehearse set lower case", []string{"rehearse", "--set", "kmsmig_x=1"}, 2, "is not a KMSMIG_* setting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(t.Context(), tt.args, &out, &errOut)
			require.Equal(t, tt.code, code, "stderr: %s", errOut.String())
			require.Contains(t, out.String()+errOut.String(), tt.want)
		})
	}
}

func TestHelpAnswers(t *testing.T) {
	for _, cmd := range []string{"twin", "discover", "plan", "rehearse", "status", "setup-logs", "pause", "resume", "abort", "approve", "migrate-state"} {
		var out, errOut bytes.Buffer
		require.Equal(t, 0, run(t.Context(), []string{cmd, "--help"}, &out, &errOut), cmd)
		require.Contains(t, errOut.String(), "Usage: kmsmig "+cmd, cmd)
	}
}

// The full rehearsal is tested in testinfra/rehearsal; here, that a missing
// build is explained.
func TestRehearseWithoutBinaries(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"rehearse", "--dist", t.TempDir(), "--syaml", "../../s.yaml"}, &out, &errOut)
	require.Equal(t, 1, code)
	require.Contains(t, errOut.String(), "run make build")
}

func TestStatus(t *testing.T) {
	dir := t.TempDir()
	store, err := runstate.OpenDir(dir)
	require.NoError(t, err)
	ctx := t.Context()
	lane := estate.Lane{Account: "1111", Region: "cn-hangzhou"}
	p := plan.Plan{RunID: "run-1", Lanes: []plan.LanePlan{{Lane: lane, InstanceID: "kst-1", Batches: []plan.Batch{
		{ID: plan.BatchID(lane, 1), Lane: lane, InstanceID: "kst-1", Seq: 1, Keys: []string{"k1", "k2"}},
		{ID: plan.BatchID(lane, 2), Lane: lane, InstanceID: "kst-1", Seq: 2, Secrets: []string{"s1"}},
	}}}}
	put := func(key string, v any) {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		_, err = store.Create(ctx, key, b)
		require.NoError(t, err)
	}
	put(statekeys.Plan("run-1"), p)
	put(statekeys.Current, migration.CurrentRun{RunID: "run-1"})
	put(statekeys.Batch("run-1", plan.BatchID(lane, 1)), migration.BatchState{
		ID: plan.BatchID(lane, 1), RunID: "run-1", Lane: lane, Seq: 1, InstanceID: "kst-1", Keys: []string{"k1", "k2"},
		Phase: migration.PhaseRunning, TaskID: "mt-1", TaskStatus: "Running",
	})

	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(ctx, []string{"status", "--state", "dir:" + dir}, &out, &errOut), errOut.String())
	for _, want := range []string{"Run run-1: in progress; 0 of 2 batches verified", "b0001", "running", "mt-1 (Running)", "b0002", "planned"} {
		require.Contains(t, out.String(), want)
	}
	out.Reset()
	require.Equal(t, 0, run(ctx, []string{"status", "--state", "dir:" + dir, "--json"}, &out, &errOut), errOut.String())
	var st runStatus
	require.NoError(t, json.Unmarshal(out.Bytes(), &st))
	require.Equal(t, "running", st.Lanes[0].Batches[0].Phase)

	// An empty store says what is missing.
	errOut.Reset()
	require.Equal(t, 1, run(ctx, []string{"status", "--state", "dir:" + t.TempDir()}, &out, &errOut))
	require.Contains(t, errOut.String(), "no current run")
}

// TestExportRoundTrip: an estate exported by discovery loads into the twin
// and discovers to the same keys and secrets with the same verdicts, and
// the file holds no secret value.
func TestExportRoundTrip(t *testing.T) {
	ready := func(inv *kmstwin.Inventory) string {
		st, err := stack.Start(stack.Options{Inventory: inv, Unthrottled: true})
		require.NoError(t, err)
		t.Cleanup(st.Close)
		b, err := json.Marshal(st.Ready())
		require.NoError(t, err)
		f := filepath.Join(t.TempDir(), "ready.json")
		require.NoError(t, os.WriteFile(f, b, 0o600))
		return f
	}
	exported := filepath.Join(t.TempDir(), "estate.json")
	var first, second, errOut bytes.Buffer
	require.Equal(t, 0, run(t.Context(), []string{"plan", "--twin", ready(kmstwin.DemoInventory()), "--json", "--export", exported}, &first, &errOut), errOut.String())
	data, err := os.ReadFile(exported)
	require.NoError(t, err)
	require.NotContains(t, string(data), "secretData")
	require.NotContains(t, string(data), "demo-secret-value")
	inv, err := kmstwin.LoadInventory(exported)
	require.NoError(t, err)
	require.Equal(t, 0, run(t.Context(), []string{"plan", "--twin", ready(inv), "--json"}, &second, &errOut), errOut.String())
	var a, b struct {
		Summary struct {
			Keys, Secrets, Blocked int
			ByReason               map[string]int
		}
	}
	require.NoError(t, json.Unmarshal(first.Bytes(), &a))
	require.NoError(t, json.Unmarshal(second.Bytes(), &b))
	require.Equal(t, a.Summary, b.Summary)
	require.Positive(t, a.Summary.Keys)
}

// pause, resume and abort work on the store status reads; bad input is
// refused with exit 2 and nothing written.
func TestControls(t *testing.T) {
	dir := t.TempDir()
	store, err := runstate.OpenDir(dir)
	require.NoError(t, err)
	ctx := t.Context()
	lane := estate.Lane{Account: "1111", Region: "cn-hangzhou"}
	b1, b2, b3 := plan.BatchID(lane, 1), plan.BatchID(lane, 2), plan.BatchID(lane, 3)
	p := plan.Plan{RunID: "run-1", Lanes: []plan.LanePlan{{Lane: lane, InstanceID: "kst-1", Batches: []plan.Batch{
		{ID: b1, Lane: lane, InstanceID: "kst-1", Seq: 1, Keys: []string{"k1"}},
		{ID: b2, Lane: lane, InstanceID: "kst-1", Seq: 2, Keys: []string{"k2"}},
		{ID: b3, Lane: lane, InstanceID: "kst-1", Seq: 3, Keys: []string{"k3"}},
	}}}}
	put := func(key string, v any) {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		_, err = store.Create(ctx, key, b)
		require.NoError(t, err)
	}
	put(statekeys.Plan("run-1"), p)
	put(statekeys.Current, migration.CurrentRun{RunID: "run-1"})
	put(statekeys.Batch("run-1", b1), migration.BatchState{ID: b1, RunID: "run-1", Lane: lane, Seq: 1, InstanceID: "kst-1",
		Keys: []string{"k1"}, Phase: migration.PhaseVerified, PlanStatus: plan.StatusDone, Verified: true})
	put(statekeys.Batch("run-1", b2), migration.BatchState{ID: b2, RunID: "run-1", Lane: lane, Seq: 2, InstanceID: "kst-1",
		Keys: []string{"k2"}, Phase: migration.PhaseRunning, PlanStatus: plan.StatusRunning, TaskID: "mt-2",
		History: []migration.Transition{{To: migration.PhasePlanned}, {From: migration.PhasePlanned, To: migration.PhaseRotationOff},
			{From: migration.PhaseRotationOff, To: migration.PhaseSubmitting}, {From: migration.PhaseSubmitting, To: migration.PhaseSubmitted},
			{From: migration.PhaseSubmitted, To: migration.PhaseRunning}}})
	state := "dir:" + dir
	snapshot := func() map[string]string {
		keys, err := store.List(ctx, "")
		require.NoError(t, err)
		out := map[string]string{}
		for _, k := range keys {
			obj, err := store.Get(ctx, k)
			require.NoError(t, err)
			out[k] = string(obj.Data)
		}
		return out
	}
	before := snapshot()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"pause", "--state", state}, "--run: required"},
		{[]string{"pause", "--state", state, "--run", "run-9"}, "--run run-9: no such run"},
		{[]string{"resume", "--state", state, "--run", "run-9"}, "--run run-9: no such run"},
		{[]string{"abort", "--state", state, "--batch", "nonsense"}, "want ACCOUNT/REGION/bNNNN"},
		{[]string{"abort", "--state", state, "--batch", plan.BatchID(lane, 7)}, "not a batch of run run-1"},
		{[]string{"abort", "--state", state, "--run", "run-9", "--batch", b2}, "--run run-9: no such run"},
		{[]string{"abort", "--state", state, "--batch", b3}, "has not started"},
		{[]string{"abort", "--state", state, "--batch", b1}, "already ended"},
	} {
		var out, errOut bytes.Buffer
		require.Equal(t, 2, run(ctx, tc.args, &out, &errOut), "%v: %s", tc.args, errOut.String())
		require.Contains(t, errOut.String(), tc.want, tc.args)
	}
	require.Equal(t, before, snapshot(), "refused controls write nothing")

	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(ctx, []string{"pause", "--state", state, "--run", "run-1", "--by", "ops", "--reason", "freeze"}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "Run run-1 paused by ops")
	out.Reset()
	require.Equal(t, 0, run(ctx, []string{"pause", "--state", state, "--run", "run-1"}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "already paused")
	out.Reset()
	require.Equal(t, 0, run(ctx, []string{"status", "--state", state}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "PAUSED (kmsmig resume --run run-1)")
	require.Contains(t, out.String(), "Operator: pause by ops")
	out.Reset()
	require.Equal(t, 0, run(ctx, []string{"abort", "--state", state, "--batch", b2, "--by", "ops", "--reason", "stalled"}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "aborted by ops (now failed)")
	errOut.Reset()
	require.Equal(t, 2, run(ctx, []string{"abort", "--state", state, "--batch", b2}, &out, &errOut))
	require.Contains(t, errOut.String(), "already ended")
	out.Reset()
	require.Equal(t, 0, run(ctx, []string{"resume", "--state", state, "--run", "run-1", "--by", "ops"}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "Run run-1 resumed by ops")
	out.Reset()
	require.Equal(t, 0, run(ctx, []string{"status", "--state", state, "--json"}, &out, &errOut), errOut.String())
	var st runStatus
	require.NoError(t, json.Unmarshal(out.Bytes(), &st))
	require.False(t, st.Paused)
	require.Len(t, st.Controls, 3)
	require.Equal(t, "failed", st.Lanes[0].Batches[1].Phase)
}

// migrate-state moves only an OSS store: anything else is refused with the
// flag named, exit 2, nothing written.
func TestMigrateStateRefusesBadStores(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	for _, args := range [][]string{{}, {"--state", "dir:" + dir}, {"--state", "oss://"}} {
		var out, errOut bytes.Buffer
		require.Equal(t, 2, run(t.Context(), append([]string{"migrate-state"}, args...), &out, &errOut), "%v", args)
		require.Contains(t, errOut.String(), "oss://", "%v: %s", args, errOut.String())
	}
	_, err := os.Stat(dir)
	require.True(t, os.IsNotExist(err), "nothing written")
}
