package chaos

import (
	"context"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	osssdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	osscred "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/retry"

	ossstore "github.com/kmsmig/kmsmig/shared/aliyun/oss"
	"github.com/kmsmig/kmsmig/shared/runstate"
	osstwin "github.com/kmsmig/kmsmig/twin/oss"
)

// The run-state stores a campaign can run on (Options.State).
const (
	// StateOSS is the store the functions use in the cloud
	// (shared/aliyun/oss: a log of create-only versions written with
	// x-oss-forbid-overwrite) on the OSS twin, with the twin's documented
	// semantics: an unversioned bucket, no conditional PutObject. The
	// default.
	StateOSS = "oss"
	// StateDir is the directory store (runstate.OpenDir) on a memory file
	// system: the store of local runs.
	StateDir = "dir"
)

// Fault kinds of the OSS store, counted per request the OSS twin failed.
const (
	// FaultOSSError: a request the OSS twin answered 500 InternalError
	// without serving it.
	FaultOSSError = "oss-5xx"
	// FaultOSSLost: a request the OSS twin served (a write landed) and
	// whose reply it never sent.
	FaultOSSLost = "oss-reply-lost"
)

const (
	// stateBucket is the schedule's bucket, owned by the inventory's first
	// account; statePrefix the store's prefix in it, as the stack's
	// KMSMIG_STATE names it (oss://kmsmig-state/kmsmig).
	stateBucket = "kmsmig-state"
	statePrefix = "kmsmig"
	// ossStream tells the OSS stream's PCG from the step stream's.
	ossStream = 0x6f7373737461
)

// ossProfile is how hard a schedule presses on the OSS store, drawn from
// a stream of its own so that the other draws are those of the directory
// store.
type ossProfile struct {
	// PruneAtOnce prunes every version but the two newest at each prune
	// (PruneAfter < 0), rather than once its successor is
	// DefaultPruneAfter old (on the twin's clock, the schedule's virtual
	// one): pruning then races the writers.
	PruneAtOnce bool
	// PFaults is the probability that a step switches the twin's faults
	// on or off; ErrorRate and LostRate are their rates while on.
	PFaults             float64
	ErrorRate, LostRate float64
}

func drawOSSProfile(r *mrand.Rand) ossProfile {
	return ossProfile{
		PruneAtOnce: r.IntN(3) == 0,
		PFaults:     0.2 * r.Float64(),
		ErrorRate:   0.02 + 0.1*r.Float64(),
		LostRate:    0.01 + 0.05*r.Float64(),
	}
}

// ossStep is the OSS stream's draw for one step.
type ossStep struct {
	toggle bool
	seed   uint64
}

func drawOSSStep(r *mrand.Rand, p ossProfile) ossStep {
	return ossStep{toggle: r.Float64() < p.PFaults, seed: r.Uint64()}
}

// ossState is a schedule's OSS twin and stream.
type ossState struct {
	twin   *osstwin.Server
	faulty *osstwin.Faulty
	rng    *mrand.Rand
	prof   ossProfile
	on     bool
}

// openState opens the schedule's run-state stores: s.store, the one the
// functions write, and s.view, the one the harness reads (what the
// operator and the checks see, without the OSS faults). closeFn removes
// them.
func (s *schedule) openState(ctx context.Context, kind string, seed uint64, index int) (closeFn func(), err error) {
	switch kind {
	case StateDir:
		dir, err := os.MkdirTemp(stateRoot(), "kmsmig-chaos-")
		if err != nil {
			return func() {}, err
		}
		closeFn = func() { _ = os.RemoveAll(dir) }
		if s.store, err = runstate.OpenDir(dir); err != nil {
			return closeFn, err
		}
		s.view = s.store
		return closeFn, nil
	case StateOSS:
		o := &ossState{rng: mrand.New(mrand.NewPCG(seed^ossStream, uint64(index)))}
		o.prof = drawOSSProfile(o.rng)
		s.oss = o
		// Nothing to close: the twin listens on no socket (inProcess) and
		// its objects go with it.
		return func() {}, s.openOSS(ctx)
	}
	return func() {}, fmt.Errorf("chaos: state %q: want %q or %q", kind, StateOSS, StateDir)
}

// openOSS starts the OSS twin with the state bucket and opens the store
// through it twice: the functions' store behind the faulty handler, and
// the harness's behind the clean one. The functions' store is checked as
// the functions open it (ossstore.Store.Check: an unversioned bucket, the
// permissions, the layout).
func (s *schedule) openOSS(ctx context.Context) error {
	o := s.oss
	owner := s.st.Accounts()[0]
	region := s.st.KMS.Regions()[0]
	var err error
	// The twin dates objects on the schedule's virtual clock, so that the
	// store prunes after PruneAfter of simulated time; the SDK signs with
	// the wall clock, which the skew check must then let through.
	if o.twin, err = osstwin.New(osstwin.Config{Keyring: s.st.keyring, Now: s.st.Clock.Now, MaxSkew: 100 * 365 * 24 * time.Hour,
		Buckets: []osstwin.Bucket{{Name: stateBucket, Account: owner, Region: region}}}); err != nil {
		return fmt.Errorf("chaos: oss twin: %w", err)
	}
	o.faulty = o.twin.Faulty()
	cred := s.st.keys[owner]
	pruneAfter := ossstore.DefaultPruneAfter
	if o.prof.PruneAtOnce {
		pruneAfter = -1
	}
	open := func(h http.Handler) (*ossstore.Store, error) {
		// As ossstore.Connect builds it for a twin (plain HTTP, path
		// style), with quick retries of reads like the KMS client's, and
		// the twin served in process (see inProcess).
		cfg := osssdk.LoadDefaultConfig().
			WithRegion(region).
			WithCredentialsProvider(osscred.NewStaticCredentialsProvider(cred.AccessKeyID, cred.AccessKeySecret)).
			WithEndpoint(ossHost).
			WithDisableSSL(true).
			WithUsePathStyle(true).
			WithHttpClient(&http.Client{Transport: inProcess{h}}).
			WithRetryer(retry.NewStandard(func(ro *retry.RetryOptions) {
				ro.MaxAttempts = 3
				ro.Backoff = retry.NewFullJitterBackoff(time.Millisecond, 10*time.Millisecond)
			}))
		return ossstore.New(osssdk.NewClient(cfg), ossstore.Config{Bucket: stateBucket, Prefix: statePrefix, PruneAfter: pruneAfter})
	}
	fn, err := open(o.faulty)
	if err != nil {
		return fmt.Errorf("chaos: oss store: %w", err)
	}
	if err := fn.Check(ctx); err != nil {
		return fmt.Errorf("chaos: oss store: %w", err)
	}
	view, err := open(o.twin)
	if err != nil {
		return fmt.Errorf("chaos: oss store: %w", err)
	}
	s.store, s.view = fn, view
	return nil
}

// ossHost is the endpoint the SDK addresses; no socket listens on it (see
// inProcess).
const ossHost = "127.0.0.1:9"

// inProcess is an http.RoundTripper that serves each request with a
// handler in the caller's goroutine: the SDK builds, signs and sends real
// OSS requests and parses real OSS responses (the twin verifies the
// signatures and answers in OSS's wire format), without a socket between
// them. A schedule makes thousands of store calls of several requests
// each, and this spares each request a loopback round trip between
// goroutines (the KMS twin, whose requests are fewer, keeps its sockets). A
// handler that aborts (http.ErrAbortHandler: the OSS twin's lost reply)
// is a connection closed before the response: io.EOF, as the transport
// reports it.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(r *http.Request) (res *http.Response, err error) {
	sr := r.Clone(r.Context())
	if sr.Host == "" {
		sr.Host = r.URL.Host
	}
	sr.RequestURI = r.URL.RequestURI()
	sr.RemoteAddr = "127.0.0.1:49152"
	if sr.Body == nil {
		sr.Body = http.NoBody
	}
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				panic(p)
			}
			res, err = nil, io.EOF
		}
		if r.Body != nil {
			_ = r.Body.Close()
		}
	}()
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, sr)
	res = rec.Result()
	res.Request = r
	return res, nil
}

// ossWorld applies the OSS stream's draw for the step: it may switch the
// twin's faults on (new seed) or off. Without the OSS store it does
// nothing and draws nothing.
func (s *schedule) ossWorld(step int) {
	o := s.oss
	if o == nil {
		return
	}
	d := drawOSSStep(o.rng, o.prof)
	if !d.toggle {
		return
	}
	o.on = !o.on
	f := osstwin.Faults{}
	if o.on {
		f = osstwin.Faults{ErrorRate: o.prof.ErrorRate, LostReplyRate: o.prof.LostRate, Seed: d.seed}
	}
	if err := o.faulty.SetFaults(f); err != nil {
		panic(err) // the profile's rates are in range by construction
	}
	s.res.Logf("step %d: oss faults %v (5xx %.2f, reply lost %.2f)", step, o.on, o.prof.ErrorRate, o.prof.LostRate)
}

// releaseOSS lifts the OSS twin's faults.
func (s *schedule) releaseOSS() {
	if s.oss == nil || !s.oss.on {
		return
	}
	s.oss.on = false
	_ = s.oss.faulty.SetFaults(osstwin.Faults{})
}

// countOSS adds the requests the OSS twin failed to the schedule's faults.
func (s *schedule) countOSS() {
	if s.oss == nil || s.oss.faulty == nil {
		return
	}
	refused, lost := s.oss.faulty.Counts()
	if refused > 0 {
		s.res.Faults[FaultOSSError] = int(refused)
	}
	if lost > 0 {
		s.res.Faults[FaultOSSLost] = int(lost)
	}
}
