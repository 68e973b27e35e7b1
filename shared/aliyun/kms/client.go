package kms

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	kmssdk "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"

	"github.com/kmsmig/kmsmig/shared/aliyun/sdkerr"
	"github.com/kmsmig/kmsmig/shared/cloud"
	"github.com/kmsmig/kmsmig/shared/discover"
)

// CredentialSource returns the credential to use for an account. It is
// called once per account and region; the credential it returns refreshes
// itself (credentials-go providers do).
type CredentialSource func(account string) (credentials.Credential, error)

// Config says where the KMS endpoints are and how hard to press them.
type Config struct {
	// Endpoints maps a region to the host[:port] serving its KMS API.
	// Regions not listed use kms.<region>.aliyuncs.com.
	Endpoints map[string]string
	// Insecure sends plain HTTP (for the offline twin on loopback); a
	// region whose endpoint is not a loopback one is then refused before
	// any request (cloud.ErrPlainHTTP).
	Insecure bool
	// Credentials gives each account's credential. Required.
	Credentials CredentialSource
	// Quotas are calls per second per account, region and group; nil means
	// DefaultQuotas. A group mapped to 0 is not limited client-side.
	Quotas map[Group]float64
	// MaxAttempts bounds the tries of one call (default 8).
	MaxAttempts int
	// BaseBackoff is the first retry delay, doubled each time up to
	// MaxBackoff, with cloud.Backoff's jitter (defaults 100ms and 5s).
	BaseBackoff, MaxBackoff time.Duration
	// CallTimeout bounds a single HTTP exchange (default 10s); the caller's
	// context bounds the whole call including retries.
	CallTimeout time.Duration
	// MaxInFlight bounds the HTTP exchanges in flight at once across every
	// account and region (default DefaultMaxInFlight). What the client
	// holds (connections, request and response buffers, goroutines in the
	// transport) is bounded by it, not by the number of lanes. A call
	// takes its rate-limit token first and then waits for a slot, so a
	// slow or throttled lane never holds a slot while it waits for its
	// quota.
	MaxInFlight int
}

// DefaultMaxInFlight is Config.MaxInFlight's default: enough to keep many
// lanes' quotas busy at the gateway's latency, small enough for a discover
// invocation's memory.
const DefaultMaxInFlight = 128

// Client is the migration's view of KMS across accounts and regions. It is
// safe for concurrent use.
type Client struct {
	cfg      Config
	limiter  *limiter
	mu       sync.Mutex
	clients  map[laneKey]*sdkFactory
	inFlight chan struct{} // one token per HTTP exchange in flight
	stats    Stats
	http     httpDoer
}

type laneKey struct{ account, region string }

// Stats counts what the client did, for reports and benchmarks.
type Stats struct {
	Calls     atomic.Int64 // calls sent, retries included
	Throttled atomic.Int64 // calls refused for throttling
	Retried   atomic.Int64 // retries of any cause
	Failed    atomic.Int64 // calls that failed for good
}

// New returns a client for cfg. It fails when no credential source is set.
func New(cfg Config) (*Client, error) {
	if cfg.Credentials == nil {
		return nil, errors.New("kms: config: Credentials is required")
	}
	if cfg.Quotas == nil {
		cfg.Quotas = DefaultQuotas()
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	return &Client{cfg: cfg, limiter: newLimiter(cfg.Quotas), clients: map[laneKey]*sdkFactory{},
		inFlight: make(chan struct{}, cfg.MaxInFlight),
		http:     httpDoer{&http.Client{Transport: sharedTransport(), Timeout: cfg.CallTimeout}}}, nil
}

// Stats returns the client's counters.
func (c *Client) Stats() *Stats { return &c.stats }

// sdkFactory makes the SDK clients of one account and region. An SDK
// client is not safe for concurrent use (it writes its own fields on every
// request), so each call makes one of its own: it is small and cheap to
// make (a few hundred bytes, under a microsecond, against an HTTP exchange)
// and is garbage once the call returns, so nothing per call outlives it
// and what the client keeps per account and region is this factory, the
// credential and the rate-limit buckets.
type sdkFactory struct {
	make func() (*kmssdk.Client, error)
}

// factory returns (creating once) the SDK client factory of an account
// and region. The credential is resolved once per account and region and
// shared by its clients (credentials-go providers are safe for concurrent
// use and refresh themselves).
func (c *Client) factory(account, region string) (*sdkFactory, error) {
	k := laneKey{account, region}
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.clients[k]; ok {
		return f, nil
	}
	endpoint := c.cfg.Endpoints[region]
	if endpoint == "" {
		endpoint = "kms." + region + ".aliyuncs.com"
	}
	protocol := "https"
	if c.cfg.Insecure {
		// Plain HTTP only to a loopback override (an offline twin): a
		// region without one would reach kms.<region>.aliyuncs.com.
		if err := cloud.CheckPlainHTTP("kms: region "+region, endpoint, true); err != nil {
			return nil, err
		}
		protocol = "http"
	}
	cred, err := c.cfg.Credentials(account)
	if err != nil {
		return nil, fmt.Errorf("kms: credentials for account %s: %w", account, err)
	}
	ms := int(c.cfg.CallTimeout / time.Millisecond)
	doer := c.http
	f := &sdkFactory{make: func() (*kmssdk.Client, error) {
		cl, err := kmssdk.NewClient(&openapiutil.Config{
			Credential:     cred,
			Endpoint:       dara.String(endpoint),
			RegionId:       dara.String(region),
			Protocol:       dara.String(protocol),
			ReadTimeout:    dara.Int(ms),
			ConnectTimeout: dara.Int(ms),
			HttpClient:     doer,
		})
		if err != nil {
			return nil, fmt.Errorf("kms: client for %s/%s: %w", account, region, err)
		}
		return cl, nil
	}}
	c.clients[k] = f
	return f, nil
}

// httpDoer is the HTTP client the SDK clients send through. The SDK's
// default client rewrites its shared http.Client's Timeout on every request
// without the lock Do would need (a data race under concurrent calls, seen
// with -race), and keeps two idle connections per host; this one is set up
// once per Client over the process's one transport, and bounds each
// exchange with CallTimeout.
type httpDoer struct{ c *http.Client }

// Call sends req; the SDK's per-request transport is not used.
func (d httpDoer) Call(req *http.Request, _ *http.Transport) (*http.Response, error) {
	return d.c.Do(req)
}

var _ dara.HttpClient = httpDoer{}

// sharedTransport is the process's one HTTP transport to KMS: every Client
// (a function instance builds one per invocation) reuses its connections,
// so connections and their buffers are bounded by the calls in flight, not
// multiplied by invocations or lanes. Up to DefaultMaxInFlight idle
// connections per host are kept (a region's calls all go to one host, and
// reopening HTTPS connections costs handshakes), closed after 30 s idle.
var sharedTransport = sync.OnceValue(func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 2*DefaultMaxInFlight, DefaultMaxInFlight
	t.IdleConnTimeout = 30 * time.Second
	return t
})

// runtime options: the SDK's own retries are off; call() retries.
func runtimeOptions() *dara.RuntimeOptions {
	return &dara.RuntimeOptions{Autoretry: dara.Bool(false)}
}

// call runs fn under the account/region/group rate limit, retrying
// throttling and transient failures with jittered back-off, and converts
// SDK errors into *cloud.APIError. Context errors are returned unchanged.
func (c *Client) call(ctx context.Context, account, region string, g Group, action string,
	fn func(ctx context.Context, cl *kmssdk.Client) error) error {
	return c.callWith(ctx, account, region, g, action, c.cfg.MaxAttempts, fn)
}

// callWith is call with an explicit bound on the number of tries.
func (c *Client) callWith(ctx context.Context, account, region string, g Group, action string, attempts int,
	fn func(ctx context.Context, cl *kmssdk.Client) error) error {
	f, err := c.factory(account, region)
	if err != nil {
		return err
	}
	cl, err := f.make()
	if err != nil {
		return err
	}
	b := c.limiter.bucket(account, region, g)
	var last error
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 {
			c.stats.Retried.Add(1)
			if err := cloud.Sleep(ctx, c.backoff(attempt)); err != nil {
				return err
			}
		}
		if b != nil {
			if err := b.wait(ctx); err != nil {
				return err
			}
		}
		err := c.send(ctx, cl, fn)
		if err == nil {
			if b != nil {
				b.succeeded()
			}
			return nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		last = sdkerr.Convert("kms", action, err)
		if errors.Is(last, cloud.ErrThrottled) {
			c.stats.Throttled.Add(1)
			if b != nil {
				b.throttled()
			}
		}
		if !cloud.Retryable(last) {
			break
		}
	}
	c.stats.Failed.Add(1)
	return last
}

// send runs one exchange in one of the client's in-flight slots, waiting
// for a slot (or ctx's end, whose error it returns unchanged).
func (c *Client) send(ctx context.Context, cl *kmssdk.Client, fn func(ctx context.Context, cl *kmssdk.Client) error) error {
	select {
	case c.inFlight <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.inFlight }()
	c.stats.Calls.Add(1)
	return fn(ctx, cl)
}

// backoff is the wait before retry number attempt, counted from 1.
func (c *Client) backoff(attempt int) time.Duration {
	return cloud.Backoff{Base: c.cfg.BaseBackoff, Max: c.cfg.MaxBackoff}.Delay(attempt - 1)
}

func isThrottled(err error) bool { return errors.Is(err, cloud.ErrThrottled) }

var _ discover.Source = (*Client)(nil)
