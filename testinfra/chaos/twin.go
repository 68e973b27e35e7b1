package chaos

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/aliyun/credentials-go/credentials"

	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/twin/acs"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// kmsStack is the part of testinfra/stack a schedule needs: the KMS twin of
// every region on its own port, on a virtual clock (the OSS twin of the
// run state is started beside it, in state.go, on the same keyring). (stack.Options has no
// clock: its tasks run on the wall clock, which the engines' skewed and
// advanced clocks could not share.)
type kmsStack struct {
	KMS     *kmstwin.Twin
	Clock   *kmstwin.ManualClock
	addrs   map[string]string
	keyring *acs.Keyring
	keys    map[string]acs.Credential
	servers []*http.Server
}

// startKMS starts the twin seeded with inv on host's free ports.
func startKMS(inv *kmstwin.Inventory, clock *kmstwin.ManualClock, timing kmstwin.TaskTiming) (*kmsStack, error) {
	keyring := acs.NewKeyring()
	twin, err := kmstwin.New(inv, kmstwin.Options{Keyring: keyring, Verifier: acs.NewVerifier(keyring, acs.VerifierOptions{}),
		Clock: clock, Timing: timing})
	if err != nil {
		return nil, err
	}
	twin.DisableThrottling()
	s := &kmsStack{KMS: twin, Clock: clock, addrs: map[string]string{}, keyring: keyring, keys: map[string]acs.Credential{}}
	for _, region := range twin.Regions() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			s.Close()
			return nil, err
		}
		srv := &http.Server{Handler: twin.Handler(region), ReadHeaderTimeout: 10 * time.Second}
		s.servers = append(s.servers, srv)
		go func() { _ = srv.Serve(ln) }()
		s.addrs[region] = ln.Addr().String()
	}
	for _, c := range keyring.Accounts() {
		s.keys[c.AccountID] = c
	}
	return s, nil
}

// Accounts returns the inventory's accounts, in inventory order.
func (s *kmsStack) Accounts() []string { return s.KMS.Accounts() }

// Client returns a KMS adapter over the twin with quick retries.
func (s *kmsStack) Client() (*kms.Client, error) {
	return kms.New(kms.Config{
		Endpoints: s.addrs, Insecure: true,
		Credentials: func(account string) (credentials.Credential, error) {
			a, ok := s.keys[account]
			if !ok {
				return nil, errors.New("chaos: unknown account " + account)
			}
			typ := "access_key"
			return credentials.NewCredential(&credentials.Config{Type: &typ, AccessKeyId: &a.AccessKeyID, AccessKeySecret: &a.AccessKeySecret})
		},
		Quotas:      map[kms.Group]float64{},
		BaseBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, MaxAttempts: 6,
		CallTimeout: 5 * time.Second,
	})
}

// Close stops the listeners at once (connections the client keeps idle
// are closed, not waited for).
func (s *kmsStack) Close() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, srv := range s.servers {
		_ = srv.Shutdown(ctx)
		_ = srv.Close()
	}
}
