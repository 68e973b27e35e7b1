package oss_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	osstwin "github.com/kmsmig/kmsmig/twin/oss"
)

// faulty serves f's twin through a Faulty handler on a listener of its
// own; f.client keeps talking to the clean twin.
func faulty(t *testing.T, f *fixture) (*osstwin.Faulty, *oss.Client) {
	t.Helper()
	h := f.twin.Faulty()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, f.client(f.owner, func(c *oss.Config) { c.WithEndpoint(srv.URL) })
}

func putOnce(t *testing.T, c *oss.Client, key string) error {
	t.Helper()
	_, err := c.PutObject(t.Context(), &oss.PutObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key),
		Body: strings.NewReader("v"), ForbidOverwrite: oss.Ptr("true")})
	return err
}

func exists(t *testing.T, c *oss.Client, key string) bool {
	t.Helper()
	_, err := c.HeadObject(t.Context(), &oss.HeadObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
	if err != nil {
		wantCode(t, err, http.StatusNotFound, "NoSuchKey")
		return false
	}
	return true
}

// A refused request changes nothing and carries an OSS error (in the body,
// and for HEAD in x-oss-err); a lost reply is a transport error whose
// write landed; the clean twin shows neither fault.
func TestFaultyHandler(t *testing.T) {
	f := newFixture(t)
	h, fc := faulty(t, f)
	clean := f.client(f.owner)

	require.NoError(t, putOnce(t, fc, "served"), "no faults until SetFaults")

	require.NoError(t, h.SetFaults(osstwin.Faults{ErrorRate: 1}))
	wantCode(t, putOnce(t, fc, "refused"), http.StatusInternalServerError, "InternalError")
	_, err := fc.HeadObject(t.Context(), &oss.HeadObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr("served")})
	wantCode(t, err, http.StatusInternalServerError, "InternalError")
	assert.False(t, exists(t, clean, "refused"), "a refused write does not land")
	assert.True(t, exists(t, clean, "served"), "the clean twin has no faults")

	require.NoError(t, h.SetFaults(osstwin.Faults{LostReplyRate: 1}))
	err = putOnce(t, fc, "lost")
	require.Error(t, err)
	var se *oss.ServiceError
	assert.False(t, errors.As(err, &se), "a lost reply is no service error: %v", err)
	assert.True(t, exists(t, clean, "lost"), "the write whose reply was lost landed")
	// Its retry is refused by the write itself: the caller must re-read.
	wantCode(t, putOnce(t, clean, "lost"), http.StatusConflict, "FileAlreadyExists")

	refused, lost := h.Counts()
	assert.Equal(t, int64(2), refused)
	assert.Equal(t, int64(1), lost)

	require.NoError(t, h.SetFaults(osstwin.Faults{}))
	require.NoError(t, putOnce(t, fc, "calm"))

	for _, bad := range []osstwin.Faults{{ErrorRate: -0.1}, {LostReplyRate: 1.5}, {ErrorRate: 0.6, LostReplyRate: 0.6}} {
		err := h.SetFaults(bad)
		require.Error(t, err, "%+v", bad)
		assert.Contains(t, err.Error(), "ErrorRate")
	}
	require.NoError(t, putOnce(t, fc, "still-calm"), "a refused SetFaults changes nothing")
}

// Rates between 0 and 1 fail about that share of requests.
func TestFaultyHandlerRates(t *testing.T) {
	f := newFixture(t)
	h, fc := faulty(t, f)
	require.NoError(t, h.SetFaults(osstwin.Faults{ErrorRate: 0.2, LostReplyRate: 0.2, Seed: 7}))
	failed := 0
	const n = 200
	for i := range n {
		if putOnce(t, fc, fmt.Sprintf("k%03d", i)) != nil {
			failed++
		}
	}
	refused, lost := h.Counts()
	assert.Equal(t, int64(failed), refused+lost, "every failure is a counted fault")
	assert.InDelta(t, 0.2*n, refused, 0.1*n)
	assert.InDelta(t, 0.2*n, lost, 0.1*n)
}
