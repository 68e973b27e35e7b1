package oss_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/acs"
	osstwin "github.com/kmsmig/kmsmig/twin/oss"
)

// GetBucketVersioning and PutBucketVersioning through the SDK: a bucket
// that never had versioning answers no Status; Enabled and Suspended are
// the only states it can be put in.
func TestBucketVersioning(t *testing.T) {
	f := newFixture(t)
	c := f.client(f.owner)
	ctx := t.Context()
	status := func() *string {
		t.Helper()
		res, err := c.GetBucketVersioning(ctx, &oss.GetBucketVersioningRequest{Bucket: oss.Ptr(bucket)})
		require.NoError(t, err, "GetBucketVersioning")
		return res.VersionStatus
	}
	require.Nil(t, status(), "a new bucket has no versioning state")
	for _, st := range []oss.VersioningStatusType{oss.VersionEnabled, oss.VersionSuspended} {
		_, err := c.PutBucketVersioning(ctx, &oss.PutBucketVersioningRequest{Bucket: oss.Ptr(bucket),
			VersioningConfiguration: &oss.VersioningConfiguration{Status: st}})
		require.NoError(t, err, "PutBucketVersioning %s", st)
		require.Equal(t, string(st), oss.ToString(status()))
	}
	_, err := c.PutBucketVersioning(ctx, &oss.PutBucketVersioningRequest{Bucket: oss.Ptr(bucket),
		VersioningConfiguration: &oss.VersioningConfiguration{Status: "Disabled"}})
	wantCode(t, err, http.StatusBadRequest, "MalformedXML")
	require.Equal(t, "Suspended", oss.ToString(status()), "a refused PutBucketVersioning changed the state")

	_, err = f.client(f.other).GetBucketVersioning(ctx, &oss.GetBucketVersioningRequest{Bucket: oss.Ptr(bucket)})
	wantCode(t, err, http.StatusForbidden, "AccessDenied")
	_, err = c.GetBucketVersioning(ctx, &oss.GetBucketVersioningRequest{Bucket: oss.Ptr("no-such-bucket")})
	wantCode(t, err, http.StatusNotFound, "NoSuchBucket")
}

// On a bucket whose versioning is Enabled or Suspended,
// x-oss-forbid-overwrite does not take effect (PutObject's documentation):
// the second create overwrites the first.
func TestForbidOverwriteIneffectiveWhenVersioned(t *testing.T) {
	for _, st := range []string{"Enabled", "Suspended"} {
		t.Run(st, func(t *testing.T) {
			keys := acs.NewKeyring()
			owner, err := keys.AddAccount(account, "", "")
			require.NoError(t, err)
			twin, err := osstwin.New(osstwin.Config{Keyring: keys, Buckets: []osstwin.Bucket{{Name: bucket, Account: account, Region: region, Versioning: st}}})
			require.NoError(t, err)
			f := &fixture{twin: twin}
			f.srv = httptest.NewServer(twin)
			t.Cleanup(f.srv.Close)
			c := f.client(owner)
			forbid := func(r *oss.PutObjectRequest) { r.ForbidOverwrite = oss.Ptr("true") }
			_, err = put(t, c, "lease", "first", forbid)
			require.NoError(t, err)
			_, err = put(t, c, "lease", "second", forbid)
			require.NoError(t, err, "x-oss-forbid-overwrite refused an overwrite on a versioned bucket")
			get, err := c.GetObject(t.Context(), &oss.GetObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr("lease")})
			require.NoError(t, err)
			data, _ := io.ReadAll(get.Body)
			get.Body.Close()
			assert.Equal(t, "second", string(data))
		})
	}
	_, err := osstwin.New(osstwin.Config{Keyring: acs.NewKeyring(), Buckets: []osstwin.Bucket{{Name: bucket, Account: account, Region: region, Versioning: "On"}}})
	assert.Error(t, err, "a bucket with an unknown versioning state")
}
