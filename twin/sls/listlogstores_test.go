package sls_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/sls"
)

// ListLogStores honours offset and size (default 200, at most 500) through
// the Go SDK's ListLogStoreV2, which sends offset, size (left out when 0)
// and an empty telemetryType.
func TestListLogStoresPaging(t *testing.T) {
	f := newFixture(t)
	c := f.client(f.a)
	_, err := c.CreateProject(project, "")
	require.NoError(t, err)
	var all []string
	for i := range 201 {
		name := fmt.Sprintf("store-%03d", i)
		require.NoError(t, c.CreateLogStore(project, name, 1, 1, false, 0))
		all = append(all, name)
	}
	for _, tc := range []struct {
		name         string
		offset, size int
		want         []string
	}{
		{"default size", 0, 0, all[:200]},
		{"page", 10, 3, all[10:13]},
		{"last page", 199, 5, all[199:]},
		{"past the end", 500, 10, nil},
		{"at most 500", 0, 500, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.ListLogStoreV2(project, tc.offset, tc.size, "")
			require.NoError(t, err)
			assert.Equal(t, tc.want, nilIfEmpty(got))
		})
	}
	_, err = c.ListLogStoreV2(project, 0, 501, "")
	assert.Equal(t, sls.CodeParameterInvalid, slsCode(t, err))
	_, err = c.ListLogStoreV2(project, -1, 10, "")
	assert.Equal(t, sls.CodeParameterInvalid, slsCode(t, err))
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// logstoreName is a fuzzy match: the names containing it. The Go SDK has no
// call that sends it, so the request is built as @alicloud/log (npm, v1.2)
// builds it: lib/client.js listLogStore sends logstoreName, offset and size
// through querystring.stringify, empty when unset, and signs them all.
func TestListLogStoresByName(t *testing.T) {
	f := newFixture(t)
	c := f.client(f.a)
	_, err := c.CreateProject(project, "")
	require.NoError(t, err)
	for _, name := range []string{"audit", "audit-2025", "app-audit", "trail", "metrics"} {
		require.NoError(t, c.CreateLogStore(project, name, 1, 1, false, 0))
	}
	for _, tc := range []struct {
		name, query string
		want        []string
		total       int
	}{
		{"contains", "logstoreName=audit&offset=&size=", []string{"app-audit", "audit", "audit-2025"}, 3},
		{"paged", "logstoreName=audit&offset=1&size=1", []string{"audit"}, 3},
		{"nothing", "logstoreName=nope&offset=&size=", []string{}, 0},
		{"all", "logstoreName=&offset=&size=", []string{"app-audit", "audit", "audit-2025", "metrics", "trail"}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.signedRequest(t, http.MethodGet, "/logstores?"+tc.query, map[string]string{
				"Content-Type": "application/json",
			}, nil)
			body, _ := io.ReadAll(resp.Body)
			require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
			var got struct {
				Count     int      `json:"count"`
				Total     int      `json:"total"`
				LogStores []string `json:"logstores"`
			}
			require.NoError(t, json.Unmarshal(body, &got))
			assert.Equal(t, tc.want, got.LogStores)
			assert.Equal(t, len(tc.want), got.Count)
			assert.Equal(t, tc.total, got.Total)
		})
	}
}
