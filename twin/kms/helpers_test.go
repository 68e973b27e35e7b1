package kms_test

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	kmsv3 "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	kmsv1 "github.com/aliyun/alibaba-cloud-sdk-go/services/kms"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/acs"
	"github.com/kmsmig/kmsmig/twin/kms"
)

// Demo estate facts the tests rely on.
const (
	acctA = "1111000011110001" // owns the instances of cn-hangzhou and cn-shanghai
	acctB = "2222000022220002" // kst-hzdemo01 and kst-hzold001 are shared with it
	acctC = "3333000033330003" // nothing of A's is shared with it

	hz = "cn-hangzhou"
	sh = "cn-shanghai"
	bj = "cn-beijing"

	keyPlain     = "a1000001-0000-4000-8000-000000000001"
	keyRotating  = "a1000001-0000-4000-8000-000000000002"
	keyExternal  = "a1000001-0000-4000-8000-000000000003"
	keyService   = "a1000001-0000-4000-8000-000000000004"
	keyPendDel   = "a1000001-0000-4000-8000-000000000005"
	keyDisabled  = "a1000001-0000-4000-8000-000000000006"
	keyMigrated  = "a1000001-0000-4000-8000-000000000007"
	keySecretCMK = "a1000001-0000-4000-8000-000000000008"
	keySigner    = "a1000001-0000-4000-8000-000000000009"
	keyB         = "a2000001-0000-4000-8000-000000000001"

	instMain  = "kst-hzdemo01"
	instOld   = "kst-hzold001"
	instSmall = "kst-hzsmall1"
	instExp   = "kst-shexp001"
)

var epoch = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// env is a twin of an inventory served over one httptest server per
// region, with a manual clock.
type env struct {
	twin  *kms.Twin
	clock *kms.ManualClock
	hosts map[string]string
}

func newEnv(t testing.TB, inv *kms.Inventory, opts kms.Options) *env {
	t.Helper()
	clock := kms.NewManualClock(epoch)
	if opts.Clock == nil {
		opts.Clock = clock
	}
	tw, err := kms.New(inv, opts)
	require.NoError(t, err)
	e := &env{twin: tw, clock: clock, hosts: map[string]string{}}
	for _, r := range append(tw.Regions(), "cn-shenzhen") {
		srv := httptest.NewServer(tw.Handler(r))
		t.Cleanup(srv.Close)
		e.hosts[r] = strings.TrimPrefix(srv.URL, "http://")
	}
	return e
}

// demo is the demo estate without throttling.
func demo(t testing.TB) *env {
	t.Helper()
	e := newEnv(t, kms.DemoInventory(), kms.Options{})
	e.twin.DisableThrottling()
	return e
}

// v3 is the official kms-20160120/v3 client of an account for a region.
func (e *env) v3(t testing.TB, account, region string) *kmsv3.Client {
	t.Helper()
	cred, ok := e.twin.Keyring().Account(account)
	require.True(t, ok, "account %s", account)
	c, err := kmsv3.NewClient(&openapi.Config{
		AccessKeyId:     tea.String(cred.AccessKeyID),
		AccessKeySecret: tea.String(cred.AccessKeySecret),
		Endpoint:        tea.String(e.hosts[region]),
		Protocol:        tea.String("http"),
		RegionId:        tea.String(region),
		// The dara transport otherwise keeps Go's default of 2 idle
		// connections per host, and parallel callers churn connections.
		MaxIdleConns: tea.Int(32),
	})
	require.NoError(t, err)
	return c
}

// v1 is the legacy alibaba-cloud-sdk-go KMS client of an account; requests
// must go through v1req to reach the region's server.
func (e *env) v1(t testing.TB, account, region string) *kmsv1.Client {
	t.Helper()
	cred, ok := e.twin.Keyring().Account(account)
	require.True(t, ok)
	c, err := kmsv1.NewClientWithAccessKey(region, cred.AccessKeyID, cred.AccessKeySecret)
	require.NoError(t, err)
	return c
}

// call sends any action through the v3 client's generic signed CallApi, as
// the product sends the migration tool's actions.
func call(t testing.TB, c *kmsv3.Client, action string, query map[string]string) (map[string]any, error) {
	t.Helper()
	q := map[string]*string{}
	for k, v := range query {
		q[k] = tea.String(v)
	}
	params := &openapiutil.Params{
		Action: tea.String(action), Version: tea.String("2016-01-20"), Protocol: tea.String("HTTPS"),
		Pathname: tea.String("/"), Method: tea.String("POST"), AuthType: tea.String("AK"),
		Style: tea.String("RPC"), ReqBodyType: tea.String("formData"), BodyType: tea.String("json"),
	}
	res, err := c.CallApi(params, &openapiutil.OpenApiRequest{Query: q}, &dara.RuntimeOptions{})
	if err != nil {
		return nil, err
	}
	body, _ := res["body"].(map[string]any)
	return body, nil
}

// callInto is call decoding the body into v.
func callInto(t testing.TB, c *kmsv3.Client, action string, query map[string]string, v any) error {
	t.Helper()
	body, err := call(t, c, action, query)
	if err != nil {
		return err
	}
	b, err := json.Marshal(body)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, v))
	return nil
}

// v3Code returns the HTTP status and error code of a v3 client error.
func v3Code(t testing.TB, err error) (int, string) {
	t.Helper()
	require.Error(t, err)
	var se *tea.SDKError
	require.True(t, errors.As(err, &se), "not an SDK error: %v", err)
	return tea.IntValue(se.StatusCode), tea.StringValue(se.Code)
}

// v1Code returns the HTTP status and error code of a legacy client error.
func v1Code(t testing.TB, err error) (int, string) {
	t.Helper()
	require.Error(t, err)
	var se *sdkerrors.ServerError
	require.True(t, errors.As(err, &se), "not a server error: %v", err)
	return se.HttpStatus(), se.ErrorCode()
}

func requireCode(t testing.TB, err error, status int, code string) {
	t.Helper()
	gotStatus, gotCode := v3Code(t, err)
	require.Equal(t, code, gotCode, "error code (err %v)", err)
	require.Equal(t, status, gotStatus, "HTTP status")
}

func acsFaults(rate float64) acs.Faults { return acs.Faults{ErrorRate: rate, Seed: 1} }
