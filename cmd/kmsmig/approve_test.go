package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aliyun/credentials-go/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/ram"
	"github.com/kmsmig/kmsmig/shared/approval"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// approvalPlan stores a two-batch plan of run runID with its digest (as
// discover does) and returns it.
func approvalPlan(t *testing.T, store runstate.Store, runID string, batches bool) plan.Plan {
	t.Helper()
	lane := estate.Lane{Account: "1111000011110001", Region: "cn-hangzhou"}
	p := plan.Plan{RunID: runID, Lanes: []plan.LanePlan{{Lane: lane, InstanceID: "kst-1"}}}
	if batches {
		p.Lanes[0].Batches = []plan.Batch{
			{ID: plan.BatchID(lane, 1), Lane: lane, InstanceID: "kst-1", Seq: 1, Keys: []string{"k1", "k2"}, KeysRotationOff: []string{"k1"}},
			{ID: plan.BatchID(lane, 2), Lane: lane, InstanceID: "kst-1", Seq: 2, Secrets: []string{"s1"}},
		}
	}
	p.Digest = approval.Digest(&p, nil)
	_, err := runstate.MutateJSON(t.Context(), store, statekeys.Plan(runID), func(v *plan.Plan, _ bool) error { *v = p; return nil })
	require.NoError(t, err)
	return p
}

// answering makes approve's confirmation come from a terminal typing
// answer (or from no terminal when tty is false), for the test.
func answering(t *testing.T, tty bool, answer string) {
	t.Helper()
	oldIn, oldTTY := stdin, stdinIsTerminal
	stdin, stdinIsTerminal = strings.NewReader(answer), func() bool { return tty }
	t.Cleanup(func() { stdin, stdinIsTerminal = oldIn, oldTTY })
}

// Bad input is refused with exit 2 and nothing is written; a person who
// does not answer yes approves nothing.
func TestApproveRefusals(t *testing.T) {
	dir := t.TempDir()
	store, err := runstate.OpenDir(dir)
	require.NoError(t, err)
	ctx := t.Context()
	p := approvalPlan(t, store, "run-1", true)
	approvalPlan(t, store, "run-empty", false)
	old := callerIdentity
	callerIdentity = func(context.Context, credentials.Credential, ram.IdentityConfig) (approval.Identity, error) {
		return approval.Identity{AccountID: "1111000011110001", IdentityType: "Account", Arn: "acs:ram::1111000011110001:root"}, nil
	}
	t.Cleanup(func() { callerIdentity = old })
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAItest")
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "test-secret")
	state := "dir:" + dir
	tests := []struct {
		name    string
		args    []string
		tty     bool
		answer  string
		code    int
		wantErr string
	}{
		{"no run", []string{"approve", "--state", state}, true, "yes\n", 2, "--run: required"},
		{"unknown run", []string{"approve", "--state", state, "--run", "run-9"}, true, "yes\n", 2, "--run run-9: no such run in this store"},
		{"digest mismatch", []string{"approve", "--state", state, "--run", "run-1", "--digest", "v1:abc"}, true, "yes\n", 2,
			"approval: digest is not the current plan's: given v1:abc, the plan of run-1 is " + p.Digest + "; nothing written"},
		{"no batches", []string{"approve", "--state", state, "--run", "run-empty", "--yes"}, true, "", 2, "run run-empty has no pending batch"},
		{"no terminal", []string{"approve", "--state", state, "--run", "run-1"}, false, "yes\n", 2, "standard input is not a terminal"},
		{"answer no", []string{"approve", "--state", state, "--run", "run-1"}, true, "no\n", 1, "not approved (the answer was not yes)"},
		{"no answer", []string{"approve", "--state", state, "--run", "run-1"}, true, "", 1, "not approved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answering(t, tt.tty, tt.answer)
			var out, errOut bytes.Buffer
			assert.Equal(t, tt.code, run(ctx, tt.args, &out, &errOut))
			assert.Contains(t, errOut.String(), tt.wantErr)
			for _, r := range []string{"run-1", "run-9", "run-empty"} {
				_, found, err := approval.Read(ctx, store, r)
				require.NoError(t, err)
				assert.False(t, found, "nothing written for %s", r)
			}
		})
	}

	// Answered yes: approved, by the caller identity.
	answering(t, true, "yes\n")
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(ctx, []string{"approve", "--state", state, "--run", "run-1", "--digest", p.Digest}, &out, &errOut), errOut.String())
	for _, want := range []string{"Plan of run run-1 (digest " + p.Digest + ")", "2 batches in 1 lanes: 2 keys, 1 secrets; 1 automatic rotation policies",
		"rotation switched off: key k1", "Type yes to approve", "approved by acs:ram::1111000011110001:root", "The store is not on OSS: no trigger"} {
		assert.Contains(t, out.String(), want)
	}
	a, found, err := approval.Read(ctx, store, "run-1")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, p.Digest, a.Digest)
	assert.Equal(t, "Account", a.By.IdentityType)
}

// Against the twins: the approver is who STS says the credentials are, and
// an OSS store gets the object the trigger of migrate watches; status
// shows the approval, or that the run awaits one.
func TestApproveThroughTwins(t *testing.T) {
	st, err := stack.Start(stack.Options{Inventory: kmstwin.DemoInventory(), Unthrottled: true})
	require.NoError(t, err)
	t.Cleanup(func() { go st.Close() })
	ready := st.Ready()
	b, err := json.Marshal(ready)
	require.NoError(t, err)
	readyFile := filepath.Join(t.TempDir(), "ready.json")
	require.NoError(t, os.WriteFile(readyFile, b, 0o600))
	ctx := t.Context()
	state := "oss://" + ready.StateBucket + "/kmsmig"
	store, err := openStatusStore(ctx, state, readyFile)
	require.NoError(t, err)
	p := approvalPlan(t, store, "run-20261129", true)
	_, err = runstate.MutateJSON(ctx, store, statekeys.Current, func(v *map[string]string, _ bool) error {
		*v = map[string]string{"runId": "run-20261129"}
		return nil
	})
	require.NoError(t, err)
	_, err = runstate.MutateJSON(ctx, store, statekeys.ApprovalRequest("run-20261129"), func(v *approval.Request, _ bool) error {
		*v = approval.Request{RunID: "run-20261129", Digest: p.Digest}
		return nil
	})
	require.NoError(t, err)

	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(ctx, []string{"status", "--state", state, "--twin", readyFile}, &out, &errOut), errOut.String())
	assert.Contains(t, out.String(), "AWAITING APPROVAL (kmsmig approve --run run-20261129)")
	assert.Contains(t, out.String(), "Approval: awaiting approval: run kmsmig approve --run run-20261129")

	out.Reset()
	require.Equal(t, 0, run(ctx, []string{"approve", "--state", state, "--twin", readyFile, "--run", "run-20261129", "--yes"}, &out, &errOut), errOut.String())
	home := ready.Home
	assert.Contains(t, out.String(), "approved by acs:ram::"+home+":root")
	assert.Contains(t, out.String(), "Migrate is prompted through oss://"+ready.StateBucket+"/kmsmig/approvals/run-20261129.json")
	a, found, err := approval.Read(ctx, store, "run-20261129")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, approval.Identity{AccountID: home, IdentityType: "Account", Arn: "acs:ram::" + home + ":root", PrincipalID: home}, a.By)

	out.Reset()
	require.Equal(t, 0, run(ctx, []string{"approve", "--state", state, "--twin", readyFile, "--run", "run-20261129", "--yes"}, &out, &errOut), errOut.String())
	assert.Contains(t, out.String(), "already approved")

	out.Reset()
	require.Equal(t, 0, run(ctx, []string{"status", "--state", state, "--twin", readyFile}, &out, &errOut), errOut.String())
	assert.NotContains(t, out.String(), "AWAITING APPROVAL")
	assert.Contains(t, out.String(), "Approval: approved by acs:ram::"+home+":root")
}
