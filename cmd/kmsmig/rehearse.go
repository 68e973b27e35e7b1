package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/aliyun/credentials-go/credentials"

	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/twin/kms"
	"github.com/kmsmig/kmsmig/twin/stack"
)

const rehearseSynopsis = `rehearse [--inventory PATH|demo] [--state DIR] [--json]

Rehearses the migration offline: starts the twins on this machine, seeded
with the inventory (default: the built-in demo estate), and runs discovery
and planning against them exactly as the discover function would, then
prints the report (Markdown, or JSON with --json) on stdout. The run state
(inventory, verdicts, plan, reports) is kept in --state for inspection.

Status: migrate, poll and rotate are not part of the rehearsal yet.`

func runRehearse(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rehearse", rehearseSynopsis, stderr)
	inventory := fs.String("inventory", "demo", "inventory file (JSON), or demo")
	state := fs.String("state", "", "directory for the run state (default: a new temporary directory)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	inv, err := kms.LoadInventory(*inventory)
	if err != nil {
		return fmt.Errorf("--inventory %s: %w", *inventory, err)
	}
	dir := *state
	if dir == "" {
		if dir, err = os.MkdirTemp("", "kmsmig-rehearsal-"); err != nil {
			return err
		}
	}
	st, err := stack.Start(stack.Options{Inventory: inv})
	if err != nil {
		return err
	}
	defer st.Close()
	ready := st.Ready()
	fmt.Fprintf(stderr, "rehearse: twins up: %d KMS regions, %d accounts; run state in %s\n", len(ready.KMS), len(ready.Accounts), dir)

	creds := app.Credentials{Static: map[string]credentials.Credential{}}
	env := map[string]string{"KMSMIG_INSECURE": "true", "KMSMIG_STATE": "dir:" + filepath.Clean(dir)}
	var accounts, endpoints string
	for _, a := range ready.Accounts {
		c, err := app.StaticCredential(a.AccessKeyID, a.AccessKeySecret, "")
		if err != nil {
			return err
		}
		creds.Static[a.ID] = c
		accounts += "," + a.ID
	}
	for r, addr := range ready.KMS {
		endpoints += "," + r + "=" + addr
	}
	env["KMSMIG_ACCOUNTS"], env["KMSMIG_KMS_ENDPOINTS"] = accounts[1:], endpoints[1:]
	cfg, err := app.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		return err
	}
	kmsClient, err := app.NewKMS(cfg, creds)
	if err != nil {
		return err
	}
	store, err := app.OpenStore(ctx, cfg, nil, ready.OSSRegion)
	if err != nil {
		return err
	}
	bar := newProgress(stderr)
	d := &app.Discoverer{Config: cfg, Source: kmsClient, Store: store, Region: ready.OSSRegion, Progress: bar.update, Reports: renderReports}
	out, err := d.Run(ctx, app.DiscoverEvent{})
	bar.done()
	if err != nil {
		return err
	}
	res := out.Result
	fmt.Fprintf(stderr, "rehearse: run %s: %d lanes, %d keys, %d secrets, %d blocked, %d batches planned; reports in %s\n",
		res.RunID, res.Lanes, res.Counts.Keys, res.Counts.Secrets, res.Counts.NeedsAction, res.Batches, filepath.Join(dir, "runs", res.RunID))
	if n := st.KMS.CallCounts()["GetSecretValue"]; n != 0 {
		return fmt.Errorf("rehearse: GetSecretValue was called %d times; the migration must never read a secret value", n)
	}
	return printReport(stdout, out, *asJSON)
}
