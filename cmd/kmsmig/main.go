package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/kmsmig/kmsmig/shared/audit"
)

// command is one subcommand of kmsmig.
type command struct {
	summary string
	// run parses args and does the work. It returns errUsage (wrapped) for
	// bad flags, which main turns into exit status 2.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// errUsage marks errors in how the command was called.
var errUsage = errors.New("usage")

func commands() map[string]command {
	return map[string]command{
		"twin":          {summary: "run the offline twins of KMS, STS, OSS, SLS and FC on this machine", run: runTwin},
		"discover":      {summary: "inventory, classify and plan every account and region; store the run and print the report", run: runDiscover},
		"plan":          {summary: "the same as discover, writing nothing: print the report and the batch plan", run: runPlan},
		"rehearse":      {summary: "rehearse the migration offline against the twins (default: the demo estate)", run: runRehearse},
		"bench":         {summary: "measure the figures the project is judged by and write the results table", run: runBench},
		"status":        {summary: "show a run from the run-state store: lanes, batches, failures, rotation ledger", run: runStatusCmd},
		"chaos":         {summary: "run a seeded fault campaign against the execution engine on the twins; check its invariants", run: runChaos},
		"pause":         {summary: "pause a run: migrate switches nothing off and submits nothing until resume", run: runPause},
		"resume":        {summary: "resume a paused run", run: runResume},
		"approve":       {summary: "approve a run's plan (KMSMIG_APPROVAL=required): show it, confirm, record who approved its digest", run: runApprove},
		"abort":         {summary: "abort one batch of a run (after a stalled-task alert); its rotation comes back", run: runAbort},
		"setup-logs":    {summary: "set up the SLS audit trail: logstore, index, saved searches, dashboard, alert rule and its routing", run: runSetupLogs},
		"policies":      {summary: "render the RAM policies (functions' role, member roles, deployer) from the configured accounts", run: runPolicies},
		"migrate-state": {summary: "move an OSS run-state store of an earlier kmsmig into the version-log layout", run: runMigrateState},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one kmsmig invocation and returns its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printHelp(stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "kmsmig: unknown command %q (run 'kmsmig --help' for the list)\n", args[0])
		return 2
	}
	err := c.run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "kmsmig %s: %v\n", args[0], err)
		return 2
	default:
		// A failure may quote an SDK's signed URL or a credential: it goes
		// through the redaction guard (usage errors and help only echo
		// what was typed, and stay as they are).
		fmt.Fprintf(stderr, "kmsmig %s: %v\n", args[0], (&audit.Guard{}).ScrubError(err))
		return 1
	}
}

func printHelp(w io.Writer, cmds map[string]command) {
	fmt.Fprint(w, `kmsmig moves keys and secrets from shared KMS (KMS 1.0) into KMS 3.0 instances,
and rehearses the whole migration offline against faithful twins of the cloud.

Usage: kmsmig <command> [flags]     (kmsmig <command> --help for its flags)

Commands:
`)
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, cmds[n].summary)
	}
}

// newFlagSet returns a flag set that reports errors instead of exiting and
// prints usage to w.
func newFlagSet(name, synopsis string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage: kmsmig %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, turning parse failures into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}
