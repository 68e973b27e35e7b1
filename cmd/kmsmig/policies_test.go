package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/kmsmig/kmsmig/deploy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kmsmig policies renders the documents (deploy.Files) from the configured accounts;
// a bad value is refused with exit status 2, naming it, and nothing is
// written.
func TestPoliciesCommand(t *testing.T) {
	for _, k := range []string{"ALIBABA_CLOUD_ACCOUNT_ID", "KMSMIG_ACCOUNTS", "KMSMIG_ROLE_ARNS", "KMSMIG_STATE_BUCKET", "KMSMIG_SLS_PROJECT", "OUT"} {
		t.Setenv(k, "")
	}
	out := filepath.Join(t.TempDir(), "out")
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"policies", "--home", "1111000011110001", "--accounts", "1111000011110001,2222000022220002,3333000033330003",
		"--role-arns", "3333000033330003=acs:ram::3333000033330003:role/reader", "--state-bucket", "st", "--sls-project", "pj", "--out", out}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	files, err := os.ReadDir(out)
	require.NoError(t, err)
	assert.Len(t, files, len(deploy.Files))
	b, err := os.ReadFile(filepath.Join(out, "ram-policy.json"))
	require.NoError(t, err)
	var doc struct {
		Statement []struct {
			Action   []string
			Resource []string
		}
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	var sts []string
	for _, s := range doc.Statement {
		if s.Action[0] == "sts:AssumeRole" {
			sts = s.Resource
		}
	}
	assert.Equal(t, []string{"acs:ram::2222000022220002:role/kmsmig-member", "acs:ram::3333000033330003:role/reader"}, sts)

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--home", "x1"}, `home account "x1"`},
		{[]string{"--home", "1111000011110001", "--accounts", "22a"}, "KMSMIG_ACCOUNTS"},
		{[]string{"--home", "1111000011110001", "--role-arns", "2222000022220002=acs:ram::*:role/x"}, "KMSMIG_ROLE_ARNS"},
		{[]string{"--home", "1111000011110001", "--state-bucket", ""}, "state bucket"},
	} {
		bad := filepath.Join(t.TempDir(), "bad")
		stderr.Reset()
		args := append([]string{"policies", "--state-bucket", "st", "--sls-project", "pj", "--out", bad}, tt.args...)
		assert.Equal(t, 2, run(t.Context(), args, &stdout, &stderr), tt.args)
		assert.Contains(t, stderr.String(), tt.want)
		_, err := os.Stat(bad)
		assert.True(t, os.IsNotExist(err), "nothing written for %v", tt.args)
	}
}
