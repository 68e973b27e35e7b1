package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"

	"github.com/kmsmig/kmsmig/shared/aliyun/sls"
)

const setupLogsSynopsis = `setup-logs --project P [--logstore kmsmig-audit] [--endpoint cn-hangzhou.log.aliyuncs.com]
       [--webhook URL] [--dingtalk URL [--dingtalk-secret SEC...]] [--out deploy/sls] [--twin READY.json]

Sets up the SLS side of the audit trail through the SLS API, each object
created when it is missing, updated when it differs from kmsmig's definition
and otherwise left alone (the output says created, updated or unchanged for
each), so running it again changes nothing that is already right:

  logstore            the audit logstore (180 days retention), and its index:
                      every audit field (` + "run_id, request_id, function, account,\n                      region, resource_type, resource_id, batch_id, task_id, action,\n                      outcome, reason_code, duration_ms, level, message" + `) queryable
  saved searches      kmsmig-failures (failures and alerts), kmsmig-rotation
                      (rotation changes), kmsmig-run-timeline (one run's timeline)
  dashboard           kmsmig-overview, "kmsmig: migration at a glance": resources
                      moved per lane over time, failures by reason, rotation
                      policies off now, task durations
  alert rule          kmsmig-failures (Alert 2.0): every minute, fires when the
                      last 5 minutes hold an ERROR or ALERT record or a failed
                      outcome; attached to the dashboard

Notifications. SLS sends an alert rule's notifications through an action
policy. With --webhook and/or --dingtalk, setup-logs also keeps, in the
Alibaba Cloud account (these are account-wide, not per project; ID is
kmsmig-<project>, or the project's name when it starts with kmsmig):
  webhook integration ID-webhook   (--webhook: JSON POST)
  webhook integration ID-dingtalk  (--dingtalk, signed with --dingtalk-secret
                      when given)
  action policy       ID: fires to them with the built-in content template
                      sls.builtin.cn
and the rule names that action policy, with the built-in dynamic alert policy
sls.builtin.dynamic. Without either flag (or its variable), the rule's routing
is left as it is found: a new rule names no action policy and notifies no one
until you run again with a flag or choose an action policy for it in the
console. An existing rule that someone disabled stays disabled.

Files. It also writes, into --out, the definitions it applies, for teams that
apply them with their own tooling: saved-queries.json, alert-rule.json (with
the action policy the rule names) and dashboard.json. Webhook URLs and the
DingTalk secret are never written or printed: they carry tokens.

Credentials: the default chain of credentials-go, or the twin's home account
with --twin. They need the SLS API operations above: GetLogStore,
CreateLogStore, GetIndex, CreateIndex, UpdateIndex, Get/Create/UpdateSavedSearch,
Get/Create/UpdateDashboard, Get/Create/UpdateAlert and, with a flag,
Get/Create/UpdateResourceRecord.`

func runSetupLogs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("setup-logs", setupLogsSynopsis, stderr)
	project := fs.String("project", "", "SLS project holding the audit logstore (required; with --twin default: the twin's)")
	logstore := fs.String("logstore", "kmsmig-audit", "audit logstore")
	endpoint := fs.String("endpoint", "cn-hangzhou.log.aliyuncs.com", "SLS endpoint of the project's region")
	webhook := fs.String("webhook", "", "URL that receives the alert rule's notifications as JSON (default: $KMSMIG_ALERT_WEBHOOK)")
	dingtalk := fs.String("dingtalk", "", "DingTalk robot URL that receives the alert rule's notifications (default: $KMSMIG_DINGTALK_WEBHOOK)")
	dingtalkSecret := fs.String("dingtalk-secret", "", "the DingTalk robot's signing secret (default: $KMSMIG_DINGTALK_SECRET)")
	out := fs.String("out", "deploy/sls", "where to write saved-queries.json, alert-rule.json and dashboard.json")
	twinFile := fs.String("twin", "", "ready-line JSON file of 'kmsmig twin'")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// The defaults are read here, not given to the flags: --help prints a
	// flag's default, and these carry tokens.
	cfg := sls.SetupConfig{Endpoint: *endpoint, Project: *project, Logstore: *logstore,
		Webhook: orEnv(*webhook, "KMSMIG_ALERT_WEBHOOK"), DingTalk: orEnv(*dingtalk, "KMSMIG_DINGTALK_WEBHOOK"),
		DingTalkSecret: orEnv(*dingtalkSecret, "KMSMIG_DINGTALK_SECRET")}
	for _, u := range []struct{ flag, value string }{{"--webhook", cfg.Webhook}, {"--dingtalk", cfg.DingTalk}} {
		if err := checkHookURL(u.value); err != nil {
			return fmt.Errorf("%w: %s: %v", errUsage, u.flag, err)
		}
	}
	if cfg.DingTalkSecret != "" && cfg.DingTalk == "" {
		return fmt.Errorf("%w: --dingtalk-secret is set but --dingtalk is not", errUsage)
	}
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
	res, err := sls.EnsureTrail(ctx, cfg)
	printTrail(stdout, cfg, res)
	if err != nil {
		return err
	}
	files, err := writeTrailFiles(*out, cfg, res.ActionPolicy)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", strings.Join(files, ", "))
	return nil
}

// printTrail reports what EnsureTrail did, one object a line, and where
// the alert rule's notifications go.
func printTrail(w io.Writer, cfg sls.SetupConfig, res sls.TrailResult) {
	if res.Logstore == "" {
		return
	}
	fmt.Fprintf(w, "logstore %s/%s: %s; index: %s\n", cfg.Project, cfg.Logstore, res.Logstore, res.Index)
	for _, a := range res.Applied {
		fmt.Fprintf(w, "%s %s: %s\n", a.Kind, a.Name, a.Outcome)
	}
	if len(res.Applied) == 0 || res.Applied[len(res.Applied)-1].Kind != "alert rule" {
		return
	}
	switch {
	case res.Routed:
		r, _ := sls.RouteFor(cfg)
		targets := make([]string, len(r.Webhooks))
		for i, t := range r.Webhooks {
			targets[i] = t.String()
		}
		fmt.Fprintf(w, "notifications: alert policy %s, action policy %s, to %s\n", sls.AlertPolicy, res.ActionPolicy, strings.Join(targets, " and "))
	case res.ActionPolicy != "":
		fmt.Fprintf(w, "notifications: left as found (action policy %s); --webhook or --dingtalk makes setup-logs manage them\n", res.ActionPolicy)
	default:
		fmt.Fprintln(w, "notifications: none: the alert rule names no action policy, so it notifies no one; run again with --webhook or --dingtalk, or choose an action policy for the rule in the SLS console")
	}
}

// writeTrailFiles writes the definitions EnsureTrail applies into dir and
// returns the files' paths.
func writeTrailFiles(dir string, cfg sls.SetupConfig, actionPolicy string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, f := range []struct {
		name string
		v    any
	}{
		{"saved-queries.json", sls.SavedQueries(cfg.Logstore)},
		{"alert-rule.json", sls.AlertRule(cfg.Project, cfg.Logstore, actionPolicy)},
		{"dashboard.json", sls.Dashboard(cfg.Logstore)},
	} {
		b, err := json.MarshalIndent(f.v, "", "  ")
		if err != nil {
			return paths, err
		}
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, append(b, '\n'), 0o644); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func orEnv(v, name string) string {
	if v != "" {
		return v
	}
	return os.Getenv(name)
}

// checkHookURL accepts "" (not set) and absolute http(s) URLs. Its errors
// do not repeat the URL: it carries a token.
func checkHookURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("must be an http(s) URL")
	}
	return nil
}
