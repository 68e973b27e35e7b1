package fc_test

import (
	"encoding/base64"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/acs"
	"github.com/kmsmig/kmsmig/twin/fc"
)

// fcClient is a darabonba-openapi client pointed at the twin, as the
// generated fc-20230330 client builds it.
func fcClient(t *testing.T, addr string, cred acs.Credential) *openapi.Client {
	t.Helper()
	cfg := &openapi.Config{
		AccessKeyId:     tea.String(cred.AccessKeyID),
		AccessKeySecret: tea.String(cred.AccessKeySecret),
		Endpoint:        tea.String(addr),
		Protocol:        tea.String("HTTP"),
		RegionId:        tea.String(testRegion),
	}
	if cred.SecurityToken != "" {
		cfg.SecurityToken = tea.String(cred.SecurityToken)
	}
	c, err := openapi.NewClient(cfg)
	require.NoError(t, err)
	return c
}

// invokeFunction sends InvokeFunction exactly as fc-20230330's
// InvokeFunctionWithOptions does: ROA style, V3 signature, the event as a
// stream body, x-fc-* headers.
func invokeFunction(c *openapi.Client, name string, body []byte, headers map[string]string) (status int, respHeaders map[string]string, respBody []byte, err error) {
	h := map[string]*string{}
	for k, v := range headers {
		h[k] = tea.String(v)
	}
	params := &openapiutil.Params{
		Action: tea.String("InvokeFunction"), Version: tea.String("2023-03-30"), Protocol: tea.String("HTTPS"),
		Pathname: tea.String("/2023-03-30/functions/" + url.PathEscape(name) + "/invocations"),
		Method:   tea.String("POST"), AuthType: tea.String("AK"), Style: tea.String("ROA"),
		ReqBodyType: tea.String("json"), BodyType: tea.String("binary"),
	}
	req := &openapiutil.OpenApiRequest{Headers: h, Query: map[string]*string{}, Stream: dara.ToReader(string(body))}
	res, err := c.CallApi(params, req, &dara.RuntimeOptions{Autoretry: tea.Bool(false)})
	if err != nil {
		return 0, nil, nil, err
	}
	status = dara.ForceInt(res["statusCode"])
	respHeaders = map[string]string{}
	for k, v := range dara.ToMap(res["headers"]) {
		respHeaders[strings.ToLower(k)] = dara.ToString(v)
	}
	if r, ok := res["body"].(io.Reader); ok {
		respBody, _ = io.ReadAll(r)
	}
	return status, respHeaders, respBody, nil
}

func sdkCode(t *testing.T, err error) (int, string) {
	t.Helper()
	require.Error(t, err)
	var se *tea.SDKError
	require.True(t, errors.As(err, &se), "not an SDK error: %v", err)
	return tea.IntValue(se.StatusCode), tea.StringValue(se.Code)
}

func TestInvokeFunctionAPI(t *testing.T) {
	keys := acs.NewKeyring()
	s, _ := newServer(t, fc.Config{Keyring: keys, Verifier: acs.NewVerifier(keys, acs.VerifierOptions{})})
	root, _ := keys.Account(testAccount)
	require.NoError(t, s.Deploy(binaryFunction("apifn")))
	require.NoError(t, s.HandleFunc("quiet", nop))
	addr, err := s.Listen("127.0.0.1:0")
	require.NoError(t, err)
	c := fcClient(t, addr, root)

	t.Run("sync with log tail", func(t *testing.T) {
		status, h, body, err := invokeFunction(c, "apifn", []byte(`{"op":"echo","message":"hi"}`),
			map[string]string{fc.HeaderInvocationType: "Sync", fc.HeaderLogType: "Tail"})
		require.NoError(t, err)
		assert.Equal(t, 200, status)
		assert.Contains(t, string(body), `"message":"hi"`)
		assert.NotEmpty(t, h[fc.HeaderRequestID])
		assert.Empty(t, h[fc.HeaderErrorType])
		logs, err := base64.StdEncoding.DecodeString(h[fc.HeaderLogResult])
		require.NoError(t, err)
		assert.Contains(t, string(logs), "handling echo hi")
		inv, ok := s.Invocation(h[fc.HeaderRequestID])
		require.True(t, ok)
		assert.Equal(t, fc.SourceAPI, inv.Source)
		assert.Equal(t, fc.TypeSync, inv.Type)
		assert.Equal(t, fc.StatusSucceeded, inv.Status)
	})

	t.Run("function error", func(t *testing.T) {
		status, h, body, err := invokeFunction(c, "apifn", []byte(`{"op":"panic","message":"boom"}`), nil)
		require.NoError(t, err)
		assert.Equal(t, 200, status)
		assert.Equal(t, fc.ErrorTypeUnhandled, h[fc.HeaderErrorType])
		assert.Contains(t, string(body), `"errorMessage":"boom"`)
	})

	t.Run("async with task id, once", func(t *testing.T) {
		hdr := map[string]string{fc.HeaderInvocationType: "Async", fc.HeaderAsyncTaskID: "migrate-lane-1"}
		status, h, _, err := invokeFunction(c, "quiet", []byte(`{}`), hdr)
		require.NoError(t, err)
		assert.Equal(t, 202, status)
		id := h[fc.HeaderRequestID]
		require.NotEmpty(t, id)
		inv, err := s.Wait(waitCtx(t), id)
		require.NoError(t, err)
		assert.Equal(t, "migrate-lane-1", inv.TaskID)
		assert.Equal(t, fc.StatusSucceeded, inv.Status)
		assert.Equal(t, 1, inv.Attempts)

		_, _, _, err = invokeFunction(c, "quiet", []byte(`{}`), hdr)
		code, name := sdkCode(t, err)
		assert.Equal(t, 409, code)
		assert.Equal(t, "AsyncTaskAlreadyExist", name)
	})

	t.Run("refusals", func(t *testing.T) {
		tests := []struct {
			name     string
			client   *openapi.Client
			fn       string
			headers  map[string]string
			wantCode int
			wantName string
		}{
			{"unknown function", c, "nosuch", nil, 404, "FunctionNotFound"},
			{"bad invocation type", c, "quiet", map[string]string{fc.HeaderInvocationType: "Later"}, 400, "InvalidArgument"},
			{"bad task id", c, "quiet", map[string]string{fc.HeaderInvocationType: "Async", fc.HeaderAsyncTaskID: "9 lives"}, 400, "InvalidArgument"},
			{"wrong secret", fcClient(t, addr, acs.Credential{AccessKeyID: root.AccessKeyID, AccessKeySecret: "wrong"}), "quiet", nil, 400, "SignatureDoesNotMatch"},
			{"unknown key", fcClient(t, addr, acs.Credential{AccessKeyID: "LTAInope", AccessKeySecret: "x"}), "quiet", nil, 404, "InvalidAccessKeyId.NotFound"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, _, _, err := invokeFunction(tt.client, tt.fn, []byte(`{}`), tt.headers)
				code, name := sdkCode(t, err)
				assert.Equal(t, tt.wantCode, code)
				assert.Equal(t, tt.wantName, name)
			})
		}
	})

	t.Run("another account's function does not exist", func(t *testing.T) {
		other, err := keys.AddAccount("6543210987654321", "", "")
		require.NoError(t, err)
		_, _, _, err = invokeFunction(fcClient(t, addr, other), "quiet", []byte(`{}`), nil)
		code, name := sdkCode(t, err)
		assert.Equal(t, 404, code)
		assert.Equal(t, "FunctionNotFound", name)
	})

	t.Run("function's own STS credentials can invoke", func(t *testing.T) {
		_, r := invoke(t, s, "apifn", map[string]any{"op": "context"})
		cred := acs.Credential{
			AccessKeyID:     r.Context.Credentials.AccessKeyId,
			AccessKeySecret: r.Context.Credentials.AccessKeySecret,
			SecurityToken:   r.Context.Credentials.SecurityToken,
		}
		status, _, _, err := invokeFunction(fcClient(t, addr, cred), "quiet", []byte(`{}`), nil)
		require.NoError(t, err)
		assert.Equal(t, 200, status)
	})
}
