// Package functions_test checks the four function binaries as Function
// Compute runs them: what they link, and how they answer invocations under
// the FC twin.
package functions_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"

	"github.com/kmsmig/kmsmig/shared/aliyun/ram"
	"github.com/kmsmig/kmsmig/shared/aliyun/sls"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/wiring"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	fctwin "github.com/kmsmig/kmsmig/twin/fc"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
	slstwin "github.com/kmsmig/kmsmig/twin/sls"
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
	home := homeKey(t, ready)
	_, err = sls.EnsureLogstore(t.Context(), sls.SetupConfig{Endpoint: ready.SLS, DialAddr: ready.SLS, Project: ready.LogProject,
		Logstore: "kmsmig-audit", Credentials: sls.Credentials{AccessKeyID: home.AccessKeyID, AccessKeySecret: home.AccessKeySecret}})
	require.NoError(t, err)
	err = st.FC.Deploy(fctwin.Function{
		Name: "discover", Binary: build(t, "discover", t.TempDir()), Timeout: time.Minute,
		AccountID: ready.Home, Region: "cn-hangzhou", Role: "acs:ram::" + ready.Home + ":role/kmsmig",
		Env: twinState(ready, "binary", map[string]string{
			"KMSMIG_KMS_ENDPOINTS": strings.Join(endpoints, ","),
			"KMSMIG_INSECURE":      "true",
			"KMSMIG_REGIONS":       "cn-hangzhou,cn-shanghai",
			"KMSMIG_SLS_ENDPOINT":  ready.SLS,
			"KMSMIG_SLS_PROJECT":   ready.LogProject,
			"KMSMIG_SLS_LOGSTORE":  "kmsmig-audit",
		}),
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

	cred, err := ram.Static(home.AccessKeyID, home.AccessKeySecret, "")
	require.NoError(t, err)
	store, err := wiring.OpenStore(t.Context(), app.Config{State: "oss://" + ready.StateBucket + "/binary", OSSEndpoint: ready.OSS, Insecure: true},
		cred, ready.OSSRegion)
	require.NoError(t, err)
	p, _, err := runstate.GetJSON[plan.Plan](t.Context(), store, out.Plan)
	require.NoError(t, err)
	require.Equal(t, out.Batches, p.BatchCount())
	require.NotNil(t, out.Audit)
	require.True(t, out.Audit.Complete(), "audit trail incomplete: %+v", *out.Audit)
	require.Positive(t, out.Audit.Written)

	// The audit trail reads back through the official SDK, one record per
	// verdict among others, and holds no secret value and no credential.
	logs := readTrail(t, ready, home, `run_id: run-20261129`)
	actions := map[string]int{}
	for _, l := range logs {
		actions[l["action"]]++
		require.Equal(t, "discover", l["function"])
	}
	require.Equal(t, out.Counts.Keys+out.Counts.Secrets, actions["Classify"])
	require.Equal(t, 2, actions["DiscoverLane"])
	require.Equal(t, out.Batches, actions["PlanBatch"])
	require.Equal(t, 1, actions["Discover"])
	secrets := append(st.Keyring.Secrets(), secretValues(kmstwin.DemoInventory())...)
	for _, l := range logs {
		for _, v := range l {
			for _, secret := range secrets {
				require.NotContains(t, v, secret, "an audit record carries a secret value or credential")
			}
		}
	}

	// An event with an unknown field is refused, naming the field, and
	// writes nothing new.
	res, err = st.FC.Invoke(t.Context(), "discover", []byte(`{"runName":"x"}`))
	require.NoError(t, err)
	require.NotNil(t, res.Error)
	require.Contains(t, res.Error.Message, "runName")
	require.Zero(t, st.KMS.CallCounts()["GetSecretValue"])
}

// twinState adds to env a run-state store under prefix in the OSS twin's
// state bucket (Function Compute refuses dir: state: each instance has its
// own disk) and turns chaining off (no other function is deployed).
func twinState(ready stack.Ready, prefix string, env map[string]string) map[string]string {
	env["KMSMIG_STATE"] = "oss://" + ready.StateBucket + "/" + prefix
	env["KMSMIG_OSS_ENDPOINT"], env["KMSMIG_OSS_REGION"] = ready.OSS, ready.OSSRegion
	env["KMSMIG_FUNCTION_MIGRATE"], env["KMSMIG_FUNCTION_ROTATE"] = "-", "-"
	return env
}

func homeKey(t *testing.T, ready stack.Ready) stack.Account {
	t.Helper()
	for _, a := range ready.Accounts {
		if a.ID == ready.Home {
			return a
		}
	}
	require.FailNow(t, "no home account in the ready line")
	return stack.Account{}
}

// readTrail queries the audit logstore with the official SLS client.
func readTrail(t *testing.T, ready stack.Ready, key stack.Account, query string) []map[string]string {
	t.Helper()
	c := &slssdk.Client{Endpoint: ready.SLS, AccessKeyID: key.AccessKeyID, AccessKeySecret: key.AccessKeySecret}
	c.SetHTTPClient(slstwin.HTTPClient(ready.SLS))
	now := time.Now().Unix()
	var out []map[string]string
	for offset := int64(0); ; offset += 100 {
		resp, err := c.GetLogs(ready.LogProject, "kmsmig-audit", "", now-3600, now+60, query, 100, offset, false)
		require.NoError(t, err)
		out = append(out, resp.Logs...)
		if len(resp.Logs) < 100 {
			return out
		}
	}
}

// secretValues lists every secret value the inventory holds (values so
// short that they would match ordinary words are left out).
func secretValues(inv *kmstwin.Inventory) []string {
	var out []string
	for _, a := range inv.Accounts {
		for _, r := range a.Regions {
			for _, s := range r.Secrets {
				if len(s.SecretData) >= 8 {
					out = append(out, s.SecretData)
				}
				for _, v := range s.Versions {
					if len(v.SecretData) >= 8 {
						out = append(out, v.SecretData)
					}
				}
			}
		}
	}
	return out
}

// TestDiscoverAssumesRolesInMemberAccounts: one deployment in the home
// account discovers every account of the resource directory by assuming a
// RAM role in each member account through STS (credentials-go, HTTPS), as
// configured by KMSMIG_ROLE_ARNS.
func TestDiscoverAssumesRolesInMemberAccounts(t *testing.T) {
	st, err := stack.Start(stack.Options{Inventory: kmstwin.DemoInventory(), Unthrottled: true})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	ready := st.Ready()
	caFile := filepath.Join(t.TempDir(), "twin-ca.pem")
	require.NoError(t, os.WriteFile(caFile, []byte(ready.CAPEM), 0o600))
	var endpoints, accounts, roles []string
	for r, a := range ready.KMS {
		endpoints = append(endpoints, r+"="+a)
	}
	for _, a := range ready.Accounts {
		accounts = append(accounts, a.ID)
		if a.ID != ready.Home {
			roles = append(roles, a.ID+"=acs:ram::"+a.ID+":role/kmsmig-member")
		}
	}
	require.NoError(t, st.FC.Deploy(fctwin.Function{
		Name: "discover", Binary: build(t, "discover", t.TempDir()), Timeout: time.Minute,
		AccountID: ready.Home, Region: "cn-hangzhou", Role: "acs:ram::" + ready.Home + ":role/kmsmig",
		Env: twinState(ready, "roles", map[string]string{
			"KMSMIG_KMS_ENDPOINTS": strings.Join(endpoints, ","),
			"KMSMIG_INSECURE":      "true",
			"KMSMIG_ACCOUNTS":      strings.Join(accounts, ","),
			"KMSMIG_ROLE_ARNS":     strings.Join(roles, ","),
			"KMSMIG_STS_ENDPOINT":  ready.STS,
			"KMSMIG_AUDIT":         "off",
			"SSL_CERT_FILE":        caFile,
		}),
	}))
	res, err := st.FC.Invoke(t.Context(), "discover", []byte(`{"runId":"directory"}`))
	require.NoError(t, err)
	require.Nil(t, res.Error, "function error: %+v", res.Error)
	var out app.DiscoverResult
	require.NoError(t, json.Unmarshal(res.Payload, &out))
	require.Equal(t, len(accounts)*len(ready.KMS), out.Lanes)
	require.Empty(t, out.Incomplete, "every member account was reached with its assumed role")
	require.Equal(t, 15, out.Counts.Keys)

	// Without a role for a member account the run is refused up front,
	// naming it, even with the regions configured.
	require.NoError(t, st.FC.Deploy(fctwin.Function{
		Name: "discover-norole", Binary: build(t, "discover", t.TempDir()), Timeout: time.Minute,
		AccountID: ready.Home, Region: "cn-hangzhou", Role: "acs:ram::" + ready.Home + ":role/kmsmig",
		Env: twinState(ready, "norole", map[string]string{"KMSMIG_KMS_ENDPOINTS": strings.Join(endpoints, ","), "KMSMIG_INSECURE": "true",
			"KMSMIG_ACCOUNTS": strings.Join(accounts, ","), "KMSMIG_AUDIT": "off", "KMSMIG_REGIONS": "cn-hangzhou"}),
	}))
	res, err = st.FC.Invoke(t.Context(), "discover-norole", []byte(`{"runId":"directory"}`))
	require.NoError(t, err)
	require.NotNil(t, res.Error)
	require.Contains(t, res.Error.Message, "no RAM role configured")
	require.Contains(t, res.Error.Message, accounts[1])
}
