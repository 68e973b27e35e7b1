package oss_test

import (
	"slices"
	"testing"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

func TestListObjectsV2(t *testing.T) {
	f := newFixture(t)
	c := f.client(f.owner)
	keys := []string{"a", "a/b", "a/c/d", "a/c/e", "a/f g+h%", "a/车道", "b/x", "c"}
	for _, k := range slices.Backward(keys) {
		if _, err := put(t, c, k, "data-"+k, nil); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
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
				if err != nil {
					t.Fatalf("ListObjectsV2: %v", err)
				}
				pages++
				if tc.maxKeys > 0 && res.KeyCount > int(tc.maxKeys) {
					t.Errorf("page of %d entries, max-keys %d", res.KeyCount, tc.maxKeys)
				}
				if res.KeyCount != len(res.Contents)+len(res.CommonPrefixes) {
					t.Errorf("KeyCount %d, but %d contents and %d prefixes", res.KeyCount, len(res.Contents), len(res.CommonPrefixes))
				}
				for _, o := range res.Contents {
					k := oss.ToString(o.Key)
					gotKeys = append(gotKeys, k)
					if oss.ToString(o.ETag) != etagOf("data-"+k) || o.Size != int64(len("data-"+k)) || o.LastModified == nil {
						t.Errorf("%s: etag %s size %d modified %v", k, oss.ToString(o.ETag), o.Size, o.LastModified)
					}
					if o.Owner == nil || oss.ToString(o.Owner.ID) != account {
						t.Errorf("%s: owner %+v, want account %s (fetch-owner)", k, o.Owner, account)
					}
				}
				for _, cp := range res.CommonPrefixes {
					gotPrefs = append(gotPrefs, oss.ToString(cp.Prefix))
				}
				if oss.ToString(res.Prefix) != tc.prefix || oss.ToString(res.Delimiter) != tc.delim {
					t.Errorf("echoed prefix %q delimiter %q", oss.ToString(res.Prefix), oss.ToString(res.Delimiter))
				}
				if pages > 20 {
					t.Fatal("pagination does not end")
				}
			}
			if !slices.Equal(gotKeys, tc.wantKeys) || !slices.Equal(gotPrefs, tc.wantPrefs) {
				t.Fatalf("keys %q prefixes %q, want %q %q", gotKeys, gotPrefs, tc.wantKeys, tc.wantPrefs)
			}
			if tc.maxKeys == 1 && pages != len(tc.wantKeys)+len(tc.wantPrefs) {
				t.Errorf("%d pages for %d entries at max-keys 1", pages, len(tc.wantKeys)+len(tc.wantPrefs))
			}
		})
	}
	_, err := c.ListObjectsV2(t.Context(), &oss.ListObjectsV2Request{Bucket: oss.Ptr(bucket), MaxKeys: 1001})
	wantCode(t, err, 400, "InvalidArgument")
}
