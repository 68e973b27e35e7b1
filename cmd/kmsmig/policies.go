package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kmsmig/kmsmig/deploy"
	"github.com/kmsmig/kmsmig/shared/app"
)

const policiesSynopsis = `policies [--home UID] [--accounts UID,...] [--role-arns UID=ARN,...] [--member-role kmsmig-member]
       [--state-bucket B] [--state-prefix kmsmig] [--sls-project P] [--sls-logstore kmsmig-audit]
       [--fc-logstore kmsmig-fc-logs] [--fc-role kmsmig-fc] [--out deploy/out]

Renders the RAM policies of the deployment from its configuration and
writes them to --out (deploy/README.md explains every grant):

  ram-policy.json                the functions' role: KMS, the state objects,
                                 writing the logs, InvokeFunction on the
                                 functions the code invokes, AssumeRole on
                                 the member roles of the configured accounts
  fc-role-trust-policy.json      Function Compute may assume it
  member-role-policy.json        each member account's role: KMS only
  member-role-trust-policy.json  only the functions' role may assume it
  deployer-policy.json           whoever runs setup-logs and sets up the
                                 state bucket

The member accounts are --accounts and --role-arns (default: the
functions' settings KMSMIG_ACCOUNTS and KMSMIG_ROLE_ARNS; the home account
has no member role; an account without an ARN gets --member-role). The
invoked functions follow KMSMIG_FUNCTION_MIGRATE and KMSMIG_FUNCTION_ROTATE.
Every other flag defaults to the variable render-policies.sh reads
(ALIBABA_CLOUD_ACCOUNT_ID, KMSMIG_STATE_BUCKET, KMSMIG_SLS_PROJECT, ...).
Nothing is written when a value is bad.`

func runPolicies(_ context.Context, args []string, stdout, stderr io.Writer) error {
	env := func(name, def string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := newFlagSet("policies", policiesSynopsis, stderr)
	home := fs.String("home", env("ALIBABA_CLOUD_ACCOUNT_ID", ""), "account that runs the functions")
	accounts := fs.String("accounts", env("KMSMIG_ACCOUNTS", ""), "accounts to migrate, comma-separated (KMSMIG_ACCOUNTS)")
	roleArns := fs.String("role-arns", env("KMSMIG_ROLE_ARNS", ""), "member roles, UID=acs:ram::UID:role/NAME,... (KMSMIG_ROLE_ARNS)")
	memberRole := fs.String("member-role", env("MEMBER_ROLE_NAME", "kmsmig-member"), "role name in a member account without an ARN")
	bucket := fs.String("state-bucket", env("KMSMIG_STATE_BUCKET", ""), "OSS bucket of the run state")
	prefix := fs.String("state-prefix", env("STATE_PREFIX", "kmsmig"), "object prefix of the run state (s.yaml's KMSMIG_STATE)")
	project := fs.String("sls-project", env("KMSMIG_SLS_PROJECT", ""), "SLS project of the audit trail and the function logs")
	logstore := fs.String("sls-logstore", env("SLS_LOGSTORE", "kmsmig-audit"), "audit logstore")
	fcLogstore := fs.String("fc-logstore", env("FC_LOGSTORE", "kmsmig-fc-logs"), "function-log logstore")
	fcRole := fs.String("fc-role", env("FC_ROLE_NAME", "kmsmig-fc"), "the functions' role")
	out := fs.String("out", env("OUT", filepath.Join("deploy", "out")), "output directory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// The functions' own reading of the settings: the same validation and
	// the same function names.
	settings := map[string]string{"KMSMIG_ACCOUNTS": *accounts, "KMSMIG_ROLE_ARNS": *roleArns}
	cfg, err := app.LoadConfig(func(k string) string {
		if v, ok := settings[k]; ok {
			return v
		}
		return os.Getenv(k)
	})
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	members, err := deploy.MemberRoleARNs(*home, cfg.Accounts, cfg.RoleArns, *memberRole)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	docs, err := deploy.Render(deploy.Params{
		HomeAccount: *home, MemberRoles: members, Functions: deploy.InvokedFunctions(cfg),
		StateBucket: *bucket, StatePrefix: *prefix, SLSProject: *project, SLSLogstore: *logstore, FCLogstore: *fcLogstore, FCRoleName: *fcRole,
	})
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for _, name := range deploy.Files {
		path := filepath.Join(*out, name)
		if err := os.WriteFile(path+".tmp", docs[name], 0o644); err != nil {
			return err
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			return err
		}
		fmt.Fprintln(stdout, path)
	}
	if len(members) == 0 {
		fmt.Fprintln(stderr, "policies: no member account configured: the functions' role may assume no role")
	}
	return nil
}
