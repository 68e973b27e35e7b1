package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"

	"github.com/kmsmig/kmsmig/shared/aliyun/sls"
)

const setupLogsSynopsis = `setup-logs --project P [--logstore kmsmig-audit] [--endpoint cn-hangzhou.log.aliyuncs.com] [--out deploy/sls] [--twin READY.json]

Prepares the SLS audit trail: creates the logstore if it is missing (180 days
retention), and creates or updates its index so that every audit field
(` + "run_id, request_id, function, account, region, resource_type, resource_id,\nbatch_id, task_id, action, outcome, reason_code, duration_ms, level, message" + `)
is queryable. Running it again changes nothing that is already right.

It also writes, into --out, files to apply in the SLS console or API:
  saved-queries.json  failures and alerts; rotation changes; one run's timeline
  alert-rule.json     an SLS alert rule: failures in the last 5 minutes

Credentials: the default chain of credentials-go, or the twin's home account
with --twin.`

func runSetupLogs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("setup-logs", setupLogsSynopsis, stderr)
	project := fs.String("project", "", "SLS project holding the audit logstore (required; with --twin default: the twin's)")
	logstore := fs.String("logstore", "kmsmig-audit", "audit logstore")
	endpoint := fs.String("endpoint", "cn-hangzhou.log.aliyuncs.com", "SLS endpoint of the project's region")
	out := fs.String("out", "deploy/sls", "where to write saved-queries.json and alert-rule.json")
	twinFile := fs.String("twin", "", "ready-line JSON file of 'kmsmig twin'")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg := sls.SetupConfig{Endpoint: *endpoint, Project: *project, Logstore: *logstore}
	if *twinFile != "" {
		ready, err := readReady(*twinFile)
		if err != nil {
			return fmt.Errorf("%w: --twin %s: %v", errUsage, *twinFile, err)
		}
		cfg.Endpoint, cfg.DialAddr = ready.SLS, ready.SLS
		if cfg.Project == "" {
			cfg.Project = ready.LogProject
		}
		for _, a := range ready.Accounts {
			if a.ID == ready.Home {
				cfg.Credentials = sls.Credentials{AccessKeyID: a.AccessKeyID, AccessKeySecret: a.AccessKeySecret}
			}
		}
	} else {
		cred, err := credentials.NewCredential(nil)
		if err != nil {
			return fmt.Errorf("no Alibaba Cloud credentials found: %w", err)
		}
		c, err := cred.GetCredential()
		if err != nil {
			return fmt.Errorf("read credentials: %w", err)
		}
		cfg.Credentials = sls.Credentials{AccessKeyID: dara.StringValue(c.AccessKeyId), AccessKeySecret: dara.StringValue(c.AccessKeySecret), SecurityToken: dara.StringValue(c.SecurityToken)}
	}
	if cfg.Project == "" {
		return fmt.Errorf("%w: --project is required", errUsage)
	}
	res, err := sls.EnsureLogstore(ctx, cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for name, v := range map[string]any{
		"saved-queries.json": sls.SavedQueries(cfg.Logstore),
		"alert-rule.json":    sls.AlertRule(cfg.Project, cfg.Logstore),
	} {
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(filepath.Join(*out, name), append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "logstore %s/%s: %s; index: %s; wrote %s and %s\n", cfg.Project, cfg.Logstore, res.Logstore, res.Index,
		filepath.Join(*out, "saved-queries.json"), filepath.Join(*out, "alert-rule.json"))
	return nil
}
