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
}

// Client is the migration's view of KMS across accounts and regions. It is
// safe for concurrent use.
type Client struct {
	cfg     Config
	limiter *limiter
	mu      sync.Mutex
	clients map[laneKey]*sdkPool
	stats   Stats

	httpOnce   sync.Once
	httpClient httpDoer
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
	return &Client{cfg: cfg, limiter: newLimiter(cfg.Quotas), clients: map[laneKey]*sdkPool{}}, nil
}

// Stats returns the client's counters.
func (c *Client) Stats() *Stats { return &c.stats }

// sdkPool holds the SDK clients of one account and region. An SDK client
// is not safe for concurrent use (it writes its own fields on every
// request), so each call takes a client of its own from the pool and gives
// it back; the pool grows to the number of concurrent calls.
type sdkPool struct {
	mu   sync.Mutex
	free []*kmssdk.Client
	make func() (*kmssdk.Client, error)
}

func (p *sdkPool) get() (*kmssdk.Client, error) {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		cl := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return cl, nil
	}
	p.mu.Unlock()
	return p.make()
}

func (p *sdkPool) put(cl *kmssdk.Client) {
	p.mu.Lock()
	p.free = append(p.free, cl)
	p.mu.Unlock()
}

// pool returns (creating once) the SDK client pool of an account and
// region. The credential is resolved once per account and region and shared
// by the pool's clients (credentials-go providers are safe for concurrent
// use and refresh themselves).
func (c *Client) pool(account, region string) (*sdkPool, error) {
	k := laneKey{account, region}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.clients[k]; ok {
		return p, nil
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
	doer := c.http()
	p := &sdkPool{make: func() (*kmssdk.Client, error) {
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
	c.clients[k] = p
	return p, nil
}

// httpDoer is the HTTP client the SDK clients send through. The SDK's
// default client rewrites its shared http.Client's Timeout on every request
// without the lock Do would need (a data race under concurrent calls, seen
// with -race), and keeps two idle connections per host; this one is set up
// once, keeps enough connections for the discovery workers, and bounds each
// exchange with CallTimeout.
type httpDoer struct{ c *http.Client }

// Call sends req; the SDK's per-request transport is not used.
func (d httpDoer) Call(req *http.Request, _ *http.Transport) (*http.Response, error) {
	return d.c.Do(req)
}

var _ dara.HttpClient = httpDoer{}

// http returns the client's shared HTTP client, creating it once.
func (c *Client) http() httpDoer {
	c.httpOnce.Do(func() {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 64
		c.httpClient = httpDoer{&http.Client{Transport: t, Timeout: c.cfg.CallTimeout}}
	})
	return c.httpClient
}

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
	p, err := c.pool(account, region)
	if err != nil {
		return err
	}
	cl, err := p.get()
	if err != nil {
		return err
	}
	defer p.put(cl)
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
		c.stats.Calls.Add(1)
		err := fn(ctx, cl)
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

// backoff is the wait before retry number attempt, counted from 1.
func (c *Client) backoff(attempt int) time.Duration {
	return cloud.Backoff{Base: c.cfg.BaseBackoff, Max: c.cfg.MaxBackoff}.Delay(attempt - 1)
}

func isThrottled(err error) bool { return errors.Is(err, cloud.ErrThrottled) }

var _ discover.Source = (*Client)(nil)
