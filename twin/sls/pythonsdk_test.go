package sls_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/acs"
	"github.com/kmsmig/kmsmig/twin/sls"
)

// pythonV1 builds a request as aliyun-log-python-sdk (0.9.x) sends it:
// aliyun/log/logclient.py _send sets Content-Length, x-log-bodyrawsize ("0"
// without a body), x-log-apiversion and Host; aliyun/log/auth.py
// AuthV1.sign_request adds x-log-signaturemethod, Date and, with a body,
// the upper-case hex Content-MD5, signs VERB, Content-MD5, Content-Type,
// Date, the x-log-*/x-acs-* headers ("k:v\n" each, sorted) and the resource
// with its parameters sorted, and then — after signing — sets x-log-date to
// Date's value. edit, when not nil, changes the request after all that.
func pythonV1(t *testing.T, f *fixture, cred acs.Credential, method, resource string, params map[string]string, headers map[string]string, body []byte, date time.Time, edit func(*http.Request)) *http.Response {
	t.Helper()
	if len(body) > 0 {
		headers["Content-Length"] = fmt.Sprint(len(body))
	} else {
		headers["Content-Length"] = "0"
		headers["x-log-bodyrawsize"] = "0"
	}
	headers["x-log-apiversion"] = "0.6.0"
	headers["Host"] = project + "." + f.addr()
	headers["x-log-signaturemethod"] = "hmac-sha1"
	headers["Date"] = date.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")
	contentMD5 := ""
	if len(body) > 0 {
		contentMD5 = strings.ToUpper(fmt.Sprintf("%x", md5.Sum(body)))
		headers["Content-MD5"] = contentMD5
	}
	content := method + "\n" + contentMD5 + "\n" + headers["Content-Type"] + "\n" + headers["Date"] + "\n"
	var names []string
	for k := range headers {
		if l := strings.ToLower(k); strings.HasPrefix(l, "x-acs-") || strings.HasPrefix(l, "x-log-") && !strings.HasPrefix(l, "x-log-meta-") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		content += k + ":" + headers[k] + "\n"
	}
	content += resource
	var query []string
	for k, v := range params {
		query = append(query, k+"="+v)
	}
	sort.Strings(query)
	if len(query) > 0 {
		content += "?" + strings.Join(query, "&")
	}
	mac := hmac.New(sha1.New, []byte(cred.AccessKeySecret))
	mac.Write([]byte(content))
	headers["Authorization"] = "LOG " + cred.AccessKeyID + ":" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	headers["x-log-date"] = headers["Date"]

	target := "http://" + project + "." + f.addr() + resource
	if len(query) > 0 {
		target += "?" + strings.Join(query, "&")
	}
	req, err := http.NewRequestWithContext(t.Context(), method, target, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range headers {
		if k != "Host" && k != "Content-Length" {
			req.Header.Set(k, v)
		}
	}
	if edit != nil {
		edit(req)
	}
	resp, err := sls.HTTPClient(f.addr()).Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// errorCodeOf reads the errorCode of an SLS error response.
func errorCodeOf(t *testing.T, resp *http.Response) string {
	t.Helper()
	var e struct{ ErrorCode string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	return e.ErrorCode
}

// x-log-date replaces Date's value in V1 verification and is not itself a
// signed header (Common request headers); the Python SDK adds it after
// signing. Date must still be sent.
func TestV1XLogDateFromPythonSDK(t *testing.T) {
	f := newFixture(t)
	_, err := f.client(f.a).CreateProject(project, "")
	require.NoError(t, err)
	other := func() string { return time.Now().Add(time.Minute).UTC().Format(http.TimeFormat) }

	t.Run("create logstore", func(t *testing.T) {
		body := []byte(`{"logstoreName": "from-python", "ttl": 1, "shardCount": 1}`)
		resp := pythonV1(t, f, f.a, http.MethodPost, "/logstores", nil,
			map[string]string{"x-log-bodyrawsize": fmt.Sprint(len(body)), "Content-Type": "application/json"}, body, time.Now(), nil)
		b, _ := io.ReadAll(resp.Body)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	})
	for _, tc := range []struct {
		name     string
		date     time.Time
		edit     func(*http.Request)
		wantCode string // empty: accepted
	}{
		{name: "as sent"},
		// Date's value is replaced by x-log-date's, so it is outside the
		// signature; its presence is not.
		{name: "Date changed", edit: func(r *http.Request) { r.Header.Set("Date", other()) }},
		{name: "Date removed", edit: func(r *http.Request) { r.Header.Del("Date") }, wantCode: sls.CodeMissingDate},
		{name: "x-log-date changed", edit: func(r *http.Request) { r.Header.Set("x-log-date", other()) }, wantCode: sls.CodeSignatureNotMatch},
		{name: "x-log-date removed", edit: func(r *http.Request) { r.Header.Del("x-log-date") }},
		{name: "x-log-date removed, Date changed", edit: func(r *http.Request) {
			r.Header.Del("x-log-date")
			r.Header.Set("Date", other())
		}, wantCode: sls.CodeSignatureNotMatch},
		{name: "signed header changed", edit: func(r *http.Request) { r.Header.Set("x-log-apiversion", "0.5.0") }, wantCode: sls.CodeSignatureNotMatch},
		{name: "parameter changed", edit: func(r *http.Request) { r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "size=100", "size=1", 1) }, wantCode: sls.CodeSignatureNotMatch},
		{name: "skewed", date: time.Now().Add(-20 * time.Minute), wantCode: sls.CodeRequestTimeTooSkewed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			date := tc.date
			if date.IsZero() {
				date = time.Now()
			}
			resp := pythonV1(t, f, f.a, http.MethodGet, "/logstores",
				map[string]string{"logstoreName": "python", "offset": "0", "size": "100"}, map[string]string{}, nil, date, tc.edit)
			if tc.wantCode != "" {
				assert.Equal(t, tc.wantCode, errorCodeOf(t, resp))
				return
			}
			var got struct{ Logstores []string }
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
			assert.Equal(t, []string{"from-python"}, got.Logstores)
		})
	}
}

// A V1 signer that puts x-log-date among the signed headers (the Go SDK's
// SignerV1 would, were the caller to set it) signs what the service leaves
// out, and is refused.
func TestV1XLogDateIsNotASignedHeader(t *testing.T) {
	f := newFixture(t)
	_, err := f.client(f.a).CreateProject(project, "")
	require.NoError(t, err)
	now := time.Now().UTC().Format(http.TimeFormat)
	headers := map[string]string{"Date": now, "x-log-date": now, "x-log-apiversion": "0.6.0", "x-log-bodyrawsize": "0"}
	require.NoError(t, slssdk.NewSignerV1(f.a.AccessKeyID, f.a.AccessKeySecret).Sign(http.MethodGet, "/logstores", headers, nil))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+project+"."+f.addr()+"/logstores", nil)
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := sls.HTTPClient(f.addr()).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, sls.CodeSignatureNotMatch, errorCodeOf(t, resp))
}
