package sls

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/aliyun/aliyun-log-go-sdk/producer"

	"github.com/kmsmig/kmsmig/shared/audit"
)

// Credentials are the access key an SLS sink signs with. Printing them
// shows the access key id only.
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string // set for STS credentials
}

// String shows the access key id only.
func (c Credentials) String() string { return "Credentials{" + c.AccessKeyID + "}" }

// GoString shows the access key id only.
func (c Credentials) GoString() string { return c.String() }

// Config configures NewSink.
type Config struct {
	// Endpoint is the SLS endpoint, e.g. "cn-hangzhou.log.aliyuncs.com" or
	// "cn-hangzhou-intranet.log.aliyuncs.com" (required).
	Endpoint string
	// Project and Logstore receive the records (required).
	Project  string
	Logstore string
	// Topic and Source are set on every log group; Source defaults to the
	// host name.
	Topic  string
	Source string
	// Credentials sign the requests when CredentialsFunc is nil.
	Credentials Credentials
	// CredentialsFunc, when set, is asked for credentials before every
	// request, so that the STS credentials Function Compute hands each
	// invocation can replace the previous ones. It must be safe for
	// concurrent use.
	CredentialsFunc func() (Credentials, error)
	// HTTPClient sends the requests; the SDK's default when nil.
	HTTPClient *http.Client
	// DialAddr, when set, makes every connection go to this host:port
	// whatever the URL's host: the SDK addresses "<project>.<endpoint>",
	// which does not resolve for a local twin at 127.0.0.1:port. Ignored
	// when HTTPClient is set.
	DialAddr string
	// Linger is how long the producer gathers records before sending a
	// batch; it bounds Flush latency. Default 100ms, the producer's minimum.
	Linger time.Duration
	// Retries is how often a failed batch is retried (with exponential
	// back-off from 100ms up to MaxRetryBackoff). Default 10; negative
	// means none.
	Retries int
	// MaxRetryBackoff caps the back-off between retries. Default 5s.
	MaxRetryBackoff time.Duration
	// MaxBufferBytes bounds the records held by the producer; beyond it Log
	// drops. Default 16 MiB.
	MaxBufferBytes int64
	// Guard scrubs records; heuristics only when nil. The static
	// Credentials' secret and token are added to it.
	Guard *audit.Guard
	// Diagnostics receives delivery failures; os.Stderr when nil.
	Diagnostics io.Writer
}

// SLS writes records to a logstore through the aliyun-log-go-sdk producer
// (batching, lz4, retries with back-off). One SLS lives as long as the
// process, across invocations; see the package doc for why. Create it with
// NewSink and Close it at shutdown.
type Sink struct {
	cfg   Config
	p     *producer.Producer
	guard *audit.Guard
	diag  *audit.Diagnostics
	c     *audit.Counters
	cb    callback

	closeOnce sync.Once
}

// NewSink validates cfg and starts a producer. It does no I/O: a wrong
// endpoint or key shows up as failed records, not as an error here.
func NewSink(cfg Config) (*Sink, error) {
	switch {
	case cfg.Endpoint == "":
		return nil, errors.New("sls: endpoint is required")
	case cfg.Project == "" || cfg.Logstore == "":
		return nil, errors.New("sls: project and logstore are required")
	case cfg.CredentialsFunc == nil && (cfg.Credentials.AccessKeyID == "" || cfg.Credentials.AccessKeySecret == ""):
		return nil, errors.New("sls: credentials are required")
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 100 * time.Millisecond
	}
	if cfg.Retries == 0 {
		cfg.Retries = 10
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.MaxRetryBackoff <= 0 {
		cfg.MaxRetryBackoff = 5 * time.Second
	}
	if cfg.MaxBufferBytes <= 0 {
		cfg.MaxBufferBytes = 16 << 20
	}
	if cfg.Source == "" {
		cfg.Source, _ = os.Hostname()
	}
	if cfg.Guard == nil {
		cfg.Guard = &audit.Guard{}
	}
	cfg.Guard.Add(cfg.Credentials.AccessKeySecret, cfg.Credentials.SecurityToken)
	if cfg.Diagnostics == nil {
		cfg.Diagnostics = os.Stderr
	}
	if cfg.HTTPClient == nil && cfg.DialAddr != "" {
		cfg.HTTPClient = dialingClient(cfg.DialAddr)
	}

	pc := producer.GetDefaultProducerConfig()
	pc.Endpoint = WithScheme(cfg.Endpoint)
	pc.CredentialsProvider = credentialsProvider{cfg}
	pc.HTTPClient = cfg.HTTPClient
	pc.LingerMs = max(cfg.Linger.Milliseconds(), 100)
	pc.Retries = cfg.Retries
	pc.MaxReservedAttempts = cfg.Retries + 1
	pc.MaxRetryBackoffMs = cfg.MaxRetryBackoff.Milliseconds()
	pc.TotalSizeLnBytes = cfg.MaxBufferBytes
	pc.MaxBlockSec = 0 // never wait for room: drop and count instead
	pc.MaxIoWorkerCount = 4
	pc.Logger = quietLogger{}
	pc.DisableRuntimeMetrics = true
	p, err := producer.NewProducer(pc)
	if err != nil {
		return nil, fmt.Errorf("sls: new producer: %w", err)
	}
	s := &Sink{cfg: cfg, p: p, guard: cfg.Guard, diag: audit.NewDiagnostics(cfg.Diagnostics, cfg.Guard), c: audit.NewCounters()}
	s.cb = callback{s}
	p.Start()
	return s, nil
}

// Keys of the log contents, allocated once.
var contentKeys = func() map[string]*string {
	m := make(map[string]*string, len(audit.FieldNames))
	for _, k := range audit.FieldNames {
		m[k] = &k
	}
	return m
}()

// Log implements Logger.
func (s *Sink) Log(_ context.Context, r audit.Record) {
	if s.guard.ScrubRecord(&r) {
		s.c.Redacted(1)
	}
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	log := toLog(&r)
	s.c.Accept(1)
	if err := s.p.SendLogWithCallBack(s.cfg.Project, s.cfg.Logstore, s.cfg.Topic, s.cfg.Source, log, s.cb); err != nil {
		// Over MaxBufferBytes, or closed: the producer refused at once.
		s.c.Settle(1, audit.Dropped)
		s.diag.Printf("drop", "sls %s/%s: record dropped: %v", s.cfg.Project, s.cfg.Logstore, err)
	}
}

// toLog converts r into the SDK's protobuf log with few allocations.
func toLog(r *audit.Record) *slssdk.Log {
	n := 0
	r.Fields(func(string, string) { n++ })
	values := make([]string, 0, n)
	contents := make([]slssdk.LogContent, 0, n)
	ptrs := make([]*slssdk.LogContent, n)
	r.Fields(func(k, v string) {
		values = append(values, v)
		contents = append(contents, slssdk.LogContent{Key: contentKeys[k], Value: &values[len(values)-1]})
	})
	for i := range contents {
		ptrs[i] = &contents[i]
	}
	sec := uint32(r.Time.Unix())
	ns := uint32(r.Time.Nanosecond())
	return &slssdk.Log{Time: &sec, TimeNs: &ns, Contents: ptrs}
}

// Flush implements Logger.
func (s *Sink) Flush(ctx context.Context) error { return s.c.Wait(ctx) }

// Stats implements Logger.
func (s *Sink) Stats() audit.Stats { return s.c.Stats() }

// Close flushes within ctx, then stops the producer, giving it what is left
// of ctx's deadline (5s without one). Records still unsent are lost and stay
// counted as pending. Close is for process shutdown (FC's PreStop hook), not
// for the end of each invocation.
func (s *Sink) Close(ctx context.Context) error {
	ferr := s.Flush(ctx)
	var cerr error
	s.closeOnce.Do(func() {
		timeout := 5 * time.Second
		if d, ok := ctx.Deadline(); ok {
			timeout = max(time.Until(d), time.Millisecond)
		}
		if err := s.p.Close(timeout.Milliseconds()); err != nil {
			cerr = fmt.Errorf("sls: close producer: %w", err)
		}
	})
	if ferr != nil {
		return ferr
	}
	return cerr
}

// callback receives the producer's per-record outcome.
type callback struct{ s *Sink }

func (c callback) Success(*producer.Result) { c.s.c.Settle(1, audit.Written) }

func (c callback) Fail(r *producer.Result) {
	c.s.c.Settle(1, audit.Failed)
	c.s.diag.Printf("fail", "sls %s/%s: records failed after %d attempts: %s %s (request %s)",
		c.s.cfg.Project, c.s.cfg.Logstore, len(r.GetReservedAttempts()), r.GetErrorCode(), r.GetErrorMessage(), r.GetRequestId())
}

// credentialsProvider adapts the config to slssdk.CredentialsProvider.
type credentialsProvider struct{ cfg Config }

func (p credentialsProvider) GetCredentials() (slssdk.Credentials, error) {
	c := p.cfg.Credentials
	if p.cfg.CredentialsFunc != nil {
		var err error
		if c, err = p.cfg.CredentialsFunc(); err != nil {
			return slssdk.Credentials{}, fmt.Errorf("sls: credentials: %w", err)
		}
		p.cfg.Guard.Add(c.AccessKeySecret, c.SecurityToken)
	}
	return slssdk.Credentials{AccessKeyID: c.AccessKeyID, AccessKeySecret: c.AccessKeySecret, SecurityToken: c.SecurityToken}, nil
}

// quietLogger swallows the producer's own logging: its failures reach us
// through callbacks, and its default logger would write to stdout, which
// Function Compute ships as the function's log.
type quietLogger struct{}

func (quietLogger) Log(...any) error { return nil }

// dialingClient sends every request to addr whatever the URL's host.
func dialingClient(addr string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
	// Idle connections do not survive an FC freeze; do not keep them long.
	t.IdleConnTimeout = 30 * time.Second
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

var (
	_ audit.Logger               = (*Sink)(nil)
	_ slssdk.CredentialsProvider = credentialsProvider{}
	_ producer.CallBack          = callback{}
)
