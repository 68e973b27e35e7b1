package acs_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/acs"
)

// roaTwin is a minimal FC-like ROA endpoint that only verifies.
type roaTwin struct {
	v    *acs.Verifier
	mu   sync.Mutex
	last *http.Request
	body []byte
}

func (s *roaTwin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.last, s.body = r.Clone(r.Context()), body
	s.mu.Unlock()
	caller, err := s.v.VerifyROA(r, body)
	if err != nil {
		acs.WriteProductError(w, "FC", acs.NewRequestID(), "fc.example", acs.AsError(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"account": caller.AccountID, "echo": string(body), "path": r.URL.Path})
}

func TestV3ROAInvokeFunction(t *testing.T) {
	f := newFixture(t)
	twin := &roaTwin{v: f.verifier}
	srv := httptest.NewServer(twin)
	t.Cleanup(srv.Close)

	invoke := func(secret string, body string) (map[string]any, error) {
		c, err := openapi.NewClient(&openapi.Config{
			AccessKeyId: tea.String(f.root.AccessKeyID), AccessKeySecret: tea.String(secret),
			Endpoint: tea.String(strings.TrimPrefix(srv.URL, "http://")), Protocol: tea.String("http"),
			RegionId: tea.String(testRegion),
		})
		require.NoError(t, err)
		params := &openapiutil.Params{
			Action: tea.String("InvokeFunction"), Version: tea.String("2023-03-30"), Protocol: tea.String("HTTPS"),
			Pathname: tea.String("/2023-03-30/functions/kms-migrate/invocations"),
			Method:   tea.String("POST"), AuthType: tea.String("AK"), Style: tea.String("ROA"),
			ReqBodyType: tea.String("binary"), BodyType: tea.String("json"),
		}
		req := &openapiutil.OpenApiRequest{
			Headers: map[string]*string{"x-fc-invocation-type": tea.String("Async")},
			Query:   map[string]*string{"qualifier": tea.String("LATEST")},
			Stream:  strings.NewReader(body),
		}
		return c.CallApi(params, req, &dara.RuntimeOptions{})
	}

	out, err := invoke(f.root.AccessKeySecret, `{"lane":"cn-hangzhou"}`)
	require.NoError(t, err)
	got := out["body"].(map[string]any)
	assert.Equal(t, testAccount, got["account"])
	assert.Equal(t, `{"lane":"cn-hangzhou"}`, got["echo"])
	assert.Equal(t, "/2023-03-30/functions/kms-migrate/invocations", got["path"])
	twin.mu.Lock()
	last, lastBody := twin.last, twin.body
	twin.mu.Unlock()

	_, err = invoke("wrong", `{}`)
	_, code := v3Code(t, err)
	assert.Equal(t, "SignatureDoesNotMatch", code)

	// Body, path and query are signed. A verifier that has not seen the
	// nonce yet accepts the request as sent and refuses any change to them.
	for name, mutate := range map[string]func(*http.Request) []byte{
		"none": func(r *http.Request) []byte { return lastBody },
		"body": func(r *http.Request) []byte {
			return bytes.Replace(lastBody, []byte("hangzhou"), []byte("shanghai"), 1)
		},
		"path": func(r *http.Request) []byte {
			r.URL.Path = "/2023-03-30/functions/other/invocations"
			return lastBody
		},
		"query": func(r *http.Request) []byte { r.URL.RawQuery = "qualifier=prod"; return lastBody },
	} {
		t.Run(name, func(t *testing.T) {
			r := last.Clone(t.Context())
			b := mutate(r)
			r.RequestURI = r.URL.RequestURI()
			_, err := acs.NewVerifier(f.keys, acs.VerifierOptions{}).VerifyROA(r, b)
			if name == "none" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, acs.ErrSignatureDoesNotMatch)
		})
	}
}
