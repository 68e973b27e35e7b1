package oss_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
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
			if err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			if got := f.lastHost(); got != wantHost {
				t.Errorf("request Host = %q, want %q", got, wantHost)
			}
			if oss.ToString(res.ETag) != etagOf(body) {
				t.Errorf("PutObject ETag = %s, want %s", oss.ToString(res.ETag), etagOf(body))
			}
			if res.HashCRC64 == nil {
				t.Error("PutObject returned no x-oss-hash-crc64ecma")
			}

			get, err := c.GetObject(ctx, &oss.GetObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			data, _ := io.ReadAll(get.Body)
			get.Body.Close()
			if string(data) != body || oss.ToString(get.ETag) != etagOf(body) || get.ContentLength != int64(len(body)) {
				t.Errorf("GetObject = %q etag %s len %d, want %q etag %s", data, oss.ToString(get.ETag), get.ContentLength, body, etagOf(body))
			}
			if get.Metadata["run"] != "r1" || oss.ToString(get.ContentType) != "application/json" || get.LastModified == nil {
				t.Errorf("GetObject metadata %v, content type %q, last modified %v", get.Metadata, oss.ToString(get.ContentType), get.LastModified)
			}

			head, err := c.HeadObject(ctx, &oss.HeadObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
			if err != nil {
				t.Fatalf("HeadObject: %v", err)
			}
			if head.ContentLength != int64(len(body)) || oss.ToString(head.ETag) != etagOf(body) {
				t.Errorf("HeadObject length %d etag %s", head.ContentLength, oss.ToString(head.ETag))
			}

			if _, err := c.DeleteObject(ctx, &oss.DeleteObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)}); err != nil {
				t.Fatalf("DeleteObject: %v", err)
			}
			_, err = c.GetObject(ctx, &oss.GetObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
			se := wantCode(t, err, http.StatusNotFound, "NoSuchKey")
			for _, want := range []string{"<Key>" + key + "</Key>", "<HostId>" + bucket + ".oss-" + region + ".aliyuncs.com</HostId>"} {
				if !bytes.Contains(se.Snapshot, []byte(want)) {
					t.Errorf("error body lacks %s:\n%s", want, se.Snapshot)
				}
			}
			_, err = c.HeadObject(ctx, &oss.HeadObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
			wantCode(t, err, http.StatusNotFound, "NoSuchKey") // decoded from x-oss-err
			// Deleting a missing object succeeds, as in OSS.
			if _, err := c.DeleteObject(ctx, &oss.DeleteObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)}); err != nil {
				t.Fatalf("DeleteObject of a missing object: %v", err)
			}
		})
	}
}

func TestConditionalPut(t *testing.T) {
	f := newFixture(t)
	c := f.client(f.owner)
	const key = "leases/lane-1"
	ifMatch := func(etag string) func(*oss.PutObjectRequest) {
		return func(r *oss.PutObjectRequest) { r.Headers = map[string]string{"If-Match": etag} }
	}
	forbid := func(r *oss.PutObjectRequest) { r.ForbidOverwrite = oss.Ptr("true") }

	if _, err := put(t, c, key, "v1", forbid); err != nil {
		t.Fatalf("create with x-oss-forbid-overwrite: %v", err)
	}
	_, err := put(t, c, key, "v1b", forbid)
	wantCode(t, err, http.StatusConflict, "FileAlreadyExists")

	if _, err := put(t, c, key, "v2", ifMatch(etagOf("v1"))); err != nil {
		t.Fatalf("If-Match at the current ETag: %v", err)
	}
	_, err = put(t, c, key, "v3", ifMatch(etagOf("v1")))
	wantCode(t, err, http.StatusPreconditionFailed, "PreconditionFailed")
	_, err = put(t, c, key, "v3", func(r *oss.PutObjectRequest) { r.Headers = map[string]string{"If-None-Match": "*"} })
	wantCode(t, err, http.StatusPreconditionFailed, "PreconditionFailed")
	_, err = put(t, c, "leases/missing", "x", ifMatch(etagOf("v1")))
	wantCode(t, err, http.StatusNotFound, "NoSuchKey")
	// Lower-case, unquoted ETags match too.
	if _, err := put(t, c, key, "v3", ifMatch(strings.ToLower(strings.Trim(etagOf("v2"), `"`)))); err != nil {
		t.Fatalf("If-Match with an unquoted lower-case ETag: %v", err)
	}
	get, err := c.GetObject(t.Context(), &oss.GetObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if string(data) != "v3" {
		t.Fatalf("object = %q after the refused writes, want v3", data)
	}

	// A body that does not match its Content-MD5 is refused.
	_, err = put(t, c, key, "v4", func(r *oss.PutObjectRequest) { r.ContentMD5 = oss.Ptr("1B2M2Y8AsgTpgAmY7PhCfg==") })
	wantCode(t, err, http.StatusBadRequest, "InvalidDigest")
}

func TestConditionalGet(t *testing.T) {
	f := newFixture(t)
	c := f.client(f.owner)
	if _, err := put(t, c, "k", "body", nil); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetObject(t.Context(), &oss.GetObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr("k"), IfMatch: oss.Ptr(etagOf("other"))})
	wantCode(t, err, http.StatusPreconditionFailed, "PreconditionFailed")
	_, err = c.HeadObject(t.Context(), &oss.HeadObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr("k"), IfNoneMatch: oss.Ptr(etagOf("body"))})
	if se := serviceError(t, err); se.StatusCode != http.StatusNotModified {
		t.Fatalf("HeadObject If-None-Match at the current ETag: status %d, want 304", se.StatusCode)
	}
	if _, err := c.GetObject(t.Context(), &oss.GetObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr("k"), IfMatch: oss.Ptr(etagOf("body"))}); err != nil {
		t.Fatalf("GetObject If-Match at the current ETag: %v", err)
	}
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
	if wins != 1 {
		t.Fatalf("%d racing creates won, want exactly 1", wins)
	}
}
