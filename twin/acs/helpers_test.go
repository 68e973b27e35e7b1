package acs_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	kms "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	kmsv1 "github.com/aliyun/alibaba-cloud-sdk-go/services/kms"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/acs"
)

const (
	testAccount = "1234567890123456"
	testRegion  = "cn-hangzhou"
	kmsVersion  = "2016-01-20"
)

// offsetClock is time.Now shifted by an adjustable offset, so a test can
// make the twin's clock disagree with the SDK's.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time      { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) Reset()              { c.off.Store(0) }
func (c *offsetClock) Set(d time.Duration) { c.off.Store(int64(d)) }

// manualClock only moves when told to.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func newManualClock() *manualClock {
	return &manualClock{t: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a KMS-like RPC frame for one region behind an httptest server,
// with a fake DescribeRegions (canned body) and DescribeKey (echoes the
// caller) registered.
type fixture struct {
	keys     *acs.Keyring
	root     acs.Credential
	clock    *offsetClock
	limClock *manualClock
	verifier *acs.Verifier
	limiter  *acs.Limiter
	server   *acs.RPCServer
	http     *httptest.Server
	host     string

	mu   sync.Mutex
	last *recorded // the last request the server received
}

type recorded struct {
	method, url string
	header      http.Header
	body        []byte
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{keys: acs.NewKeyring(), clock: &offsetClock{}, limClock: newManualClock()}
	var err error
	f.root, err = f.keys.AddAccount(testAccount, "", "")
	require.NoError(t, err)
	f.verifier = acs.NewVerifier(f.keys, acs.VerifierOptions{Now: f.clock.Now})
	f.limiter = acs.NewLimiter(f.limClock.Now)
	f.server = acs.NewRPCServer(acs.RPCConfig{Product: "Kms", Version: kmsVersion, Region: testRegion,
		Verifier: f.verifier, Limiter: f.limiter})
	f.server.Handle("DescribeRegions", "KeyQuery", func(ctx context.Context, call *acs.Call) (any, error) {
		return map[string]any{"Regions": map[string]any{"Region": []map[string]string{{"RegionId": call.Region}}}}, nil
	})
	f.server.Handle("DescribeKey", "KeyQuery", func(ctx context.Context, call *acs.Call) (any, error) {
		id, err := call.Required("KeyId")
		if err != nil {
			return nil, err
		}
		return map[string]any{"KeyMetadata": map[string]string{
			"KeyId": id, "Creator": call.Caller.AccountID, "Description": call.Caller.Role}}, nil
	})
	f.server.Handle("GetSecretValue", "SecretValue", func(ctx context.Context, call *acs.Call) (any, error) {
		return nil, errors.New("must not be called")
	})
	f.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.record(r)
		f.server.ServeHTTP(w, r)
	}))
	t.Cleanup(f.http.Close)
	f.host = strings.TrimPrefix(f.http.URL, "http://")
	return f
}

// record keeps a copy of r so that a test can replay it.
func (f *fixture) record(r *http.Request) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = &recorded{method: r.Method, url: "http://" + r.Host + r.RequestURI, header: r.Header.Clone(), body: body}
}

// replay sends the last recorded request again and returns the response
// status and error code.
func (f *fixture) replay(t *testing.T) (int, string) {
	t.Helper()
	f.mu.Lock()
	last := f.last
	f.mu.Unlock()
	require.NotNil(t, last)
	req, err := http.NewRequestWithContext(t.Context(), last.method, last.url, strings.NewReader(string(last.body)))
	require.NoError(t, err)
	req.Header = last.header.Clone()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body acs.ErrorBody
	_ = jsonDecode(resp.Body, &body)
	return resp.StatusCode, body.Code
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

// v3Client is the official kms-20160120/v3 client (V3 signature) pointed at
// the fixture.
func (f *fixture) v3Client(t *testing.T, ak, secret, token string) *kms.Client {
	t.Helper()
	cfg := &openapi.Config{
		AccessKeyId:     tea.String(ak),
		AccessKeySecret: tea.String(secret),
		Endpoint:        tea.String(f.host),
		Protocol:        tea.String("http"),
		RegionId:        tea.String(testRegion),
	}
	if token != "" {
		cfg.SecurityToken = tea.String(token)
	}
	c, err := kms.NewClient(cfg)
	require.NoError(t, err)
	return c
}

// v1Client is the legacy alibaba-cloud-sdk-go KMS client (V1 signature).
func (f *fixture) v1Client(t *testing.T, ak, secret, token string) *kmsv1.Client {
	t.Helper()
	var c *kmsv1.Client
	var err error
	if token != "" {
		c, err = kmsv1.NewClientWithStsToken(testRegion, ak, secret, token)
	} else {
		c, err = kmsv1.NewClientWithAccessKey(testRegion, ak, secret)
	}
	require.NoError(t, err)
	return c
}

// v1DescribeRegions calls DescribeRegions through the legacy client.
func (f *fixture) v1DescribeRegions(c *kmsv1.Client) (*kmsv1.DescribeRegionsResponse, error) {
	req := kmsv1.CreateDescribeRegionsRequest()
	req.Domain = f.host
	req.Scheme = "http"
	return c.DescribeRegions(req)
}

// v3Code returns the status and error code of an error of the v3 client.
func v3Code(t *testing.T, err error) (int, string) {
	t.Helper()
	require.Error(t, err)
	var se *tea.SDKError
	require.True(t, errors.As(err, &se), "not an SDK error: %v", err)
	return tea.IntValue(se.StatusCode), tea.StringValue(se.Code)
}

// v1Code returns the status and error code of an error of the legacy client.
func v1Code(t *testing.T, err error) (int, string) {
	t.Helper()
	require.Error(t, err)
	var se *sdkerrors.ServerError
	require.True(t, errors.As(err, &se), "not a server error: %v", err)
	return se.HttpStatus(), se.ErrorCode()
}

// callAPI sends any action through darabonba-openapi's generic CallApi, the
// V3 path every generated client takes.
func callAPI(t *testing.T, c *kms.Client, action, version string, query map[string]*string) (map[string]any, error) {
	t.Helper()
	return callAPIWithBody(t, c, action, version, query, nil)
}

// callAPIWithBody is callAPI with a form body (ReqBodyType formData).
func callAPIWithBody(t *testing.T, c *kms.Client, action, version string, query map[string]*string, body map[string]any) (map[string]any, error) {
	t.Helper()
	params := &openapiutil.Params{
		Action: tea.String(action), Version: tea.String(version), Protocol: tea.String("HTTPS"),
		Pathname: tea.String("/"), Method: tea.String("POST"), AuthType: tea.String("AK"),
		Style: tea.String("RPC"), ReqBodyType: tea.String("formData"), BodyType: tea.String("json"),
	}
	req := &openapiutil.OpenApiRequest{Query: query}
	if body != nil {
		req.Body = body
	}
	return c.CallApi(params, req, &dara.RuntimeOptions{})
}

// signV3 builds a request to host signed by the SDK's own V3 signer
// (openapiutil.GetAuthorization) without going through a client: the
// benchmark needs many of them cheaply.
func signV3(method, host, path, action string, query map[string]*string, nonce, ak, secret string) *http.Request {
	payload := hex.EncodeToString(openapiutil.Hash(nil, tea.String("ACS3-HMAC-SHA256")))
	dr := dara.NewRequest()
	dr.Method = tea.String(method)
	dr.Pathname = tea.String(path)
	dr.Query = query
	dr.Headers = map[string]*string{
		"host":                  tea.String(host),
		"x-acs-version":         tea.String(kmsVersion),
		"x-acs-action":          tea.String(action),
		"x-acs-date":            openapiutil.GetTimestamp(),
		"x-acs-signature-nonce": tea.String(nonce),
		"x-acs-content-sha256":  tea.String(payload),
		"accept":                tea.String("application/json"),
	}
	dr.Headers["Authorization"] = openapiutil.GetAuthorization(dr, tea.String("ACS3-HMAC-SHA256"), tea.String(payload), tea.String(ak), tea.String(secret))
	q := url.Values{}
	for k, v := range query {
		q.Set(k, *v)
	}
	r := httptest.NewRequest(method, "http://"+host+path+"?"+q.Encode(), nil)
	for k, v := range dr.Headers {
		if k == "host" {
			continue
		}
		r.Header.Set(k, *v)
	}
	return r
}
