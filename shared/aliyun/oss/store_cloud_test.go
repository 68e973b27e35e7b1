//go:build cloud

package oss_test

import (
	"context"
	"fmt"
	"os"
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
		s, err := oss.New(c, oss.Config{Bucket: bucket, Prefix: fmt.Sprintf("kmsmig-contract/%s/%d", run, n)})
		require.NoError(t, err)
		t.Cleanup(func() {
			// t.Context is already cancelled when cleanups run.
			ctx := context.Background()
			keys, _ := s.List(ctx, "")
			for _, k := range keys {
				_ = s.Delete(ctx, k, "")
			}
		})
		return s
	})
}
