//go:build cloud

package oss_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	osssdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/oss"
	"github.com/kmsmig/kmsmig/shared/runstate"
	"github.com/kmsmig/kmsmig/shared/runstate/storetest"
)

// TestContractCloud runs the contract against a real bucket:
// KMSMIG_OSS_REGION, KMSMIG_OSS_BUCKET and the SDK's usual
// OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET (/ OSS_SESSION_TOKEN). Each
// subtest writes under its own prefix and deletes what it wrote.
func TestContractCloud(t *testing.T) {
	region, bucket := os.Getenv("KMSMIG_OSS_REGION"), os.Getenv("KMSMIG_OSS_BUCKET")
	if region == "" || bucket == "" {
		t.Skip("KMSMIG_OSS_REGION and KMSMIG_OSS_BUCKET are not set")
	}
	c := osssdk.NewClient(osssdk.LoadDefaultConfig().
		WithCredentialsProvider(credentials.NewEnvironmentVariableCredentialsProvider()).
		WithRegion(region))
	run := time.Now().UTC().Format("20060102T150405")
	n := 0
	storetest.Run(t, func(t *testing.T) runstate.Store {
		n++
		s, err := oss.New(c, oss.Config{Bucket: bucket, Prefix: fmt.Sprintf("kmsmig-contract/%s/%d", run, n), PruneAfter: -1})
		require.NoError(t, err)
		prefix := fmt.Sprintf("kmsmig-contract/%s/%d/", run, n)
		t.Cleanup(func() {
			// t.Context is already cancelled when cleanups run. Delete
			// leaves tombstones: remove every object of the subtest.
			ctx := context.Background()
			p := c.NewListObjectsV2Paginator(&osssdk.ListObjectsV2Request{Bucket: &bucket, Prefix: &prefix})
			for p.HasNext() {
				page, err := p.NextPage(ctx)
				if err != nil {
					return
				}
				for _, o := range page.Contents {
					_, _ = c.DeleteObject(ctx, &osssdk.DeleteObjectRequest{Bucket: &bucket, Key: o.Key})
				}
			}
		})
		return s
	})
}

// TestAssumptionsCloud checks on the real service what the store and the
// twin assume from OSS's documentation: the bucket passes Check,
// PutObject refuses If-Match (error 0017-00000245) rather than ignoring
// it, and x-oss-forbid-overwrite refuses an existing name with 409.
func TestAssumptionsCloud(t *testing.T) {
	region, bucket := os.Getenv("KMSMIG_OSS_REGION"), os.Getenv("KMSMIG_OSS_BUCKET")
	if region == "" || bucket == "" {
		t.Skip("KMSMIG_OSS_REGION and KMSMIG_OSS_BUCKET are not set")
	}
	c := osssdk.NewClient(osssdk.LoadDefaultConfig().
		WithCredentialsProvider(credentials.NewEnvironmentVariableCredentialsProvider()).
		WithRegion(region))
	ctx := t.Context()
	prefix := "kmsmig-contract/" + time.Now().UTC().Format("20060102T150405") + "-assumptions/"
	s, err := oss.New(c, oss.Config{Bucket: bucket, Prefix: prefix})
	require.NoError(t, err)
	require.NoError(t, s.Check(ctx), "Check of the bucket")
	key := prefix + "probe"
	t.Cleanup(func() {
		for _, k := range []string{key, prefix + ".kmsmig-layout"} {
			_, _ = c.DeleteObject(context.Background(), &osssdk.DeleteObjectRequest{Bucket: &bucket, Key: &k})
		}
	})
	put := func(headers map[string]string, forbid bool) error {
		req := &osssdk.PutObjectRequest{Bucket: &bucket, Key: &key, Body: strings.NewReader("x"), RequestCommon: osssdk.RequestCommon{Headers: headers}}
		if forbid {
			req.ForbidOverwrite = osssdk.Ptr("true")
		}
		_, err := c.PutObject(ctx, req, func(o *osssdk.Options) { o.RetryMaxAttempts = osssdk.Ptr(1) })
		return err
	}
	require.NoError(t, put(nil, true), "create")
	var se *osssdk.ServiceError
	err = put(nil, true)
	require.ErrorAs(t, err, &se, "second create")
	require.Equal(t, "FileAlreadyExists", se.Code)
	err = put(map[string]string{"If-Match": `"00000000000000000000000000000000"`}, false)
	require.ErrorAs(t, err, &se, "PutObject with If-Match was accepted")
	t.Logf("PutObject with If-Match: %d %s", se.StatusCode, se.Code)
	require.Equal(t, "NotImplemented", se.Code)
}
