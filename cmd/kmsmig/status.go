package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/aliyun/credentials-go/credentials"

	"github.com/kmsmig/kmsmig/shared/aliyun/ram"
	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/approval"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/statekeys"
	"github.com/kmsmig/kmsmig/shared/wiring"
)

const statusSynopsis = `status [--state dir:PATH|oss://BUCKET/PREFIX] [--run ID] [--twin READY.json] [--json]

Shows a run from the run-state store: every lane with its target instance
and its batches (phase, task, keys and secrets, per-resource results), the
resources that failed and why, and the rotation ledger (every policy
switched off, and whether it has been restored and verified). Reads only.

The store is --state, else KMSMIG_STATE, else dir:.kmsmig-state. For an
oss:// store, credentials come from the default chain of credentials-go (or
the twin's home account with --twin). The run is --run, else the current one.`

// runStatus is the status document (--json).
type runStatus struct {
	RunID    string               `json:"runId"`
	Lanes    []laneStatus         `json:"lanes"`
	Failures []migration.Failure  `json:"failures,omitempty"`
	Dropped  []migration.Dropped  `json:"dropped,omitempty"`
	Ledger   migration.LedgerView `json:"ledger"`
	Window   migration.WindowUse  `json:"window"`
	Done     bool                 `json:"done"`
	// Paused and Controls are the operators' pause and aborts.
	Paused   bool                     `json:"paused"`
	Controls []migration.ControlEvent `json:"controls,omitempty"`
	// Approval is the plan's approval: who approved it and when, or
	// "awaiting approval: ..." with the command to run (empty when none
	// is required and none was given).
	Approval string `json:"approval,omitempty"`
	// AwaitingApproval is true while migrate holds the run for approval.
	AwaitingApproval bool `json:"awaitingApproval,omitempty"`
	// Campaign lists the runs of the campaign still open (work in flight
	// or rotation held), oldest first.
	Campaign []string `json:"openRuns,omitempty"`
}

type laneStatus struct {
	Lane       string          `json:"lane"`
	InstanceID string          `json:"instanceId,omitempty"`
	Batches    []batchSnapshot `json:"batches"`
}

type batchSnapshot struct {
	ID       string `json:"id"`
	Phase    string `json:"phase"`
	TaskID   string `json:"taskId,omitempty"`
	Task     string `json:"taskStatus,omitempty"`
	Keys     int    `json:"keys"`
	Secrets  int    `json:"secrets"`
	Migrated int    `json:"migrated"`
	Failed   int    `json:"failed"`
	Dropped  int    `json:"dropped"`
	Stalled  bool   `json:"stalled,omitempty"`
}

func runStatusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", statusSynopsis, stderr)
	state := fs.String("state", "", "run-state store")
	runID := fs.String("run", "", "run id (default: the current run)")
	twinFile := fs.String("twin", "", "ready-line JSON file of 'kmsmig twin' (for its OSS store)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	store, err := openStatusStore(ctx, *state, *twinFile)
	if err != nil {
		return err
	}
	id := *runID
	if id == "" {
		cur, _, err := runstate.GetJSON[migration.CurrentRun](ctx, store, statekeys.Current)
		if errors.Is(err, runstate.ErrNotFound) {
			return errors.New("no current run in this store: discover has not planned one (or give --run)")
		}
		if err != nil {
			return err
		}
		id = cur.RunID
	}
	st, err := readStatus(ctx, store, id)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	printStatus(stdout, st)
	return nil
}

func openStatusStore(ctx context.Context, state, twinFile string) (runstate.Store, error) {
	if state == "" {
		state = os.Getenv("KMSMIG_STATE")
	}
	if state == "" {
		state = "dir:.kmsmig-state"
	}
	env := map[string]string{"KMSMIG_STATE": state}
	var cred credentials.Credential
	if twinFile != "" {
		ready, err := readReady(twinFile)
		if err != nil {
			return nil, fmt.Errorf("%w: --twin %s: %v", errUsage, twinFile, err)
		}
		env["KMSMIG_OSS_ENDPOINT"], env["KMSMIG_OSS_REGION"], env["KMSMIG_INSECURE"] = ready.OSS, ready.OSSRegion, "true"
		// The command chains no function: no Function Compute endpoint is
		// spoken to (KMSMIG_INSECURE requires a loopback one otherwise).
		env["KMSMIG_FUNCTION_MIGRATE"], env["KMSMIG_FUNCTION_ROTATE"] = "-", "-"
		// Nor does it fan out (the setting needs migrate's and poll's
		// chaining, which is off here).
		delete(env, "KMSMIG_STEP_LANES_PER_INVOCATION")
		for _, a := range ready.Accounts {
			if a.ID == ready.Home {
				if cred, err = ram.Static(a.AccessKeyID, a.AccessKeySecret, ""); err != nil {
					return nil, err
				}
			}
		}
	} else if strings.HasPrefix(state, "oss://") {
		var err error
		if cred, err = credentials.NewCredential(nil); err != nil {
			return nil, fmt.Errorf("no Alibaba Cloud credentials found for %s: %w", state, err)
		}
	}
	cfg, err := app.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return wiring.OpenStore(ctx, cfg, cred, "cn-hangzhou")
}

func readStatus(ctx context.Context, store runstate.Store, runID string) (*runStatus, error) {
	p, _, err := runstate.GetJSON[plan.Plan](ctx, store, statekeys.Plan(runID))
	if err != nil {
		return nil, fmt.Errorf("run %s: read plan: %w", runID, err)
	}
	rep, err := (&migration.Engine{Store: store}).BuildReport(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", runID, err)
	}
	st := &runStatus{RunID: runID, Failures: rep.Failures, Dropped: rep.Dropped, Ledger: rep.Ledger, Window: rep.Window, Done: rep.Done}
	eng := &migration.Engine{Store: store}
	ctl, err := eng.Controls(ctx, runID)
	if err != nil {
		return nil, err
	}
	st.Paused, st.Controls = ctl.Paused, ctl.Events
	ap, err := approval.ReadStatus(ctx, store, runID)
	if err != nil {
		return nil, err
	}
	st.Approval, st.AwaitingApproval = ap.Line(runID), ap.Required && !ap.Approved
	if runs, err := eng.ActiveRuns(ctx); err == nil {
		st.Campaign = runs
	} else if !errors.Is(err, migration.ErrNoRun) {
		return nil, err
	}
	st.Ledger.Items = nil
	for _, e := range rep.Ledger.Items {
		if e.Status != migration.LedgerVerified {
			st.Ledger.Items = append(st.Ledger.Items, e)
		}
	}
	for _, lp := range p.Lanes {
		ls := laneStatus{Lane: lp.Lane.String(), InstanceID: lp.InstanceID}
		for _, b := range lp.Batches {
			snap := batchSnapshot{ID: b.ID, Phase: "planned", Keys: len(b.Keys), Secrets: len(b.Secrets)}
			s, _, err := runstate.GetJSON[migration.BatchState](ctx, store, statekeys.Batch(runID, b.ID))
			switch {
			case errors.Is(err, runstate.ErrNotFound):
			case err != nil:
				return nil, err
			default:
				snap.Phase, snap.TaskID, snap.Task, snap.Stalled = string(s.Phase), s.TaskID, s.TaskStatus, s.Stalled
				for _, o := range s.Resources {
					switch o.Result {
					case migration.ResultMigrated:
						snap.Migrated++
					case migration.ResultDropped:
						snap.Dropped++
					default:
						snap.Failed++
					}
				}
			}
			ls.Batches = append(ls.Batches, snap)
		}
		st.Lanes = append(st.Lanes, ls)
	}
	return st, nil
}

func printStatus(w io.Writer, st *runStatus) {
	done := 0
	total := 0
	for _, l := range st.Lanes {
		for _, b := range l.Batches {
			total++
			if b.Phase == string(migration.PhaseVerified) {
				done++
			}
		}
	}
	state := "in progress"
	if st.Done {
		state = "done"
	}
	if st.Paused {
		state += ", PAUSED (kmsmig resume --run " + st.RunID + ")"
	}
	if st.AwaitingApproval {
		state += ", AWAITING APPROVAL (kmsmig approve --run " + st.RunID + ")"
	}
	fmt.Fprintf(w, "Run %s: %s; %d of %d batches verified\n", st.RunID, state, done, total)
	if st.Approval != "" {
		fmt.Fprintf(w, "Approval: %s\n", st.Approval)
	}
	if len(st.Campaign) > 1 {
		fmt.Fprintf(w, "Open runs of the campaign: %s\n", strings.Join(st.Campaign, ", "))
	}
	fmt.Fprintf(w, "Rotation ledger: %d policies switched off by kmsmig; %d still off, %d restored, %d verified, %d superseded by their owners\n",
		st.Ledger.Entries, st.Ledger.Off, st.Ledger.Restored, st.Ledger.Verified, st.Ledger.Superseded)
	for _, c := range st.Controls {
		what := c.Action
		if c.BatchID != "" {
			what += " " + c.BatchID
		}
		fmt.Fprintf(w, "Operator: %s by %s at %s", what, c.By, c.At.UTC().Format("2006-01-02 15:04Z"))
		if c.Reason != "" {
			fmt.Fprintf(w, ": %s", c.Reason)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LANE\tBATCH\tPHASE\tTASK\tKEYS\tSECRETS\tMIGRATED\tFAILED\tDROPPED")
	for _, l := range st.Lanes {
		for _, b := range l.Batches {
			task := b.TaskID
			if b.Task != "" {
				task += " (" + b.Task + ")"
			}
			if b.Stalled {
				task += " STALLED"
			}
			fmt.Fprintf(tw, "%s → %s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", l.Lane, orDash(l.InstanceID), b.ID[strings.LastIndex(b.ID, "/")+1:],
				b.Phase, orDash(task), b.Keys, b.Secrets, b.Migrated, b.Failed, b.Dropped)
		}
	}
	tw.Flush()
	if len(st.Failures) > 0 {
		fmt.Fprintf(w, "\nFailed resources:\n")
		for _, f := range st.Failures {
			next := "reported"
			if f.RetryBatch != "" {
				next = "retried in " + f.RetryBatch
			}
			fmt.Fprintf(w, "  %s %s %s: %s (attempt %d, %s): %s\n", f.Lane, f.Kind, f.ID, f.ReasonCode, f.Attempt, next, f.Remediation)
		}
	}
	if len(st.Dropped) > 0 {
		fmt.Fprintf(w, "\nDropped resources (deleted, scheduled for deletion or disabled by their owners; not failures):\n")
		for _, d := range st.Dropped {
			fmt.Fprintf(w, "  %s %s %s: %s (batch %s)\n", d.Lane, d.Kind, d.ID, d.ReasonCode, d.BatchID)
		}
	}
	if len(st.Ledger.Items) > 0 {
		fmt.Fprintf(w, "\nRotation policies not yet verified as restored:\n")
		for _, e := range st.Ledger.Items {
			fmt.Fprintf(w, "  %s %s %s: %s (recorded %+v)", e.Lane, e.Kind, e.ID, e.Status, e.Original)
			if e.LastError != "" {
				fmt.Fprintf(w, ", last error: %s", e.LastError)
			}
			fmt.Fprintln(w)
		}
	}
	if st.Window.RunSeconds > 0 {
		fmt.Fprintf(w, "\nWindow use: %.0f%% (critical path %.0fs, %s; run %.0fs; idle %.0fs before the first task, %.0fs in %d handovers, %.0fs after the last)\n",
			100*st.Window.Utilisation, st.Window.CriticalPathSeconds, st.Window.BusiestLane, st.Window.RunSeconds,
			st.Window.LeadSeconds, st.Window.HandoverSeconds, st.Window.Handovers, st.Window.TailSeconds)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
