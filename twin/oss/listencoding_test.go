package oss_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bodyRecorder keeps the body of every response the client reads.
type bodyRecorder struct {
	next http.RoundTripper

	mu     sync.Mutex
	bodies []string
}

func (r *bodyRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	r.mu.Lock()
	r.bodies = append(r.bodies, string(b))
	r.mu.Unlock()
	return resp, nil
}

func (r *bodyRecorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[len(r.bodies)-1]
}

// With encoding-type=url (the Go SDK's default) a space is %20 and a plus
// %2B, so that decoders which do not read forms (oss2's unquote, ali-oss's
// decodeURIComponent) get the key back too, not only the Go SDK's
// url.QueryUnescape.
func TestListObjectsV2URLEncoding(t *testing.T) {
	f := newFixture(t)
	rec := &bodyRecorder{next: http.DefaultTransport}
	c := f.client(f.owner, func(cfg *oss.Config) { cfg.WithHttpClient(&http.Client{Transport: rec}) })
	keys := []string{"enc/a b+c", "enc/d e/f", "enc/~!*"}
	for _, k := range keys {
		_, err := put(t, c, k, "x", nil)
		require.NoError(t, err, "put %q", k)
	}
	res, err := c.ListObjectsV2(t.Context(), &oss.ListObjectsV2Request{Bucket: oss.Ptr(bucket), Prefix: oss.Ptr("enc/"), Delimiter: oss.Ptr("/")})
	require.NoErrorf(t, err, "ListObjectsV2: %v", err)
	var got []string
	for _, o := range res.Contents {
		got = append(got, oss.ToString(o.Key))
	}
	for _, p := range res.CommonPrefixes {
		got = append(got, oss.ToString(p.Prefix))
	}
	assert.Equal(t, []string{"enc/a b+c", "enc/~!*", "enc/d e/"}, got, "what the SDK decoded")
	body := rec.last()
	for _, want := range []string{
		"<Key>enc%2Fa%20b%2Bc</Key>",
		"<Key>enc%2F~%21%2A</Key>",
		"<Prefix>enc%2Fd%20e%2F</Prefix>",
		"<Prefix>enc%2F</Prefix>",
		"<Delimiter>%2F</Delimiter>",
	} {
		assert.Falsef(t, !strings.Contains(body, want), "the listing lacks %s:\n%s", want, body)
	}
}
