package rehearsal_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/alert"
	"github.com/kmsmig/kmsmig/shared/verdict"
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
	dist := buildFunctions(t)
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
	// s.yaml requires approval: the rehearsal approved the night's plan
	// once the window was open, and migrate's OSS trigger, not a timer,
	// started the first batch (a check above).
	require.Len(t, res.Approvals, 1)
	require.Equal(t, res.RunID, res.Approvals[0].RunID)
	require.Contains(t, res.Approvals[0].Signal, "/kmsmig/approvals/"+res.RunID+".json")
	require.Contains(t, res.Approvals[0].By, ":root")
	for _, c := range res.Checks {
		if strings.HasPrefix(c.Name, "each approved run") {
			t.Log(c.Detail)
		}
	}
	for _, line := range strings.Split(progress.String(), "\n") {
		if strings.Contains(line, "approv") || strings.Contains(line, "discover planned") {
			t.Log(line)
		}
	}
	t.Logf("run %s in %v: utilisation %.2f, %d audit records, invocations %v",
		res.RunID, res.Wall, res.Report.Window.Utilisation, res.AuditRecord, res.Invocations)
}

// TestTaskAPIAbsentRehearsal rehearses the demo estate against a KMS
// without the migration task API (the twin answers every task action as an
// unknown one): every check passes, no rotation policy changes, no task
// exists, and every lane's discovery report says "migration task API:
// unavailable InvalidAction.NotFound", blocked task-api-unavailable with one
// pre-flight alert per lane.
func TestTaskAPIAbsentRehearsal(t *testing.T) {
	dist := buildFunctions(t)
	var progress bytes.Buffer
	res, err := rehearsal.Run(t.Context(), rehearsal.Options{
		Inventory: kmstwin.DemoInventory(), SYAML: "../../s.yaml", Dist: dist, Progress: &progress, TaskAPIAbsent: true,
	})
	require.NoError(t, err, progress.String())
	names := map[string]bool{}
	for _, c := range res.Checks {
		require.True(t, c.OK, "%s: %s\n%s", c.Name, c.Detail, progress.String())
		names[c.Name] = true
		t.Logf("check %s: %s", c.Name, c.Detail)
	}
	require.True(t, names["task API absent: no rotation policy changed"], "%v", names)
	require.True(t, names["task API absent: every lane reported unavailable"], "%v", names)
	require.Zero(t, res.Moved, "nothing moves without the task API")
	require.Zero(t, res.Restored, "no rotation was ever switched off")
	require.Zero(t, res.Moved+res.Reported, "nothing was planned")
	require.Positive(t, res.Discover.Counts.ByReason[verdict.TaskAPIUnavailable], "the lanes' resources are blocked for it: %v", res.Discover.Counts)
	require.Zero(t, res.Discover.Batches)
	require.Empty(t, res.Report.Failures, "nothing was planned, so nothing failed")
	md := string(res.DiscoveryMD)
	lanes := strings.Count(md, "migration task API: **unavailable InvalidAction.NotFound**")
	require.Equal(t, res.Discover.Lanes, lanes, "one line per lane\n%s", md)
	require.NotContains(t, md, "migration task API: available")
	require.Equal(t, lanes, res.Alerts[alert.KindPreflightBlocked], "one pre-flight alert per lane: %v", res.Alerts)
	require.Zero(t, res.Alerts[alert.KindResourceFailed], "no alert per resource: %v", res.Alerts)
	t.Log(res.Summary())
}

var build struct {
	once sync.Once
	dist string
	err  error
	out  []byte
}

// buildFunctions builds the four function binaries once for the package's
// tests, as for Function Compute (this machine is linux/amd64).
func buildFunctions(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		build.dist, build.err = os.MkdirTemp("", "kmsmig-rehearsal-dist-")
		for _, f := range []string{"discover", "migrate", "poll", "rotate"} {
			if build.err != nil {
				return
			}
			cmd := exec.Command("go", "build", "-o", filepath.Join(build.dist, f, "main"), "./functions/"+f)
			cmd.Dir = "../.."
			cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
			build.out, build.err = cmd.CombinedOutput()
		}
	})
	require.NoError(t, build.err, string(build.out))
	return build.dist
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dist != "" {
		os.RemoveAll(build.dist)
	}
	os.Exit(code)
}

// TestTwoNightRehearsal rehearses an estate that one short window cannot
// hold: two nights on the simulated clock, the window applied by the
// functions themselves, and on the second night the world changing under
// the migration (a new secret, a deleted key, a stalled task released
// after the window, an owner re-enabling rotation). Every check holds
// across both runs; the clock jumps over the idle hours.
func TestTwoNightRehearsal(t *testing.T) {
	dist := buildFunctions(t)
	var progress bytes.Buffer
	inv, err := kmstwin.LoadInventory("generate:keys=200,secrets=80,regions=1,accounts=2,seed=7")
	require.NoError(t, err)
	rotateEveryKey(inv)
	res, err := rehearsal.Run(t.Context(), rehearsal.Options{
		Inventory: inv, SYAML: "../../s.yaml", Dist: dist, Progress: &progress,
		Nights: 3, Window: "01:05-01:15",
		Settings: map[string]string{"KMSMIG_BATCH_KEYS": "20", "KMSMIG_BATCH_SECRETS": "20"},
	})
	require.NoError(t, err, progress.String())
	for _, c := range res.Checks {
		require.True(t, c.OK, "%s: %s\n%s", c.Name, c.Detail, progress.String())
	}
	t.Log(res.Summary())
	t.Logf("%d jumps skipped %s; wall %s", res.Jumps, res.Jumped, res.Wall)
	for _, e := range res.Events {
		t.Logf("event night %d %s: %s (injected %v)", e.Night, e.Kind, e.Detail, e.Injected)
	}
	// The work needs two nights; the stalled task may hold its lane's last
	// batches to a third.
	require.Contains(t, []int{2, 3}, res.NightsUsed, "the work needs more than one night")
	// discover plans a run every night rehearsed; the nights after the
	// last task find nothing left to plan.
	require.Len(t, res.Runs, res.Nights, "a run per night")
	for _, run := range res.Runs {
		batches := 0
		for _, lf := range run.Report.Lanes {
			batches += lf.Batches
		}
		if run.Night > res.NightsUsed {
			require.Zero(t, batches, "night %d, after the last task, planned nothing", run.Night)
		} else {
			require.Positive(t, batches, "night %d worked", run.Night)
		}
	}
	require.Equal(t, 2, res.LowerBound.Nights, "%+v", res.LowerBound)
	injected := map[string]bool{}
	for _, e := range res.Events {
		require.GreaterOrEqual(t, e.Night, 2, "events from the second night on (the approval takes the start of each window, so an occasion may come a night later)")
		injected[e.Kind] = e.Injected
	}
	for _, kind := range []string{rehearsal.EventNewSecret, rehearsal.EventKeyDeleted, rehearsal.EventTaskStalled,
		rehearsal.EventTaskReleased, rehearsal.EventOwnerRotation} {
		require.True(t, injected[kind], "%s injected\n%s", kind, progress.String())
	}
	require.Equal(t, 1, res.Superseded, "the owner's policy stands")
	for _, kind := range []string{alert.KindTaskStalled, alert.KindWindowOverrun, alert.KindRotationOwner} {
		require.Positive(t, res.Alerts[kind], "%s alerted, on the simulated clock: %v", kind, res.Alerts)
	}
	require.Positive(t, res.Restored)
	require.Positive(t, res.Reported, "the deleted key at least")
	require.Positive(t, res.Jumps)
	require.Greater(t, res.Jumped, 24*time.Hour, "the idle hours are skipped")
	require.Equal(t, res.Nights, res.Invocations["kmsmig-discover"], "discover's timer fired each night")
	approved := 0
	for _, a := range res.Approvals {
		if a.Signal != "" {
			approved++
		}
	}
	require.GreaterOrEqual(t, approved, res.NightsUsed, "every night that worked was approved: %+v", res.Approvals)
}

// rotateEveryKey switches automatic rotation on for every key that can
// rotate and puts every secret under the system key (no secret waits for
// its CMK's batch), so that every batch holds some rotation off: the
// night's last task, which the rehearsal stalls, then has a policy for its
// owner to change.
func rotateEveryKey(inv *kmstwin.Inventory) {
	for a := range inv.Accounts {
		for region, ri := range inv.Accounts[a].Regions {
			for i := range ri.Keys {
				k := &ri.Keys[i]
				service := slices.ContainsFunc(k.Aliases, func(a string) bool { return strings.HasPrefix(a, "alias/acs/") })
				if k.Origin != "EXTERNAL" && (k.KeyState == "" || k.KeyState == "Enabled") && k.DKMSInstanceID == "" &&
					(k.KeySpec == "" || strings.HasPrefix(k.KeySpec, "Aliyun_")) && !service && k.AutomaticRotation != "Enabled" {
					k.AutomaticRotation, k.RotationInterval = "Enabled", "2592000s"
				}
			}
			for i := range ri.Secrets {
				ri.Secrets[i].EncryptionKeyID = ""
			}
			inv.Accounts[a].Regions[region] = ri
		}
	}
}

// TestFanoutRehearsal rehearses an estate of 40 lanes with discovery fanned
// out over invocations of 10 lanes each (KMSMIG_DISCOVER_LANES_PER_INVOCATION,
// as kmsmig rehearse --set gives it), through the real binaries under the
// FC twin: the coordinator hands out 4 groups, they run as several
// discover invocations (on instances of their own, per s.yaml's
// concurrency), one of them plans the whole estate, and every check of the
// rehearsal passes, "discovery fanned out" among them.
func TestFanoutRehearsal(t *testing.T) {
	dist := buildFunctions(t)
	var progress bytes.Buffer
	inv, err := kmstwin.LoadInventory("generate:keys=120,secrets=60,regions=4,accounts=10,seed=3")
	require.NoError(t, err)
	res, err := rehearsal.Run(t.Context(), rehearsal.Options{
		Inventory: inv, SYAML: "../../s.yaml", Dist: dist, Progress: &progress,
		Settings: map[string]string{"KMSMIG_DISCOVER_LANES_PER_INVOCATION": "10"},
	})
	require.NoError(t, err, progress.String())
	names := map[string]bool{}
	for _, c := range res.Checks {
		require.True(t, c.OK, "%s: %s\n%s", c.Name, c.Detail, progress.String())
		names[c.Name] = true
	}
	require.True(t, names["discovery fanned out"], "the fan-out was checked: %v", names)
	require.Equal(t, 40, res.Discover.Lanes, "the planning invocation's result")
	require.Positive(t, res.Discover.Batches)
	d := res.Functions["kmsmig-discover"]
	require.Equal(t, 1+4, d.Invocations, "the coordinator and one invocation per group")
	require.Greater(t, d.Instances, 1, "the groups ran on instances of their own")
	require.Positive(t, d.InvocationPeak, "memory was measured")
	t.Log(res.Summary())
	for _, name := range []string{"kmsmig-discover", "kmsmig-migrate", "kmsmig-poll", "kmsmig-rotate"} {
		fu := res.Functions[name]
		t.Logf("%s: %d invocations on %d instances, %.0f MiB per invocation at most, instances %v", name, fu.Invocations, fu.Instances,
			float64(fu.InvocationPeak)/(1<<20), fu.InstancePeaks)
	}
	t.Logf("wall %s", res.Wall)
}

// Discovery runs the discover step alone, through the real binary under
// the FC twin at real time (as kmsmig bench does at 1,000 lanes): 40
// lanes at 10 per invocation are 4 groups, 5 invocations, planned.
func TestDiscoveryAlone(t *testing.T) {
	dist := buildFunctions(t)
	inv, err := kmstwin.LoadInventory("generate:keys=80,secrets=40,regions=4,accounts=10,seed=5")
	require.NoError(t, err)
	run, err := rehearsal.Discovery(t.Context(), rehearsal.Options{Inventory: inv, SYAML: "../../s.yaml", Dist: dist, Speed: 1,
		Settings: map[string]string{"KMSMIG_DISCOVER_LANES_PER_INVOCATION": "10"}})
	require.NoError(t, err)
	require.Equal(t, 40, run.Lanes)
	require.Equal(t, 4, run.Groups)
	require.Equal(t, 5, run.Discover.Invocations, "the coordinator and one per group")
	require.Greater(t, run.Discover.Instances, 1)
	require.Positive(t, run.Discover.InvocationPeak)
	require.Positive(t, run.Wall)
	t.Logf("%d lanes in %s: %d invocations on %d instances, %.0f MiB per invocation at most", run.Lanes, run.Wall,
		run.Discover.Invocations, run.Discover.Instances, float64(run.Discover.InvocationPeak)/(1<<20))
}
