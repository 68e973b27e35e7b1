package oss_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/acs"
)

// aliOSSV1 is a PutObject built as ali-oss (npm, v6) builds it with its
// default V1 signing and an IP endpoint: lib/common/utils/createRequest.js
// sets x-oss-date (an HTTP date) and no Date header, Content-Type from the
// key's extension, a base64 Content-MD5 and, for an IP endpoint, the Host
// <bucket>.oss-<region>.aliyuncs.com with the key alone in the path;
// lib/common/signUtils.js (buildCanonicalString) signs
// VERB, Content-MD5, Content-Type, x-oss-date, the x-oss-* headers and
// /<bucket>/<key>. edit, when not nil, changes the request after signing.
func aliOSSV1(t *testing.T, f *fixture, cred acs.Credential, key, body, date string, edit func(*http.Request)) *http.Response {
	t.Helper()
	sum := md5.Sum([]byte(body))
	contentMD5 := base64.StdEncoding.EncodeToString(sum[:])
	stringToSign := "PUT\n" + contentMD5 + "\ntext/plain\n" + date + "\n" +
		"x-oss-date:" + date + "\n" +
		"/" + bucket + "/" + key
	mac := hmac.New(sha1.New, []byte(cred.AccessKeySecret))
	mac.Write([]byte(stringToSign))

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, f.srv.URL+"/"+key, bytes.NewReader([]byte(body)))
	require.NoError(t, err)
	req.Host = bucket + ".oss-" + region + ".aliyuncs.com"
	req.Header.Set("x-oss-date", date)
	req.Header.Set("User-Agent", "aliyun-sdk-nodejs/6.23.0 Node.js 20.20.2 on linux x64")
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Content-MD5", contentMD5)
	req.Header.Set("authorization", "OSS "+cred.AccessKeyID+":"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// errorCode reads the code of an OSS XML error body.
func errorCode(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var doc struct{ Code string }
	require.NoErrorf(t, xml.Unmarshal(b, &doc), "%d with a body that is not an OSS error: %q", resp.StatusCode, b)
	return doc.Code
}

// OSS takes the V1 date from x-oss-date when the request has no Date
// header (ali-oss's default), and x-oss-date is then the signed date.
func TestV1XOSSDateInPlaceOfDate(t *testing.T) {
	f := newFixture(t)
	httpDate := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(http.TimeFormat) }
	for _, tc := range []struct {
		name       string
		date       string
		edit       func(*http.Request)
		wantStatus int
		wantCode   string
	}{
		{name: "http date", date: httpDate(0), wantStatus: http.StatusOK},
		// The form OSS documents for x-oss-date (error 0002-00000503).
		{name: "iso 8601", date: time.Now().UTC().Format("20060102T150405Z"), wantStatus: http.StatusOK},
		// Date is then outside the signature, as in ali-oss's requests.
		{name: "unsigned date header", date: httpDate(0), edit: func(r *http.Request) { r.Header.Set("Date", httpDate(-time.Hour)) }, wantStatus: http.StatusOK},
		{name: "x-oss-date changed", date: httpDate(0), edit: func(r *http.Request) { r.Header.Set("x-oss-date", httpDate(time.Second)) },
			wantStatus: http.StatusForbidden, wantCode: "SignatureDoesNotMatch"},
		// Moving the signed date into Date leaves a signature over headers
		// the request no longer has.
		{name: "x-oss-date moved to Date", date: httpDate(0), edit: func(r *http.Request) {
			r.Header.Set("Date", r.Header.Get("x-oss-date"))
			r.Header.Del("x-oss-date")
		}, wantStatus: http.StatusForbidden, wantCode: "SignatureDoesNotMatch"},
		{name: "no date at all", date: httpDate(0), edit: func(r *http.Request) { r.Header.Del("x-oss-date") },
			wantStatus: http.StatusForbidden, wantCode: "AccessDenied"},
		{name: "skewed", date: httpDate(-20 * time.Minute), wantStatus: http.StatusForbidden, wantCode: "RequestTimeTooSkewed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := aliOSSV1(t, f, f.owner, "alioss/"+tc.name+".txt", "from ali-oss", tc.date, tc.edit)
			require.Equal(t, tc.wantStatus, resp.StatusCode)
			if tc.wantCode != "" {
				require.Equal(t, tc.wantCode, errorCode(t, resp))
				return
			}
			// What ali-oss stored reads back through the Go SDK.
			res, err := f.client(f.owner).GetObject(t.Context(), &oss.GetObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr("alioss/" + tc.name + ".txt")})
			require.NoError(t, err, "GetObject")
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			assert.Equal(t, "from ali-oss", string(b))
		})
	}
}

// The Go v2 SDK signs Date with V1; an x-oss-date the caller adds is then
// one more signed x-oss-* header, not the signed date.
func TestV1DateSignedBesideXOSSDate(t *testing.T) {
	f := newFixture(t)
	stamp := time.Now().UTC().Format("20060102T150405Z")
	c := f.client(f.owner, func(cfg *oss.Config) { cfg.WithSignatureVersion(oss.SignatureVersionV1) })
	_, err := c.PutObject(t.Context(), &oss.PutObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr("go-v1"), Body: bytes.NewReader([]byte("x")),
		RequestCommon: oss.RequestCommon{Headers: map[string]string{"x-oss-date": stamp}}})
	require.NoErrorf(t, err, "PutObject with Date signed and x-oss-date beside it: %v", err)
}
