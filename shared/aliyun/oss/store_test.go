package oss_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	osssdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/oss"
	"github.com/kmsmig/kmsmig/shared/aliyun/ram"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/runstate/storetest"
	"github.com/kmsmig/kmsmig/twin/acs"
	osstwin "github.com/kmsmig/kmsmig/twin/oss"
)

const (
	region  = "cn-hangzhou"
	account = "1234567890123456"
	bucket  = "kmsmig-state"
)

// twin starts an OSS twin with one account owning bucket.
func twin(t *testing.T) (*httptest.Server, *acs.Keyring) {
	t.Helper()
	hs, keys, _ := startTwin(t, twinOptions{})
	return hs, keys
}

// twinOptions shape a twin: the versioning of its bucket, and a wrapper
// around its handler (to delay, replay or interleave requests).
type twinOptions struct {
	versioning string
	wrap       func(http.Handler) http.Handler
}

// startTwin starts an OSS twin with one account owning bucket.
func startTwin(t *testing.T, o twinOptions) (*httptest.Server, *acs.Keyring, *osstwin.Server) {
	t.Helper()
	keys := acs.NewKeyring()
	_, err := keys.AddAccount(account, "", "")
	require.NoError(t, err)
	srv, err := osstwin.New(osstwin.Config{Keyring: keys, Buckets: []osstwin.Bucket{{Name: bucket, Account: account, Region: region, Versioning: o.versioning}}})
	require.NoError(t, err)
	var h http.Handler = srv
	if o.wrap != nil {
		h = o.wrap(srv)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs, keys, srv
}

// location is how Open reaches the twin's bucket under prefix.
func location(t *testing.T, hs *httptest.Server, c acs.Credential, prefix string) oss.Location {
	t.Helper()
	cred, err := ram.Static(c.AccessKeyID, c.AccessKeySecret, c.SecurityToken)
	require.NoError(t, err)
	return oss.Location{URL: "oss://" + bucket + "/" + prefix, Region: region, Endpoint: hs.URL, Insecure: true, Credential: cred}
}

func client(hs *httptest.Server, c acs.Credential, opts ...func(*osssdk.Config)) *osssdk.Client {
	cfg := osssdk.LoadDefaultConfig().
		WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.AccessKeySecret, c.SecurityToken)).
		WithRegion(region).
		WithEndpoint(hs.URL).
		WithUsePathStyle(true)
	for _, o := range opts {
		o(cfg)
	}
	return osssdk.NewClient(cfg)
}

func newStore(t *testing.T, c *osssdk.Client, prefix string) *oss.Store {
	t.Helper()
	s, err := oss.New(c, oss.Config{Bucket: bucket, Prefix: prefix})
	require.NoError(t, err)
	return s
}

// The contract on a store Open has checked.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) runstate.Store {
		hs, keys := twin(t)
		owner, _ := keys.Account(account)
		s, err := oss.Open(t.Context(), location(t, hs, owner, "kmsmig/runstate"))
		require.NoError(t, err, "Open")
		return s
	})
}

// The contract with pruning on at every opportunity.
func TestContractPruning(t *testing.T) {
	storetest.Run(t, func(t *testing.T) runstate.Store {
		hs, keys := twin(t)
		owner, _ := keys.Account(account)
		s, err := oss.New(client(hs, owner), oss.Config{Bucket: bucket, Prefix: "kmsmig", PruneAfter: -1})
		require.NoError(t, err)
		return s
	})
}

// The same contract as a Function Compute handler runs it: STS credentials
// of the function's role, V1 signatures, virtual-hosted addressing.
func TestContractSTSVirtualHostedV1(t *testing.T) {
	storetest.Run(t, func(t *testing.T) runstate.Store {
		hs, keys := twin(t)
		sts, err := keys.MintSTS(account, "acs:ram::"+account+":role/kmsmig-fc", time.Hour, time.Now())
		require.NoError(t, err)
		addr := hs.Listener.Addr().String()
		c := client(hs, sts, func(cfg *osssdk.Config) {
			cfg.WithSignatureVersion(osssdk.SignatureVersionV1).
				WithEndpoint("http://oss-" + region + ".aliyuncs.com").
				WithUsePathStyle(false).
				WithHttpClient(&http.Client{Transport: &http.Transport{
					DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
						return (&net.Dialer{}).DialContext(ctx, network, addr)
					},
				}})
		})
		return newStore(t, c, "")
	})
}

func TestPrefixIsolation(t *testing.T) {
	hs, keys := twin(t)
	owner, _ := keys.Account(account)
	c := client(hs, owner)
	a, b := newStore(t, c, "run-a/"), newStore(t, c, "run-b")
	ctx := t.Context()
	_, err := a.Create(ctx, "plan", []byte("a"))
	require.NoError(t, err)
	_, err = b.Get(ctx, "plan")
	require.ErrorIs(t, err, runstate.ErrNotFound, "store b sees store a's key")
	_, err = b.Create(ctx, "plan", []byte("b"))
	require.NoError(t, err, "store b cannot create a key store a has")
	got, err := a.List(ctx, "")
	require.NoError(t, err)
	require.Equal(t, []string{"plan"}, got, "a.List")
	res, err := c.GetObject(ctx, &osssdk.GetObjectRequest{Bucket: osssdk.Ptr(bucket), Key: osssdk.Ptr("run-b/plan/.v/999999999998")})
	require.NoError(t, err, "the first version is not at <prefix><key>/.v/<999999999999-1>")
	res.Body.Close()
}

// A wrong bucket or wrong credentials must not look like "no state yet".
func TestMisconfigurationIsNotNotFound(t *testing.T) {
	hs, keys := twin(t)
	owner, _ := keys.Account(account)
	wrongBucket, err := oss.New(client(hs, owner), oss.Config{Bucket: "no-such-bucket"})
	require.NoError(t, err)
	bad := owner
	bad.AccessKeySecret = "wrong"
	badKey := newStore(t, client(hs, bad, func(c *osssdk.Config) { c.WithRetryMaxAttempts(1) }), "")
	for name, s := range map[string]runstate.Store{"wrong bucket": wrongBucket, "wrong secret": badKey} {
		_, err := s.Get(t.Context(), "plan")
		var se *osssdk.ServiceError
		assert.ErrorAs(t, err, &se, "%s: Get: want the OSS error", name)
		assert.NotErrorIs(t, err, runstate.ErrNotFound, "%s: Get", name)
	}
}

func TestNewRefuses(t *testing.T) {
	hs, keys := twin(t)
	owner, _ := keys.Account(account)
	c := client(hs, owner)
	for _, cfg := range []oss.Config{{}, {Bucket: bucket, Prefix: "/abs"}, {Bucket: bucket, Prefix: "a/../b"}} {
		_, err := oss.New(c, cfg)
		assert.Error(t, err, "New(%+v)", cfg)
	}
}
