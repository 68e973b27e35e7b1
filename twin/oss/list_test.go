package oss_test

import (
	"slices"
	"testing"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestListObjectsV2(t *testing.T) {
	f := newFixture(t)
	c := f.client(f.owner)
	keys := []string{"a", "a/b", "a/c/d", "a/c/e", "a/f g+h%", "a/车道", "b/x", "c"}
	for _, k := range slices.Backward(keys) {
		_, err := put(t, c, k, "data-"+k, nil)
		require.NoError(t, err, "put %s", k)
	}
	type page struct {
		keys, prefixes []string
	}
	for _, tc := range []struct {
		name                string
		prefix, delim       string
		startAfter          string
		maxKeys             int32
		want                []page
		wantKeys, wantPrefs []string
	}{
		{name: "all", wantKeys: keys},
		{name: "paged by 3", maxKeys: 3, wantKeys: keys},
		{name: "prefix", prefix: "a/", wantKeys: []string{"a/b", "a/c/d", "a/c/e", "a/f g+h%", "a/车道"}},
		{name: "prefix unicode", prefix: "a/车", wantKeys: []string{"a/车道"}},
		{name: "delimiter", delim: "/", wantKeys: []string{"a", "c"}, wantPrefs: []string{"a/", "b/"}},
		{name: "prefix and delimiter", prefix: "a/", delim: "/", wantKeys: []string{"a/b", "a/f g+h%", "a/车道"}, wantPrefs: []string{"a/c/"}},
		{name: "delimiter paged by 1", prefix: "a/", delim: "/", maxKeys: 1, wantKeys: []string{"a/b", "a/f g+h%", "a/车道"}, wantPrefs: []string{"a/c/"}},
		{name: "start-after", startAfter: "a/c/d", wantKeys: []string{"a/c/e", "a/f g+h%", "a/车道", "b/x", "c"}},
		{name: "nothing", prefix: "zz", wantKeys: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &oss.ListObjectsV2Request{Bucket: oss.Ptr(bucket), MaxKeys: tc.maxKeys, FetchOwner: true}
			if tc.prefix != "" {
				req.Prefix = oss.Ptr(tc.prefix)
			}
			if tc.delim != "" {
				req.Delimiter = oss.Ptr(tc.delim)
			}
			if tc.startAfter != "" {
				req.StartAfter = oss.Ptr(tc.startAfter)
			}
			var gotKeys, gotPrefs []string
			pages := 0
			for p := c.NewListObjectsV2Paginator(req); p.HasNext(); {
				res, err := p.NextPage(t.Context())
				require.NoError(t, err, "ListObjectsV2")
				pages++
				if tc.maxKeys > 0 {
					assert.LessOrEqual(t, res.KeyCount, int(tc.maxKeys), "entries in a page")
				}
				assert.Equal(t, len(res.Contents)+len(res.CommonPrefixes), res.KeyCount, "KeyCount: contents plus prefixes")
				for _, o := range res.Contents {
					k := oss.ToString(o.Key)
					gotKeys = append(gotKeys, k)
					assert.Equal(t, etagOf("data-"+k), oss.ToString(o.ETag), "%s: etag", k)
					assert.Equal(t, int64(len("data-"+k)), o.Size, "%s: size", k)
					assert.NotNil(t, o.LastModified, "%s: last modified", k)
					if assert.NotNil(t, o.Owner, "%s: owner (fetch-owner)", k) {
						assert.Equal(t, account, oss.ToString(o.Owner.ID), "%s: owner (fetch-owner)", k)
					}
				}
				for _, cp := range res.CommonPrefixes {
					gotPrefs = append(gotPrefs, oss.ToString(cp.Prefix))
				}
				assert.Equal(t, tc.prefix, oss.ToString(res.Prefix), "echoed prefix")
				assert.Equal(t, tc.delim, oss.ToString(res.Delimiter), "echoed delimiter")
				require.LessOrEqual(t, pages, 20, "pagination does not end")
			}
			require.Equal(t, tc.wantKeys, gotKeys, "keys")
			require.Equal(t, tc.wantPrefs, gotPrefs, "prefixes")
			if tc.maxKeys == 1 {
				assert.Equal(t, len(tc.wantKeys)+len(tc.wantPrefs), pages, "pages at max-keys 1")
			}
		})
	}
	_, err := c.ListObjectsV2(t.Context(), &oss.ListObjectsV2Request{Bucket: oss.Ptr(bucket), MaxKeys: 1001})
	wantCode(t, err, 400, "InvalidArgument")
}
