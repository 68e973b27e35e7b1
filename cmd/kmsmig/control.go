package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/migration"
	"github.com/kmsmig/kmsmig/shared/plan"
)

const pauseSynopsis = `pause --run ID [--state dir:PATH|oss://BUCKET/PREFIX] [--twin READY.json] [--by NAME] [--reason TEXT]

Pauses a run: from the next invocation on, migrate switches no rotation off
and submits no task for it; a batch whose rotation is already off gives it
back and waits. poll, the restores and the daily sweep go on, so tasks
already running are followed to their end and rotation comes back.
Recorded in the run's controls (kmsmig status shows them) and in the audit
trail. Pausing a paused run changes nothing. Resume with kmsmig resume.

The store is --state, else KMSMIG_STATE, else dir:.kmsmig-state (as for
kmsmig status). A run the store does not know: exit 2, nothing written.`

const resumeSynopsis = `resume --run ID [--state dir:PATH|oss://BUCKET/PREFIX] [--twin READY.json] [--by NAME] [--reason TEXT]

Resumes a paused run: migrate starts its batches again at its next
invocation (inside the window). Resuming a run that is not paused changes
nothing. A run the store does not know: exit 2, nothing written.`

const abortSynopsis = `abort --batch ACCOUNT/REGION/bNNNN [--run ID] [--state ...] [--twin READY.json] [--by NAME] [--reason TEXT]

Aborts one batch of a run (default: the current run), e.g. after a
stalled-task alert: the batch fails with reason Aborted, and its rotation
is given back as recorded as soon as KMS accepts it (at once when its task
never started; after the task ends otherwise: the provider has no way to
cancel a task). What the task moved shows in the batch's verification.

Refused with exit 2, nothing written: a run or batch the store does not
know, a batch that has not started, a batch whose task has already ended.`

func runPause(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runPauseResume(ctx, "pause", pauseSynopsis, true, args, stdout, stderr)
}

func runResume(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runPauseResume(ctx, "resume", resumeSynopsis, false, args, stdout, stderr)
}

// controlFlags are the flags every control command shares.
type controlFlags struct {
	state, twin, run, by, reason *string
}

func newControlFlags(name, synopsis string, stderr io.Writer) (*flag.FlagSet, controlFlags) {
	fs := newFlagSet(name, synopsis, stderr)
	return fs, controlFlags{
		state:  fs.String("state", "", "run-state store (default KMSMIG_STATE, else dir:.kmsmig-state)"),
		twin:   fs.String("twin", "", "ready-line JSON file of 'kmsmig twin' (for its OSS store)"),
		run:    fs.String("run", "", "run id"),
		by:     fs.String("by", defaultOperator(), "who acts (recorded)"),
		reason: fs.String("reason", "", "why (recorded)"),
	}
}

func runPauseResume(ctx context.Context, name, synopsis string, paused bool, args []string, stdout, stderr io.Writer) error {
	fset, f := newControlFlags(name, synopsis, stderr)
	if err := parseFlags(fset, args); err != nil {
		return err
	}
	if *f.run == "" {
		return fmt.Errorf("%w: --run: required (the run to %s)", errUsage, name)
	}
	eng, err := f.engine(ctx)
	if err != nil {
		return err
	}
	changed, err := eng.Pause(ctx, *f.run, paused, *f.by, *f.reason)
	if errors.Is(err, migration.ErrUnknownRun) {
		return fmt.Errorf("%w: --run %s: no such run in this store", errUsage, *f.run)
	}
	if err != nil {
		return err
	}
	state := map[bool]string{true: "paused", false: "running"}[paused]
	if !changed {
		fmt.Fprintf(stdout, "Run %s is already %s; nothing changed.\n", *f.run, state)
		return nil
	}
	fmt.Fprintf(stdout, "Run %s %sd by %s.\n", *f.run, name, *f.by)
	return nil
}

func runAbort(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset, f := newControlFlags("abort", abortSynopsis, stderr)
	batch := fset.String("batch", "", "the batch: ACCOUNT/REGION/bNNNN")
	if err := parseFlags(fset, args); err != nil {
		return err
	}
	if err := checkBatchID(*batch); err != nil {
		return fmt.Errorf("%w: --batch: %v", errUsage, err)
	}
	eng, err := f.engine(ctx)
	if err != nil {
		return err
	}
	runID := *f.run
	if runID == "" {
		if runID, err = eng.Current(ctx); errors.Is(err, migration.ErrNoRun) {
			return fmt.Errorf("%w: no current run in this store: give --run", errUsage)
		} else if err != nil {
			return err
		}
	}
	res, err := eng.AbortBatch(ctx, runID, *batch, *f.by, *f.reason)
	switch {
	case errors.Is(err, migration.ErrUnknownRun):
		return fmt.Errorf("%w: --run %s: no such run in this store", errUsage, runID)
	case errors.Is(err, migration.ErrUnknownBatch):
		return fmt.Errorf("%w: --batch %s: not a batch of run %s", errUsage, *batch, runID)
	case errors.Is(err, migration.ErrNoState):
		return fmt.Errorf("%w: --batch %s: has not started in run %s; nothing to abort", errUsage, *batch, runID)
	case errors.Is(err, migration.ErrBatchEnded):
		return fmt.Errorf("%w: --batch %s: %v; nothing to abort", errUsage, *batch, err)
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "Batch %s of run %s aborted by %s (now %s); its rotation comes back as recorded once KMS accepts it.\n",
		*batch, runID, *f.by, res.Phase)
	return nil
}

// engine opens the store the flags name and returns an engine over it.
func (f controlFlags) engine(ctx context.Context) (*migration.Engine, error) {
	store, err := openStatusStore(ctx, *f.state, *f.twin)
	if err != nil {
		return nil, err
	}
	return &migration.Engine{Store: store}, nil
}

// checkBatchID checks the ACCOUNT/REGION/bNNNN shape.
func checkBatchID(id string) error {
	parts := strings.Split(id, "/")
	if id == "" || len(parts) != 3 {
		return fmt.Errorf("%q: want ACCOUNT/REGION/bNNNN, e.g. 1111000011110001/cn-hangzhou/b0001", id)
	}
	var n int
	if _, err := fmt.Sscanf(parts[2], "b%d", &n); err != nil || plan.BatchID(estate.Lane{Account: parts[0], Region: parts[1]}, n) != id {
		return fmt.Errorf("%q: want ACCOUNT/REGION/bNNNN, e.g. 1111000011110001/cn-hangzhou/b0001", id)
	}
	return nil
}

func defaultOperator() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "an operator"
}
