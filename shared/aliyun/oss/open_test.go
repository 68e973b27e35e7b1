package oss_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	osssdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/oss"
)

// On a versioned bucket x-oss-forbid-overwrite does not take effect, and
// compare-and-swap goes with it: two writers holding the same version both
// "win" the next one, and the second silently replaces the first. Open
// refuses such a bucket, Enabled or Suspended.
func TestVersionedBucketIsRefused(t *testing.T) {
	for _, st := range []string{"Enabled", "Suspended"} {
		t.Run(st, func(t *testing.T) {
			hs, keys, _ := startTwin(t, twinOptions{versioning: st})
			owner, _ := keys.Account(account)
			s := newStore(t, client(hs, owner), "kmsmig") // unchecked
			ctx := t.Context()
			v1, err := s.Create(ctx, "lease", []byte("nobody"))
			require.NoError(t, err)
			_, err = s.Update(ctx, "lease", []byte("writer A"), v1)
			require.NoError(t, err)
			_, err = s.Update(ctx, "lease", []byte("writer B"), v1)
			require.NoError(t, err, "the second writer at the same version won too: forbid-overwrite did not take effect")
			obj, err := s.Get(ctx, "lease")
			require.NoError(t, err)
			require.Equal(t, "writer B", string(obj.Data), "writer A's update is lost")

			_, err = oss.Open(ctx, location(t, hs, owner, "kmsmig"))
			require.ErrorIs(t, err, oss.ErrVersionedBucket)
			assert.ErrorContains(t, err, "bucket "+bucket+" has versioning "+st)
			assert.ErrorContains(t, err, "never had versioning")
		})
	}
	// Suspending versioning later, through the SDK, is refused as well.
	hs, keys, _ := startTwin(t, twinOptions{})
	owner, _ := keys.Account(account)
	_, err := oss.Open(t.Context(), location(t, hs, owner, "kmsmig"))
	require.NoError(t, err)
	_, err = client(hs, owner).PutBucketVersioning(t.Context(), &osssdk.PutBucketVersioningRequest{Bucket: osssdk.Ptr(bucket),
		VersioningConfiguration: &osssdk.VersioningConfiguration{Status: osssdk.VersionSuspended}})
	require.NoError(t, err)
	_, err = oss.Open(t.Context(), location(t, hs, owner, "kmsmig"))
	require.ErrorIs(t, err, oss.ErrVersionedBucket)
}

// Open refuses what would make the store fail later, each refusal naming
// the bucket and the remedy, and accepts a bucket it has opened before.
func TestOpenRefuses(t *testing.T) {
	hs, keys, _ := startTwin(t, twinOptions{})
	owner, _ := keys.Account(account)
	stranger, err := keys.AddAccount("6543210987654321", "", "")
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		loc  oss.Location
		want error
		says []string
	}{
		{"missing bucket", func() oss.Location {
			l := location(t, hs, owner, "kmsmig")
			l.URL = "oss://no-such-bucket/kmsmig"
			return l
		}(), oss.ErrNoBucket, []string{"bucket no-such-bucket does not exist", "create it, without versioning", "KMSMIG_STATE"}},
		{"another account", location(t, hs, stranger, "kmsmig"), oss.ErrAccessDenied,
			[]string{"bucket " + bucket + " refused GetBucketVersioning", "oss:GetBucketVersioning", "deploy/ram-policy.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := oss.Open(t.Context(), tc.loc)
			require.ErrorIs(t, err, tc.want)
			for _, s := range tc.says {
				assert.ErrorContains(t, err, s)
			}
		})
	}

	t.Run("twice", func(t *testing.T) {
		for range 2 {
			_, err := oss.Open(t.Context(), location(t, hs, owner, "twice"))
			require.NoError(t, err)
		}
		res, err := client(hs, owner).HeadObject(t.Context(), &osssdk.HeadObjectRequest{Bucket: osssdk.Ptr(bucket), Key: osssdk.Ptr("twice/.kmsmig-layout")})
		require.NoError(t, err, "the layout marker")
		assert.Equal(t, "2", res.Metadata["kmsmig-layout"])
	})
}

// State of the earlier layout — a plain object per key, updated with
// If-Match — is refused with the way to migrate it, never read as empty;
// MigrateLayout moves it into the logs, and Open then accepts the prefix.
func TestEarlierLayout(t *testing.T) {
	hs, keys, _ := startTwin(t, twinOptions{})
	owner, _ := keys.Account(account)
	c := client(hs, owner)
	ctx := t.Context()
	earlier := map[string]string{"runs/r1": `{"id":"r1"}`, "runs/r1/plan": `{"batches":2}`, "current": "r1"}
	for k, v := range earlier {
		_, err := c.PutObject(ctx, &osssdk.PutObjectRequest{Bucket: osssdk.Ptr(bucket), Key: osssdk.Ptr("kmsmig/" + k), Body: strings.NewReader(v)})
		require.NoError(t, err)
	}
	_, err := oss.Open(ctx, location(t, hs, owner, "kmsmig"))
	require.ErrorIs(t, err, oss.ErrOldLayout)
	assert.ErrorContains(t, err, `"kmsmig/current"`, "the refusal names an object")
	assert.ErrorContains(t, err, "kmsmig migrate-state -state oss://"+bucket+"/kmsmig", "the refusal says how to migrate")

	s, err := oss.Connect(location(t, hs, owner, "kmsmig"))
	require.NoError(t, err)
	// A key migrated already (a run interrupted after its create) is only
	// cleaned up.
	_, err = s.Create(ctx, "current", []byte("r1"))
	require.NoError(t, err)
	moved, err := s.MigrateLayout(ctx)
	require.NoError(t, err)
	assert.Equal(t, len(earlier), moved)
	s, err = oss.Open(ctx, location(t, hs, owner, "kmsmig"))
	require.NoError(t, err, "Open after the migration")
	for k, v := range earlier {
		obj, err := s.Get(ctx, k)
		require.NoError(t, err, k)
		assert.Equal(t, v, string(obj.Data), k)
	}
	got, err := s.List(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"current", "runs/r1", "runs/r1/plan"}, got)
	moved, err = s.MigrateLayout(ctx)
	require.NoError(t, err)
	assert.Zero(t, moved, "a second run")

	// An earlier object whose key's log holds other bytes is left alone.
	_, err = c.PutObject(ctx, &osssdk.PutObjectRequest{Bucket: osssdk.Ptr(bucket), Key: osssdk.Ptr("kmsmig/current"), Body: strings.NewReader("r2")})
	require.NoError(t, err)
	_, err = s.MigrateLayout(ctx)
	require.ErrorContains(t, err, "hold different bytes")
	obj, err := s.Get(ctx, "current")
	require.NoError(t, err)
	assert.Equal(t, "r1", string(obj.Data))
}

// Open through a credential that lacks one permission names that one:
// the twin has no RAM policies, so a proxy refuses one call the way OSS
// answers a missing permission.
func TestOpenNamesTheMissingPermission(t *testing.T) {
	for _, tc := range []struct {
		method, query, action string
	}{
		{http.MethodDelete, "", "oss:DeleteObject"},
		{http.MethodHead, "", "oss:GetObject"},
		{http.MethodGet, "list-type=2", "oss:ListObjects"},
		{http.MethodPut, "", "oss:PutObject"},
	} {
		t.Run(tc.action, func(t *testing.T) {
			var deny func(w http.ResponseWriter, r *http.Request) bool
			hs, keys, _ := startTwin(t, twinOptions{wrap: func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if !deny(w, r) {
						next.ServeHTTP(w, r)
					}
				})
			}})
			deny = func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != tc.method || !strings.Contains(r.URL.RawQuery, tc.query) || r.URL.RawQuery == "versioning" {
					return false
				}
				const body = `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>AccessDenied</Code><Message>You have no right to access this object because of bucket acl.</Message><RequestId>5C3D9175B6FC201293AD4890</RequestId></Error>`
				w.Header().Set("Content-Type", "application/xml")
				w.Header().Set("x-oss-request-id", "5C3D9175B6FC201293AD4890")
				if r.Method == http.MethodHead {
					w.Header().Set("x-oss-err", base64.StdEncoding.EncodeToString([]byte(body)))
				}
				w.WriteHeader(http.StatusForbidden)
				_, _ = w.Write([]byte(body))
				return true
			}
			owner, _ := keys.Account(account)
			_, err := oss.Open(t.Context(), location(t, hs, owner, "kmsmig"))
			require.ErrorIs(t, err, oss.ErrAccessDenied)
			assert.ErrorContains(t, err, "grant the caller "+tc.action)
			assert.ErrorContains(t, err, "bucket "+bucket)
		})
	}
}
