package oss_test

import (
	"crypto/md5"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func put(t *testing.T, c *oss.Client, key, body string, mod func(*oss.PutObjectRequest)) (*oss.PutObjectResult, error) {
	t.Helper()
	req := &oss.PutObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key), Body: strings.NewReader(body)}
	if mod != nil {
		mod(req)
	}
	return c.PutObject(t.Context(), req)
}

func etagOf(body string) string {
	sum := md5.Sum([]byte(body))
	return `"` + strings.ToUpper(hex.EncodeToString(sum[:])) + `"`
}

func TestObjectLifecycle(t *testing.T) {
	for _, style := range []string{"path", "virtual-hosted"} {
		t.Run(style, func(t *testing.T) {
			f := newFixture(t)
			var c *oss.Client
			wantHost := f.srv.Listener.Addr().String()
			if style == "path" {
				c = f.client(f.owner)
			} else {
				c = f.client(f.owner, f.virtualHosted)
				wantHost = bucket + ".oss-" + region + ".aliyuncs.com"
			}
			ctx := t.Context()
			const key = "runs/r1/车道 a+b.json"
			const body = `{"state":"planned"}`
			res, err := put(t, c, key, body, func(r *oss.PutObjectRequest) {
				r.Metadata = map[string]string{"run": "r1"}
			})
			require.NoError(t, err, "PutObject")
			assert.Equal(t, wantHost, f.lastHost(), "request Host")
			assert.Equal(t, etagOf(body), oss.ToString(res.ETag), "PutObject ETag")
			assert.NotNil(t, res.HashCRC64, "PutObject returned no x-oss-hash-crc64ecma")

			get, err := c.GetObject(ctx, &oss.GetObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
			require.NoError(t, err, "GetObject")
			data, _ := io.ReadAll(get.Body)
			get.Body.Close()
			assert.Equal(t, body, string(data), "GetObject body")
			assert.Equal(t, etagOf(body), oss.ToString(get.ETag), "GetObject ETag")
			assert.Equal(t, int64(len(body)), get.ContentLength, "GetObject length")
			assert.Equal(t, "r1", get.Metadata["run"], "GetObject metadata")
			assert.Equal(t, "application/json", oss.ToString(get.ContentType), "GetObject content type")
			assert.NotNil(t, get.LastModified, "GetObject last modified")

			head, err := c.HeadObject(ctx, &oss.HeadObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
			require.NoError(t, err, "HeadObject")
			assert.Equal(t, int64(len(body)), head.ContentLength, "HeadObject length")
			assert.Equal(t, etagOf(body), oss.ToString(head.ETag), "HeadObject ETag")

			_, err = c.DeleteObject(ctx, &oss.DeleteObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
			require.NoError(t, err, "DeleteObject")
			_, err = c.GetObject(ctx, &oss.GetObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
			se := wantCode(t, err, http.StatusNotFound, "NoSuchKey")
			for _, want := range []string{"<Key>" + key + "</Key>", "<HostId>" + bucket + ".oss-" + region + ".aliyuncs.com</HostId>"} {
				assert.Contains(t, string(se.Snapshot), want, "error body")
			}
			_, err = c.HeadObject(ctx, &oss.HeadObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
			wantCode(t, err, http.StatusNotFound, "NoSuchKey") // decoded from x-oss-err
			// Deleting a missing object succeeds, as in OSS.
			_, err = c.DeleteObject(ctx, &oss.DeleteObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
			require.NoError(t, err, "DeleteObject of a missing object")
		})
	}
}

// PutObject's one precondition is x-oss-forbid-overwrite; the conditional
// headers OSS documents only for reads are refused on writes (error
// 0017-00000245), never silently ignored.
func TestConditionalPut(t *testing.T) {
	f := newFixture(t)
	c := f.client(f.owner)
	const key = "leases/lane-1"
	forbid := func(r *oss.PutObjectRequest) { r.ForbidOverwrite = oss.Ptr("true") }

	_, err := put(t, c, key, "v1", forbid)
	require.NoError(t, err, "create with x-oss-forbid-overwrite")
	_, err = put(t, c, key, "v1b", forbid)
	wantCode(t, err, http.StatusConflict, "FileAlreadyExists")
	_, err = put(t, c, key, "v2", func(r *oss.PutObjectRequest) { r.ForbidOverwrite = oss.Ptr("false") })
	require.NoError(t, err, "x-oss-forbid-overwrite: false overwrites")

	for _, h := range []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		_, err = put(t, c, key, "v3", func(r *oss.PutObjectRequest) { r.Headers = map[string]string{h: etagOf("v2")} })
		se := wantCode(t, err, http.StatusBadRequest, "NotImplemented")
		assert.Contains(t, string(se.Snapshot), "<Header>"+h+"</Header>", "%s: the refusal names the header", h)
	}
	get, err := c.GetObject(t.Context(), &oss.GetObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
	require.NoError(t, err)
	data, _ := io.ReadAll(get.Body)
	get.Body.Close()
	require.Equal(t, "v2", string(data), "object after the refused writes")

	// A body that does not match its Content-MD5 is refused.
	_, err = put(t, c, key, "v4", func(r *oss.PutObjectRequest) { r.ContentMD5 = oss.Ptr("1B2M2Y8AsgTpgAmY7PhCfg==") })
	wantCode(t, err, http.StatusBadRequest, "InvalidDigest")
}

func TestConditionalGet(t *testing.T) {
	f := newFixture(t)
	c := f.client(f.owner)
	_, err := put(t, c, "k", "body", nil)
	require.NoError(t, err)
	_, err = c.GetObject(t.Context(), &oss.GetObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr("k"), IfMatch: oss.Ptr(etagOf("other"))})
	wantCode(t, err, http.StatusPreconditionFailed, "PreconditionFailed")
	_, err = c.HeadObject(t.Context(), &oss.HeadObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr("k"), IfNoneMatch: oss.Ptr(etagOf("body"))})
	require.Equal(t, http.StatusNotModified, serviceError(t, err).StatusCode, "HeadObject If-None-Match at the current ETag")
	_, err = c.GetObject(t.Context(), &oss.GetObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr("k"), IfMatch: oss.Ptr(etagOf("body"))})
	require.NoError(t, err, "GetObject If-Match at the current ETag")
}

// Racing creates with x-oss-forbid-overwrite: exactly one wins.
func TestForbidOverwriteRace(t *testing.T) {
	f := newFixture(t)
	c := f.client(f.owner)
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = put(t, c, "race", strings.Repeat("x", i+1), func(r *oss.PutObjectRequest) { r.ForbidOverwrite = oss.Ptr("true") })
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
			continue
		}
		wantCode(t, err, http.StatusConflict, "FileAlreadyExists")
	}
	require.Equal(t, 1, wins, "racing creates won")
}
