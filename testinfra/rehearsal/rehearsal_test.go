package rehearsal_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/testinfra/rehearsal"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// TestDemoRehearsal is the end-to-end test of the whole product: the four
// real function binaries, built as for Function Compute (this machine is
// linux/amd64), deployed from the repository's s.yaml under the FC twin,
// driven by their timers and chained invocations, migrate the demo estate
// against the KMS, STS, OSS and SLS twins. The rehearsal's checks look at
// the final state in KMS (every resource moved or reported, every rotation
// policy as before, no secret value read), in the state store (every batch
// finished, the run report) and in the audit trail (records in SLS).
func TestDemoRehearsal(t *testing.T) {
	dist := t.TempDir()
	for _, f := range []string{"discover", "migrate", "poll", "rotate"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dist, f, "main"), "./functions/"+f)
		cmd.Dir = "../.."
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
	}
	var progress bytes.Buffer
	res, err := rehearsal.Run(t.Context(), rehearsal.Options{
		Inventory: kmstwin.DemoInventory(), SYAML: "../../s.yaml", Dist: dist, Progress: &progress,
	})
	require.NoError(t, err, progress.String())
	for _, c := range res.Checks {
		require.True(t, c.OK, "%s: %s\n%s", c.Name, c.Detail, progress.String())
	}
	require.True(t, res.Report.Done)
	require.Positive(t, res.AuditRecord)
	require.Positive(t, res.Invocations["kmsmig-poll"], "the poll timer fired")
	require.Equal(t, 1, res.Invocations["kmsmig-discover"], "discover's timer fired once")
	require.Contains(t, string(res.RunMD), "Failures")
	require.True(t, strings.Contains(progress.String(), "discover planned run"), progress.String())
	t.Logf("run %s in %v: utilisation %.2f, %d audit records, invocations %v",
		res.RunID, res.Wall, res.Report.Window.Utilisation, res.AuditRecord, res.Invocations)
}
