package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/sls"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
	slstwin "github.com/kmsmig/kmsmig/twin/sls"
)

// TestSetupLogsTwice runs `setup-logs --twin READY.json` twice against the
// twin stack: the first run creates everything, the second changes
// nothing. The webhook URL and DingTalk secret appear in neither the output
// nor the files, and the files hold what was applied.
func TestSetupLogsTwice(t *testing.T) {
	for _, v := range []string{"KMSMIG_ALERT_WEBHOOK", "KMSMIG_DINGTALK_WEBHOOK", "KMSMIG_DINGTALK_SECRET"} {
		t.Setenv(v, "")
	}
	t.Setenv("KMSMIG_DINGTALK_WEBHOOK", "https://oapi.dingtalk.com/robot/send?access_token=ding-t0ken")
	st, err := stack.Start(stack.Options{Inventory: kmstwin.DemoInventory(), Unthrottled: true})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	b, err := json.Marshal(st.Ready())
	require.NoError(t, err)
	ready := filepath.Join(t.TempDir(), "ready.json")
	require.NoError(t, os.WriteFile(ready, b, 0o600))
	out := t.TempDir()
	args := []string{"setup-logs", "--twin", ready, "--out", out, "--webhook", "https://hooks.example.com/k?token=hook-t0ken",
		"--dingtalk-secret", "SECding-s3cret"}
	p := stack.DefaultLogProject
	lines := func(outcome string) string {
		return strings.Join([]string{
			"logstore " + p + "/kmsmig-audit: " + outcome + "; index: " + outcome,
			"saved search kmsmig-failures: " + outcome,
			"saved search kmsmig-rotation: " + outcome,
			"saved search kmsmig-run-timeline: " + outcome,
			"dashboard kmsmig-overview: " + outcome,
			"webhook integration " + p + "-webhook: " + outcome,
			"webhook integration " + p + "-dingtalk: " + outcome,
			"action policy " + p + ": " + outcome,
			"alert rule kmsmig-failures: " + outcome,
			"notifications: alert policy sls.builtin.dynamic, action policy " + p + ", to custom " + p +
				"-webhook and dingtalk " + p + "-dingtalk",
			"wrote " + filepath.Join(out, "saved-queries.json") + ", " + filepath.Join(out, "alert-rule.json") + ", " +
				filepath.Join(out, "dashboard.json"),
		}, "\n") + "\n"
	}
	for i, want := range []string{lines(sls.Created), lines(sls.Unchanged)} {
		var stdout, stderr bytes.Buffer
		require.Equal(t, 0, run(t.Context(), args, &stdout, &stderr), "run %d: %s", i+1, stderr.String())
		assert.Equal(t, want, stdout.String(), "run %d", i+1)
		t.Logf("run %d:\n%s", i+1, stdout.String())
		for _, secret := range []string{"hook-t0ken", "ding-t0ken", "s3cret"} {
			assert.NotContains(t, stdout.String()+stderr.String(), secret)
		}
	}

	for _, f := range []string{"saved-queries.json", "alert-rule.json", "dashboard.json"} {
		data, err := os.ReadFile(filepath.Join(out, f))
		require.NoError(t, err)
		for _, secret := range []string{"hook-t0ken", "ding-t0ken", "s3cret"} {
			assert.NotContains(t, string(data), secret, f)
		}
	}
	var fileRule slssdk.Alert
	data, err := os.ReadFile(filepath.Join(out, "alert-rule.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &fileRule))
	assert.Equal(t, p, fileRule.Configuration.PolicyConfiguration.ActionPolicyId)

	// What the file says is what the twin holds, read with the official client.
	home := st.Ready().Accounts[0]
	for _, a := range st.Ready().Accounts {
		if a.ID == st.Ready().Home {
			home = a
		}
	}
	c := &slssdk.Client{Endpoint: st.Ready().SLS, AccessKeyID: home.AccessKeyID, AccessKeySecret: home.AccessKeySecret,
		HTTPClient: slstwin.HTTPClient(st.Ready().SLS)}
	rule, err := c.GetAlert(p, sls.AlertRuleName)
	require.NoError(t, err)
	assert.Equal(t, fileRule.Configuration, rule.Configuration)
	var fileBoard slssdk.Dashboard
	data, err = os.ReadFile(filepath.Join(out, "dashboard.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &fileBoard))
	board, err := c.GetDashboard(p, sls.DashboardName)
	require.NoError(t, err)
	assert.Equal(t, fileBoard, *board)
	assert.Len(t, st.SLS.Records(st.Ready().Home, slssdk.ResourceNameWebhookIntegration), 2)
}

func TestSetupLogsBadFlags(t *testing.T) {
	for _, v := range []string{"KMSMIG_ALERT_WEBHOOK", "KMSMIG_DINGTALK_WEBHOOK", "KMSMIG_DINGTALK_SECRET"} {
		t.Setenv(v, "")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--webhook", "ftp://x/?token=leak"}, "--webhook: must be an http(s) URL"},
		{[]string{"--dingtalk", "oapi.dingtalk.com/robot?access_token=leak"}, "--dingtalk: must be an http(s) URL"},
		{[]string{"--dingtalk-secret", "SECleak"}, "--dingtalk-secret is set but --dingtalk is not"},
	} {
		var stdout, stderr bytes.Buffer
		require.Equal(t, 2, run(t.Context(), append([]string{"setup-logs", "--project", "p"}, tc.args...), &stdout, &stderr), tc.args)
		assert.Contains(t, stderr.String(), tc.want)
		assert.NotContains(t, stderr.String(), "leak", "a refused URL is not repeated")
	}
}
