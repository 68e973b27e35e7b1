package oss_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/acs"
	osstwin "github.com/kmsmig/kmsmig/twin/oss"
)

const (
	region  = "cn-hangzhou"
	account = "1234567890123456"
	other   = "6543210987654321"
	bucket  = "kmsmig-state"
)

// fixture is a running twin with two accounts; bucket belongs to account.
type fixture struct {
	twin  *osstwin.Server
	srv   *httptest.Server
	keys  *acs.Keyring
	owner acs.Credential
	other acs.Credential
	clock *clock

	mu    sync.Mutex
	hosts []string // Host of every request, in order
}

type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) set(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = d
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{keys: acs.NewKeyring(), clock: &clock{}}
	var err error
	f.owner, err = f.keys.AddAccount(account, "", "")
	require.NoError(t, err)
	f.other, err = f.keys.AddAccount(other, "", "")
	require.NoError(t, err)
	f.twin, err = osstwin.New(osstwin.Config{
		Keyring: f.keys,
		Buckets: []osstwin.Bucket{
			{Name: bucket, Account: account, Region: region},
			{Name: "other-bucket", Account: other, Region: region},
		},
		Now: f.clock.now,
	})
	require.NoError(t, err)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.hosts = append(f.hosts, r.Host)
		f.mu.Unlock()
		f.twin.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) lastHost() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.hosts) == 0 {
		return ""
	}
	return f.hosts[len(f.hosts)-1]
}

// client returns an SDK client for the twin signed with cred (its token
// included), path-style on the twin's IP endpoint, retries off so that
// refusals surface as they are.
func (f *fixture) client(cred acs.Credential, opts ...func(*oss.Config)) *oss.Client {
	cfg := oss.LoadDefaultConfig().
		WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cred.AccessKeyID, cred.AccessKeySecret, cred.SecurityToken)).
		WithRegion(region).
		WithEndpoint(f.srv.URL).
		WithUsePathStyle(true).
		WithRetryMaxAttempts(1)
	for _, o := range opts {
		o(cfg)
	}
	return oss.NewClient(cfg)
}

// virtualHosted makes the client address buckets as
// <bucket>.oss-cn-hangzhou.aliyuncs.com while every connection goes to the
// twin.
func (f *fixture) virtualHosted(cfg *oss.Config) {
	addr := f.srv.Listener.Addr().String()
	dial := (&net.Dialer{}).DialContext
	cfg.WithEndpoint("http://oss-" + region + ".aliyuncs.com").
		WithUsePathStyle(false).
		WithHttpClient(&http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dial(ctx, network, addr)
			},
		}})
}

// serviceError returns err's *oss.ServiceError, failing the test without one.
func serviceError(t *testing.T, err error) *oss.ServiceError {
	t.Helper()
	var se *oss.ServiceError
	require.ErrorAs(t, err, &se)
	return se
}

// wantCode checks err is an OSS error with the given status and code and
// the wire details every OSS error has.
func wantCode(t *testing.T, err error, status int, code string) *oss.ServiceError {
	t.Helper()
	se := serviceError(t, err)
	require.Equal(t, status, se.StatusCode, "status of %s (%s)", se.Code, se.Message)
	require.Equal(t, code, se.Code, "code (%s)", se.Message)
	assert.Len(t, se.RequestID, 24, "RequestId is not 24 upper-case hex digits")
	assert.Equal(t, strings.ToUpper(se.RequestID), se.RequestID, "RequestId is not 24 upper-case hex digits")
	assert.Equal(t, se.RequestID, se.Headers.Get("x-oss-request-id"), "x-oss-request-id differs from the body's RequestId")
	return se
}
