package oss_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/acs"
)

func TestAuthentication(t *testing.T) {
	f := newFixture(t)
	sts, err := f.keys.MintSTS(account, "acs:ram::"+account+":role/kmsmig-fc", time.Hour, time.Now())
	require.NoError(t, err)
	expired, err := f.keys.MintSTS(account, "acs:ram::"+account+":role/kmsmig-fc", time.Minute, time.Now().Add(-time.Hour))
	require.NoError(t, err)
	withSecret := func(c acs.Credential, secret string) acs.Credential { c.AccessKeySecret = secret; return c }
	withToken := func(c acs.Credential, token string) acs.Credential { c.SecurityToken = token; return c }
	v1 := func(cfg *oss.Config) { cfg.WithSignatureVersion(oss.SignatureVersionV1) }
	extraSigned := func(cfg *oss.Config) { cfg.WithAdditionalHeaders([]string{"User-Agent", "Range"}) }
	anonymous := func(cfg *oss.Config) { cfg.WithCredentialsProvider(credentials.NewAnonymousCredentialsProvider()) }

	for _, tc := range []struct {
		name     string
		cred     acs.Credential
		opts     []func(*oss.Config)
		bucket   string
		status   int
		code     string
		bodyHave string
	}{
		{name: "v4 long-term key", cred: f.owner},
		{name: "v4 additional headers", cred: f.owner, opts: []func(*oss.Config){extraSigned}},
		{name: "v4 virtual-hosted", cred: f.owner, opts: []func(*oss.Config){f.virtualHosted}},
		{name: "v4 sts", cred: sts},
		{name: "v1 long-term key", cred: f.owner, opts: []func(*oss.Config){v1}},
		{name: "v1 sts", cred: sts, opts: []func(*oss.Config){v1}},
		{name: "v1 virtual-hosted", cred: f.owner, opts: []func(*oss.Config){v1, f.virtualHosted}},
		{name: "v4 wrong secret", cred: withSecret(f.owner, "nope"), status: 403, code: "SignatureDoesNotMatch", bodyHave: "<StringToSign>OSS4-HMAC-SHA256&#xA;"},
		{name: "v1 wrong secret", cred: withSecret(f.owner, "nope"), opts: []func(*oss.Config){v1}, status: 403, code: "SignatureDoesNotMatch", bodyHave: "<StringToSign>PUT&#xA;"},
		{name: "unknown key", cred: acs.Credential{AccessKeyID: "LTAInobody", AccessKeySecret: "x"}, status: 403, code: "InvalidAccessKeyId", bodyHave: "<OSSAccessKeyId>LTAInobody</OSSAccessKeyId>"},
		{name: "sts without token", cred: withToken(sts, ""), status: 403, code: "InvalidSecurityToken"},
		{name: "sts wrong token", cred: withToken(sts, "CAISforged"), status: 403, code: "InvalidSecurityToken"},
		{name: "sts expired", cred: expired, status: 403, code: "SecurityTokenExpired"},
		{name: "long-term key with a token", cred: withToken(f.owner, "CAISx"), status: 403, code: "InvalidAccessKeyId"},
		{name: "other account", cred: f.other, status: 403, code: "AccessDenied"},
		{name: "anonymous", cred: f.owner, opts: []func(*oss.Config){anonymous}, status: 403, code: "AccessDenied"},
		{name: "unknown bucket", cred: f.owner, bucket: "no-such-bucket", status: 404, code: "NoSuchBucket", bodyHave: "<BucketName>no-such-bucket</BucketName>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.client(tc.cred, tc.opts...)
			b := bucket
			if tc.bucket != "" {
				b = tc.bucket
			}
			_, err := c.PutObject(t.Context(), &oss.PutObjectRequest{
				Bucket: oss.Ptr(b), Key: oss.Ptr("auth/" + tc.name + "/ü x+y"), Body: strings.NewReader("x"),
				Metadata: map[string]string{"note": " padded  "},
			})
			if tc.code == "" {
				require.NoError(t, err, "PutObject")
				// A bucket-level call with a query signs too.
				_, err = c.ListObjectsV2(t.Context(), &oss.ListObjectsV2Request{Bucket: oss.Ptr(b), Prefix: oss.Ptr("auth/" + tc.name + "/ü"), ContinuationToken: oss.Ptr("YXV0aA")})
				require.NoError(t, err, "ListObjectsV2")
				return
			}
			se := wantCode(t, err, tc.status, tc.code)
			if tc.bodyHave != "" {
				assert.Contains(t, string(se.Snapshot), tc.bodyHave, "error body")
			}
		})
	}
}

func TestClockSkew(t *testing.T) {
	f := newFixture(t)
	f.clock.set(time.Hour) // the twin runs an hour ahead of the client
	c := f.client(f.owner)
	_, err := c.HeadObject(t.Context(), &oss.HeadObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr("k")})
	se := wantCode(t, err, http.StatusForbidden, "RequestTimeTooSkewed")
	assert.WithinDuration(t, time.Now().Add(time.Hour), se.Timestamp, time.Minute,
		"the error's Date must be the twin's clock (+1h), not the client's")
	// With retries the SDK corrects its clock from the Date header.
	retrying := f.client(f.owner, func(cfg *oss.Config) { cfg.WithRetryMaxAttempts(2) })
	_, err = retrying.PutObject(t.Context(), &oss.PutObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr("k"), Body: strings.NewReader("x")})
	require.NoError(t, err, "PutObject after clock correction")
	f.clock.set(10 * time.Minute) // within the tolerated skew
	_, err = c.HeadObject(t.Context(), &oss.HeadObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr("k")})
	require.NoError(t, err, "HeadObject 10 minutes off")
}

// tamper changes each request after the SDK has signed it.
type tamper struct {
	next http.RoundTripper
	fn   func(*http.Request)
}

func (t tamper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	t.fn(r)
	return t.next.RoundTrip(r)
}

// The signature covers the resource, the query, the x-oss-* headers and the
// content type: changing any after signing is refused.
func TestSignatureCoversRequest(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		fn   func(*http.Request)
	}{
		{"key", func(r *http.Request) { r.URL.Path = strings.Replace(r.URL.Path, "/k1", "/k2", 1) }},
		{"query", func(r *http.Request) { r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "prefix=k", "prefix=j", 1) }},
		{"x-oss header", func(r *http.Request) { r.Header.Del("x-oss-forbid-overwrite") }},
		{"content type", func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }},
	} {
		for _, ver := range []oss.SignatureVersionType{oss.SignatureVersionV4, oss.SignatureVersionV1} {
			if ver == oss.SignatureVersionV1 && tc.name == "query" {
				continue // V1 does not sign prefix, as in OSS
			}
			t.Run(tc.name+"/"+ver.String(), func(t *testing.T) {
				c := f.client(f.owner, func(cfg *oss.Config) {
					cfg.WithSignatureVersion(ver).WithHttpClient(&http.Client{Transport: tamper{http.DefaultTransport, tc.fn}})
				})
				var err error
				if tc.name == "query" {
					_, err = c.ListObjectsV2(t.Context(), &oss.ListObjectsV2Request{Bucket: oss.Ptr(bucket), Prefix: oss.Ptr("k")})
				} else {
					_, err = c.PutObject(t.Context(), &oss.PutObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr("k1"),
						Body: strings.NewReader("x"), ForbidOverwrite: oss.Ptr("true")})
				}
				wantCode(t, err, http.StatusForbidden, "SignatureDoesNotMatch")
			})
		}
	}
}
