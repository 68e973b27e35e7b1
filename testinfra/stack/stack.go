package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"time"

	"github.com/kmsmig/kmsmig/twin/acs"
	fctwin "github.com/kmsmig/kmsmig/twin/fc"
	"github.com/kmsmig/kmsmig/twin/kms"
	osstwin "github.com/kmsmig/kmsmig/twin/oss"
	slstwin "github.com/kmsmig/kmsmig/twin/sls"
)

// Options configure a Stack.
type Options struct {
	// Inventory seeds the KMS twin. Required.
	Inventory *kms.Inventory
	// Host is the address the listeners bind, each on its own free port;
	// default 127.0.0.1.
	Host string
	// QPS overrides the KMS twin's quota per API group (calls per second per
	// account and region); 0 removes a group's quota.
	QPS map[string]float64
	// Unthrottled removes every quota.
	Unthrottled bool
	// Faults are injected in front of every KMS operation.
	Faults acs.Faults
	// Timing sets how long migration tasks take.
	Timing kms.TaskTiming
	// FreezeDuringTask makes the KMS twin refuse rotation policy changes
	// in an instance's region while a task of it runs
	// (kms.Options.FreezeDuringTask).
	FreezeDuringTask bool
	// TaskAPIAbsent makes the KMS twin answer every migration task action
	// as an action it does not know (kms.Options.TaskAPIAbsent).
	TaskAPIAbsent bool
	// TaskTotal, when not zero, bounds keys plus secrets of one migration
	// task (the KMS twin's Options.MaxResourcesPerTask).
	TaskTotal int
	// Clock is the KMS twin's clock (migration tasks, dates); nil: the
	// wall clock. A rehearsal gives the FC twin's, so that tasks and timers
	// run on one simulated time.
	Clock kms.Clock
	// StateBucket is the OSS bucket created for the run state, owned by the
	// inventory's first account; default DefaultStateBucket.
	StateBucket string
	// FC configures the Function Compute twin (clock, logs); its Keyring
	// and Verifier are the stack's. Functions are deployed on Stack.FC.
	FC fctwin.Config
}

// DefaultLogProject is the SLS project the stack creates for the audit
// trail, owned by the inventory's first account.
const DefaultLogProject = "kmsmig-audit"

// DefaultStateBucket is the bucket the stack creates for run state.
const DefaultStateBucket = "kmsmig-state"

// Ready is the JSON ready line: where each twin listens and the accounts'
// long-term access keys.
type Ready struct {
	KMS map[string]string `json:"kms"`
	STS string            `json:"sts"`
	OSS string            `json:"oss"`
	// StateBucket is the OSS bucket for run state, in OSS's region.
	StateBucket string `json:"stateBucket"`
	OSSRegion   string `json:"ossRegion"`
	SLS         string `json:"sls"`
	// LogProject is the SLS project created for the audit trail.
	LogProject string `json:"logProject"`
	FC         string `json:"fc"`
	// Home is the account that owns the state bucket, the log project
	// and the functions.
	Home string `json:"home"`
	// CAPEM is the certificate authority of the twins served over HTTPS
	// (STS); trust it with SSL_CERT_FILE or Stack.TrustInProcess.
	CAPEM    string    `json:"caPem"`
	Accounts []Account `json:"accounts"`
}

// Account is one account of the ready line.
type Account struct {
	ID              string `json:"id"`
	AccessKeyID     string `json:"accessKeyId"`
	AccessKeySecret string `json:"accessKeySecret"`
}

// Stack is a set of running twins.
type Stack struct {
	KMS     *kms.Twin
	SLS     *slstwin.Server
	FC      *fctwin.Server
	Keyring *acs.Keyring
	ready   Ready
	servers []*http.Server
	ca      *twinCA
}

// Start builds the twins and starts serving them. It returns once every
// listener accepts connections; Close stops them.
func Start(opts Options) (*Stack, error) {
	if opts.Inventory == nil {
		return nil, errors.New("stack: no inventory")
	}
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	keyring := acs.NewKeyring()
	verifier := acs.NewVerifier(keyring, acs.VerifierOptions{})
	twin, err := kms.New(opts.Inventory, kms.Options{Keyring: keyring, Verifier: verifier, Timing: opts.Timing, Clock: opts.Clock,
		TaskAPIAbsent: opts.TaskAPIAbsent, MaxResourcesPerTask: opts.TaskTotal, FreezeDuringTask: opts.FreezeDuringTask})
	if err != nil {
		return nil, err
	}
	if opts.Unthrottled {
		twin.DisableThrottling()
	}
	for g, q := range opts.QPS {
		twin.Limiter().SetQPS(g, q)
	}
	twin.SetFaults(opts.Faults)
	s := &Stack{KMS: twin, Keyring: keyring, ready: Ready{KMS: map[string]string{}}}
	for _, region := range twin.Regions() {
		addr, err := s.serve(host, twin.Handler(region))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("stack: kms %s: %w", region, err)
		}
		s.ready.KMS[region] = addr
	}
	if s.ca, err = newTwinCA(host); err != nil {
		s.Close()
		return nil, fmt.Errorf("stack: twin CA: %w", err)
	}
	s.ready.CAPEM = string(s.ca.pem)
	// STS over HTTPS: credentials-go's role provider speaks nothing else.
	if s.ready.STS, err = s.serveTLS(host, acs.NewSTSServer(acs.STSConfig{Keyring: keyring, Verifier: verifier}), s.ca); err != nil {
		s.Close()
		return nil, fmt.Errorf("stack: sts: %w", err)
	}
	bucket := opts.StateBucket
	if bucket == "" {
		bucket = DefaultStateBucket
	}
	owner, region := opts.Inventory.Accounts[0].ID, twin.Regions()[0]
	fcCfg := opts.FC
	fcCfg.Keyring, fcCfg.Verifier = keyring, verifier
	if fcCfg.Region == "" {
		fcCfg.Region = region
	}
	if fcCfg.AccountID == "" {
		fcCfg.AccountID = owner
	}
	s.FC = fctwin.New(fcCfg)
	// OSS event notification reaches the functions' OSS triggers.
	fcSrv := s.FC
	ossSrv, err := osstwin.New(osstwin.Config{Keyring: keyring, Buckets: []osstwin.Bucket{{Name: bucket, Account: owner, Region: region}},
		OnObjectCreated: func(e osstwin.ObjectCreated) {
			fcSrv.DeliverOSSEvent(fctwin.OSSObjectEvent{EventName: e.EventName, Region: e.Bucket.Region, BucketOwner: e.Bucket.Account,
				Bucket: e.Bucket.Name, Key: e.Key, ETag: e.ETag, Size: e.Size, DeltaSize: e.DeltaSize, RequestID: e.RequestID,
				Principal: e.Principal, SourceIP: e.SourceIP, Time: e.Time})
		}})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("stack: oss: %w", err)
	}
	if s.ready.OSS, err = s.serve(host, ossSrv); err != nil {
		s.Close()
		return nil, fmt.Errorf("stack: oss: %w", err)
	}
	s.ready.StateBucket, s.ready.OSSRegion, s.ready.Home = bucket, region, owner
	s.SLS = slstwin.New(keyring, slstwin.WithRegion(region))
	if err := s.SLS.AddProject(owner, DefaultLogProject, "kmsmig audit trail"); err != nil {
		s.Close()
		return nil, fmt.Errorf("stack: sls: %w", err)
	}
	if s.ready.SLS, err = s.serve(host, s.SLS); err != nil {
		s.Close()
		return nil, fmt.Errorf("stack: sls: %w", err)
	}
	s.ready.LogProject = DefaultLogProject
	if s.ready.FC, err = s.FC.Listen(net.JoinHostPort(host, "0")); err != nil {
		s.Close()
		return nil, fmt.Errorf("stack: fc: %w", err)
	}
	for _, c := range keyring.Accounts() {
		s.ready.Accounts = append(s.ready.Accounts, Account{ID: c.AccountID, AccessKeyID: c.AccessKeyID, AccessKeySecret: c.AccessKeySecret})
	}
	sort.Slice(s.ready.Accounts, func(i, j int) bool { return s.ready.Accounts[i].ID < s.ready.Accounts[j].ID })
	return s, nil
}

// serve listens on a free port of host and serves h in the background.
func (s *Stack) serve(host string, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), nil
}

// Ready returns where the twins listen.
func (s *Stack) Ready() Ready { return s.ready }

// Close stops every listener and waits up to five seconds for calls in
// flight.
func (s *Stack) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.FC != nil {
		_ = s.FC.Close()
	}
	for _, srv := range s.servers {
		_ = srv.Shutdown(ctx)
	}
}
