package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aliyun/credentials-go/credentials"

	"github.com/kmsmig/kmsmig/shared/aliyun/oss"
	"github.com/kmsmig/kmsmig/shared/aliyun/ram"
	"github.com/kmsmig/kmsmig/shared/app"
)

const migrateStateSynopsis = `migrate-state [--state oss://BUCKET/PREFIX] [--twin READY.json]

Moves an OSS run-state store written by kmsmig before the version log (one
object per key, <prefix><key>) into the version-log layout (one log of
create-only objects per key, <prefix><key>/.v/...), then checks the store
opens. The functions refuse to open such a store until this has run.

Stop the functions first (disable their triggers and let running
invocations end): an earlier kmsmig writing meanwhile would write where
this version does not read. It can be run again after a failure.

The store is --state, else KMSMIG_STATE; the bucket's region
KMSMIG_OSS_REGION (default cn-hangzhou) and endpoint KMSMIG_OSS_ENDPOINT.
Credentials come from the default chain of credentials-go (or the twin's
home account with --twin).`

func runMigrateState(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate-state", migrateStateSynopsis, stderr)
	state := fs.String("state", "", "the oss:// run-state store")
	twinFile := fs.String("twin", "", "ready-line JSON file of 'kmsmig twin' (for its OSS store)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	loc, err := ossLocation(*state, *twinFile)
	if err != nil {
		return err
	}
	s, err := oss.Connect(loc)
	if err != nil {
		return err
	}
	moved, err := s.MigrateLayout(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w (after moving %d objects; run it again once fixed)", loc.URL, err, moved)
	}
	if _, err := oss.Open(ctx, loc); err != nil {
		return fmt.Errorf("%s: moved %d objects, but the store does not open: %w", loc.URL, moved, err)
	}
	fmt.Fprintf(stdout, "%s: moved %d objects into the version-log layout; the store opens\n", loc.URL, moved)
	return nil
}

// ossLocation is where an oss:// store named by --state (else
// KMSMIG_STATE) lives, reached with the default credential chain or, with
// --twin, the twin's home account.
func ossLocation(state, twinFile string) (oss.Location, error) {
	if state == "" {
		state = os.Getenv("KMSMIG_STATE")
	}
	if !strings.HasPrefix(state, "oss://") {
		return oss.Location{}, fmt.Errorf("%w: --state %q: want oss://BUCKET/PREFIX", errUsage, state)
	}
	env := map[string]string{"KMSMIG_STATE": state, "KMSMIG_OSS_REGION": os.Getenv("KMSMIG_OSS_REGION"), "KMSMIG_OSS_ENDPOINT": os.Getenv("KMSMIG_OSS_ENDPOINT")}
	var cred credentials.Credential
	if twinFile != "" {
		ready, err := readReady(twinFile)
		if err != nil {
			return oss.Location{}, fmt.Errorf("%w: --twin %s: %v", errUsage, twinFile, err)
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
					return oss.Location{}, err
				}
			}
		}
	} else {
		var err error
		if cred, err = credentials.NewCredential(nil); err != nil {
			return oss.Location{}, fmt.Errorf("no Alibaba Cloud credentials found for %s: %w", state, err)
		}
	}
	cfg, err := app.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		return oss.Location{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	region := cfg.OSSRegion
	if region == "" {
		region = "cn-hangzhou"
	}
	return oss.Location{URL: cfg.State, Region: region, Endpoint: cfg.OSSEndpoint, Insecure: cfg.Insecure, Credential: cred}, nil
}
