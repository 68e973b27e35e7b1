package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aliyun/credentials-go/credentials"

	"github.com/kmsmig/kmsmig/shared/aliyun/ram"
	"github.com/kmsmig/kmsmig/shared/approval"
	"github.com/kmsmig/kmsmig/shared/wiring"
)

const approveSynopsis = `approve --run ID [--digest D] [--yes] [--state dir:PATH|oss://BUCKET/PREFIX] [--twin READY.json] [--sts-endpoint HOST]

Approves the plan of a run, for functions deployed with
KMSMIG_APPROVAL=required: until then migrate switches no rotation off and
submits no task for it. It prints the plan's summary (lanes, batches,
keys and secrets, the automatic rotation policies to switch off,
blockers: what the plan leaves out) and its digest, asks for
confirmation (type "yes"; --yes for scripts; without a terminal and
without --yes it refuses), then records in the run-state store the
digest it showed, who approved (the caller identity of the credentials in
use, from STS GetCallerIdentity, never a typed name) and when. With an
oss:// store it also writes <prefix>/approvals/<run>.json, the object the
OSS trigger of migrate watches, so the approved run starts at once inside
the window. With a dir: store there is no trigger: the window's timer
starts it.

--digest D approves only if D is the plan's digest (e.g. the one a
notification or the discovery report showed). A re-plan that changes a
pending batch needs a new approval.

Refused with exit 2, nothing written: a run the store does not know, a
digest that is not the current plan's, a plan with no batch to approve,
a plan stored without a digest (discover again).`

// stdin and stdinIsTerminal are where approve reads its confirmation
// (tests replace them).
var (
	stdin           io.Reader = os.Stdin
	stdinIsTerminal           = func() bool {
		fi, err := os.Stdin.Stat()
		return err == nil && fi.Mode()&os.ModeCharDevice != 0
	}
)

// callerIdentity asks STS who the approver is (tests replace it).
var callerIdentity = ram.CallerIdentity

func runApprove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("approve", approveSynopsis, stderr)
	state := fs.String("state", "", "run-state store (default KMSMIG_STATE, else dir:.kmsmig-state)")
	twinFile := fs.String("twin", "", "ready-line JSON file of 'kmsmig twin' (its OSS store and STS, its home account's key)")
	runID := fs.String("run", "", "run id (required)")
	digest := fs.String("digest", "", "approve only this digest of the plan")
	yes := fs.Bool("yes", false, "approve without asking (scripts)")
	stsEndpoint := fs.String("sts-endpoint", "", "STS host for GetCallerIdentity (default KMSMIG_STS_ENDPOINT, else sts.aliyuncs.com)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *runID == "" {
		return fmt.Errorf("%w: --run: required (the run to approve)", errUsage)
	}
	store, err := openStatusStore(ctx, *state, *twinFile)
	if err != nil {
		return err
	}
	p, st, err := approval.Plan(ctx, store, *runID)
	if errors.Is(err, approval.ErrUnknownRun) {
		return fmt.Errorf("%w: --run %s: no such run in this store", errUsage, *runID)
	}
	if err != nil {
		return err
	}
	if err := refusal(approval.Approvable(&p, st, *digest)); err != nil {
		return err
	}
	sum := approval.Summarize(&p, st)
	sum.Write(stdout, *runID)
	if !*yes {
		if !stdinIsTerminal() {
			return fmt.Errorf("%w: standard input is not a terminal: nobody can confirm; give --yes to approve from a script", errUsage)
		}
		fmt.Fprintf(stdout, "Approve this plan (digest %s)? Type yes to approve: ", p.Digest)
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			return errors.New("not approved (the answer was not yes); nothing written")
		}
	}
	cred, idCfg, err := approverCredential(*twinFile, *stsEndpoint)
	if err != nil {
		return err
	}
	who, err := callerIdentity(ctx, cred, idCfg)
	if err != nil {
		return fmt.Errorf("who approves: %w; nothing written", err)
	}
	done, err := wiring.ApproveRun(ctx, store, *runID, p.Digest, who, time.Now())
	if err := refusal(err); err != nil {
		return err
	}
	a := done.Approval
	if !done.Changed {
		fmt.Fprintf(stdout, "Run %s: plan %s was already approved by %s at %s; nothing changed.\n", *runID, a.Digest, a.By, a.At.Format(time.RFC3339))
		return nil
	}
	fmt.Fprintf(stdout, "Run %s: plan %s approved by %s at %s.\n", *runID, a.Digest, a.By, a.At.Format(time.RFC3339))
	if done.Signal == "" {
		fmt.Fprintf(stdout, "The store is not on OSS: no trigger; migrate starts the run at its next invocation in the window.\n")
	} else {
		fmt.Fprintf(stdout, "Migrate is prompted through %s.\n", done.Signal)
	}
	return nil
}

// refusal turns the approval's bad-input errors into usage errors (exit 2).
func refusal(err error) error {
	for _, e := range []error{approval.ErrUnknownRun, approval.ErrDigestMismatch, approval.ErrNothingToApprove, approval.ErrNoDigest} {
		if errors.Is(err, e) {
			return fmt.Errorf("%w: %v; nothing written", errUsage, err)
		}
	}
	return err
}

// approverCredential is the credential whose identity approves and where
// STS is: the twin's home account with --twin, else credentials-go's
// default chain.
func approverCredential(twinFile, endpoint string) (credentials.Credential, ram.IdentityConfig, error) {
	cfg := ram.IdentityConfig{Endpoint: endpoint}
	if cfg.Endpoint == "" {
		cfg.Endpoint = os.Getenv("KMSMIG_STS_ENDPOINT")
	}
	if twinFile == "" {
		cred, err := credentials.NewCredential(nil)
		if err != nil {
			return nil, cfg, fmt.Errorf("no Alibaba Cloud credentials found to identify the approver: %w", err)
		}
		return cred, cfg, nil
	}
	ready, err := readReady(twinFile)
	if err != nil {
		return nil, cfg, fmt.Errorf("%w: --twin %s: %v", errUsage, twinFile, err)
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = ready.STS
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	pool.AppendCertsFromPEM([]byte(ready.CAPEM))
	cfg.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	for _, a := range ready.Accounts {
		if a.ID == ready.Home {
			cred, err := ram.Static(a.AccessKeyID, a.AccessKeySecret, "")
			return cred, cfg, err
		}
	}
	return nil, cfg, fmt.Errorf("%w: --twin %s: no key of the home account %s", errUsage, twinFile, ready.Home)
}
