package oss_test

import (
	"io"
	"testing"

	osssdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/oss"
)

// An approval signal is a plain object under <prefix>approvals/, ending in
// .json (what the OSS trigger matches); it is neither a key of the store
// nor state of the earlier layout, so Open (a fresh prefix, which scans
// for that) accepts a prefix holding one.
func TestSignal(t *testing.T) {
	hs, keys, _ := startTwin(t, twinOptions{})
	owner, _ := keys.Account(account)
	ctx := t.Context()
	s, err := oss.Connect(location(t, hs, owner, "kmsmig"))
	require.NoError(t, err)
	url, err := s.Signal(ctx, "approvals/run-20260101.json", []byte(`{"runId":"run-20260101"}`))
	require.NoError(t, err)
	assert.Equal(t, "oss://"+bucket+"/kmsmig/approvals/run-20260101.json", url)
	b, p := s.SignalLocation()
	assert.Equal(t, bucket, b)
	assert.Equal(t, "kmsmig/approvals/", p)

	res, err := client(hs, owner).GetObject(ctx, &osssdk.GetObjectRequest{Bucket: osssdk.Ptr(bucket), Key: osssdk.Ptr("kmsmig/approvals/run-20260101.json")})
	require.NoError(t, err)
	data, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	assert.JSONEq(t, `{"runId":"run-20260101"}`, string(data))

	s, err = oss.Open(ctx, location(t, hs, owner, "kmsmig"))
	require.NoError(t, err, "a signal is not state of the earlier layout")
	got, err := s.List(ctx, "")
	require.NoError(t, err)
	assert.Empty(t, got, "a signal is not a key")

	for _, bad := range []string{"approvals/x.txt", "approvals/.json", "approvals/a/b.json", "runs/x.json", "x.json"} {
		_, err := s.Signal(ctx, bad, nil)
		assert.ErrorContains(t, err, "want approvals/<name>.json", bad)
	}
}
