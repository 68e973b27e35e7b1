package kms_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/credentials-go/credentials"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/kms"
	"github.com/kmsmig/kmsmig/shared/aliyun/ram"
	"github.com/kmsmig/kmsmig/shared/discover"
	"github.com/kmsmig/kmsmig/testinfra/stack"
	"github.com/kmsmig/kmsmig/twin/acs"
	kmstwin "github.com/kmsmig/kmsmig/twin/kms"
)

// inFlightCounter sits in front of the twin's endpoints and records the
// most requests it ever had open at once, across every region.
type inFlightCounter struct {
	mu         sync.Mutex
	open, most int
}

func (c *inFlightCounter) front(t *testing.T, target string) string {
	t.Helper()
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.open++
		c.most = max(c.most, c.open)
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			c.open--
			c.mu.Unlock()
		}()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// The whole demo estate (9 lanes, each with many describe workers) is
// discovered with at most MaxInFlight requests open at the service at any
// moment, whatever the number of lanes.
func TestCallsInFlightAreBounded(t *testing.T) {
	st, err := stack.Start(stack.Options{Inventory: kmstwin.DemoInventory(), Unthrottled: true, Faults: acs.Faults{Latency: 20 * time.Millisecond}})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	var counter inFlightCounter
	endpoints := map[string]string{}
	for region, addr := range st.Ready().KMS {
		endpoints[region] = counter.front(t, addr)
	}
	creds := ram.Credentials{Static: map[string]credentials.Credential{}}
	var accounts []string
	for _, a := range st.Ready().Accounts {
		c, err := ram.Static(a.AccessKeyID, a.AccessKeySecret, "")
		require.NoError(t, err)
		creds.Static[a.ID] = c
		accounts = append(accounts, a.ID)
	}
	const bound = 4
	c, err := kms.New(kms.Config{Endpoints: endpoints, Insecure: true, Credentials: creds.For,
		Quotas: map[kms.Group]float64{}, MaxInFlight: bound})
	require.NoError(t, err)
	inv, err := discover.Run(t.Context(), c, discover.Options{Accounts: accounts, SeedRegion: "cn-hangzhou"})
	require.NoError(t, err)
	require.Len(t, inv.Lanes, len(accounts)*len(endpoints))
	for _, li := range inv.Lanes {
		require.Empty(t, li.Errors, "lane %s", li.Lane)
	}
	// Reaching the bound shows the estate offered more concurrency than it.
	require.Equal(t, bound, counter.most, "requests open at once at the service")
}
