package sls_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/shared/aliyun/sls"
	"github.com/kmsmig/kmsmig/twin/acs"
	twinsls "github.com/kmsmig/kmsmig/twin/sls"
)

const (
	hookURL    = "https://hooks.example.com/kmsmig?token=hook-t0ken"
	dingURL    = "https://oapi.dingtalk.com/robot/send?access_token=ding-t0ken"
	dingSecret = "SECding-s3cret"
	policyID   = project // RouteID: the project starts with kmsmig already
	hookID     = policyID + "-webhook"
	dingID     = policyID + "-dingtalk"
	trailStore = "kmsmig-audit"
)

// bareTwin is an SLS twin holding only the project, as a new deployment
// finds it.
func bareTwin(t *testing.T) *twin {
	t.Helper()
	keys := acs.NewKeyring()
	cred, err := keys.AddAccount(account, "", "")
	require.NoError(t, err)
	srv := twinsls.New(keys)
	require.NoError(t, srv.AddProject(account, project, "trail"))
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &twin{srv: srv, addr: ts.Listener.Addr().String(), keys: keys, cred: cred}
}

func (tw *twin) setupConfig(routed bool) sls.SetupConfig {
	cfg := sls.SetupConfig{Endpoint: tw.addr, DialAddr: tw.addr, Project: project, Logstore: trailStore,
		Credentials: sls.Credentials{AccessKeyID: tw.cred.AccessKeyID, AccessKeySecret: tw.cred.AccessKeySecret}}
	if routed {
		cfg.Webhook, cfg.DingTalk, cfg.DingTalkSecret = hookURL, dingURL, dingSecret
	}
	return cfg
}

// outcomes renders a result as "kind name: outcome" lines.
func outcomes(res sls.TrailResult) []string {
	out := []string{"logstore: " + res.Logstore, "index: " + res.Index}
	for _, a := range res.Applied {
		out = append(out, fmt.Sprintf("%s %s: %s", a.Kind, a.Name, a.Outcome))
	}
	return out
}

func expect(outcome string, routed bool, except map[string]string) []string {
	names := []string{"logstore: ", "index: ", "saved search kmsmig-failures: ", "saved search kmsmig-rotation: ",
		"saved search kmsmig-run-timeline: ", "dashboard kmsmig-overview: "}
	if routed {
		names = append(names, "webhook integration "+hookID+": ", "webhook integration "+dingID+": ", "action policy "+policyID+": ")
	}
	names = append(names, "alert rule kmsmig-failures: ")
	out := make([]string, len(names))
	for i, n := range names {
		o := outcome
		if e, ok := except[strings.TrimSuffix(n, ": ")]; ok {
			o = e
		}
		out[i] = n + o
	}
	return out
}

// TestEnsureTrail runs the set-up twice against the twin through the
// official client: everything is created, then nothing changes; a saved
// search changed behind its back is updated; what it wrote reads back with
// the official client as defined.
func TestEnsureTrail(t *testing.T) {
	tw := bareTwin(t)
	ctx := t.Context()
	res, err := sls.EnsureTrail(ctx, tw.setupConfig(true))
	require.NoError(t, err)
	assert.Equal(t, expect(sls.Created, true, nil), outcomes(res))
	assert.True(t, res.Routed)
	assert.Equal(t, policyID, res.ActionPolicy)

	res, err = sls.EnsureTrail(ctx, tw.setupConfig(true))
	require.NoError(t, err)
	assert.Equal(t, expect(sls.Unchanged, true, nil), outcomes(res))

	c := tw.client()
	changed := &slssdk.SavedSearch{SavedSearchName: "kmsmig-rotation", SearchQuery: "action: Something", Logstore: trailStore,
		DisplayName: "edited in the console", Topic: "kmsmig"}
	require.NoError(t, c.UpdateSavedSearch(project, changed))
	res, err = sls.EnsureTrail(ctx, tw.setupConfig(true))
	require.NoError(t, err)
	assert.Equal(t, expect(sls.Unchanged, true, map[string]string{"saved search kmsmig-rotation": sls.Updated}), outcomes(res))

	t.Run("saved searches read back", func(t *testing.T) {
		for _, q := range sls.SavedQueries(trailStore) {
			got, err := c.GetSavedSearch(project, q.Name)
			require.NoError(t, err)
			assert.Equal(t, &slssdk.SavedSearch{SavedSearchName: q.Name, SearchQuery: q.Query, Logstore: trailStore, Topic: "kmsmig",
				DisplayName: q.DisplayName}, got)
		}
	})
	t.Run("dashboard reads back", func(t *testing.T) {
		got, err := c.GetDashboard(project, sls.DashboardName)
		require.NoError(t, err)
		assert.Equal(t, sls.Dashboard(trailStore), *got)
		assert.Equal(t, "kmsmig: migration at a glance", got.DisplayName)
		var titles []string
		for _, ch := range got.ChartList {
			titles = append(titles, ch.Title)
			assert.Equal(t, trailStore, ch.Search.Logstore, ch.Title)
		}
		assert.Equal(t, []string{"resources moved per lane", "failures by reason", "rotation policies off now", "task durations"}, titles)
	})
	t.Run("alert rule reads back", func(t *testing.T) {
		got, err := c.GetAlert(project, sls.AlertRuleName)
		require.NoError(t, err)
		want := sls.AlertRule(project, trailStore, policyID)
		assert.Equal(t, want.Configuration, got.Configuration)
		assert.Equal(t, want.Schedule, got.Schedule)
		assert.True(t, got.IsEnabled())
		assert.Equal(t, sls.DashboardName, got.Configuration.Dashboard)
		assert.Equal(t, slssdk.PolicyConfiguration{AlertPolicyId: "sls.builtin.dynamic", ActionPolicyId: policyID, RepeatInterval: "30m"},
			got.Configuration.PolicyConfiguration)
		q := got.Configuration.QueryList[0]
		assert.Equal(t, []string{project, trailStore, "-5m", "now"}, []string{q.Project, q.Store, q.Start, q.End})
	})
	t.Run("routing reads back", func(t *testing.T) {
		rec, err := c.GetResourceRecord(slssdk.ResourceNameActionPolicy, policyID)
		require.NoError(t, err)
		var p slssdk.ResourceActionPolicy
		require.NoError(t, json.Unmarshal([]byte(rec.Value), &p))
		assert.Equal(t, policyID, p.ActionPolicyId)
		assert.Equal(t, `fire(type="webhook_integration", integration_type="custom", webhook_id="`+hookID+`", template_id="sls.builtin.cn", period="any")`+"\n"+
			`fire(type="webhook_integration", integration_type="dingtalk", webhook_id="`+dingID+`", template_id="sls.builtin.cn", period="any")`,
			p.PrimaryPolicyScript)
		for id, want := range map[string]slssdk.WebhookIntegration{
			hookID: {Id: hookID, Name: "kmsmig webhook (" + project + ")", Type: "custom", Url: hookURL, Method: "POST",
				Headers: []*slssdk.ResourceWebhookHeader{{Key: "Content-Type", Value: "application/json"}}},
			dingID: {Id: dingID, Name: "kmsmig DingTalk robot (" + project + ")", Type: "dingtalk", Url: dingURL, Method: "POST",
				Headers: []*slssdk.ResourceWebhookHeader{}, Secret: dingSecret},
		} {
			rec, err := c.GetResourceRecord(slssdk.ResourceNameWebhookIntegration, id)
			require.NoError(t, err)
			var got slssdk.WebhookIntegration
			require.NoError(t, json.Unmarshal([]byte(rec.Value), &got))
			assert.Equal(t, want, got)
			assert.Equal(t, want.Name, rec.Tag)
		}
	})

	t.Run("a disabled rule stays disabled", func(t *testing.T) {
		require.NoError(t, c.DisableAlert(project, sls.AlertRuleName))
		res, err := sls.EnsureTrail(ctx, tw.setupConfig(true))
		require.NoError(t, err)
		assert.Equal(t, expect(sls.Unchanged, true, nil), outcomes(res))
		got, err := c.GetAlert(project, sls.AlertRuleName)
		require.NoError(t, err)
		assert.False(t, got.IsEnabled())
		require.NoError(t, c.EnableAlert(project, sls.AlertRuleName))
	})
	t.Run("an edited rule is put back", func(t *testing.T) {
		a := sls.AlertRule(project, trailStore, policyID)
		a.Configuration.SeverityConfigurations[0].EvalCondition.Condition = "failures > 10"
		require.NoError(t, c.UpdateAlert(project, a))
		res, err := sls.EnsureTrail(ctx, tw.setupConfig(true))
		require.NoError(t, err)
		assert.Equal(t, expect(sls.Unchanged, true, map[string]string{"alert rule kmsmig-failures": sls.Updated}), outcomes(res))
		got, err := c.GetAlert(project, sls.AlertRuleName)
		require.NoError(t, err)
		assert.Equal(t, "failures > 0", got.Configuration.SeverityConfigurations[0].EvalCondition.Condition)
	})
	t.Run("without a webhook the routing is left as found", func(t *testing.T) {
		res, err := sls.EnsureTrail(ctx, tw.setupConfig(false))
		require.NoError(t, err)
		assert.Equal(t, expect(sls.Unchanged, false, nil), outcomes(res))
		assert.False(t, res.Routed)
		assert.Equal(t, policyID, res.ActionPolicy)
	})
}

func TestRouteID(t *testing.T) {
	assert.Equal(t, "kmsmig-audit", sls.RouteID("audit"))
	assert.Equal(t, "kmsmig-trail", sls.RouteID("kmsmig-trail"))
}

// A new deployment without a webhook gets a rule that names no action
// policy.
func TestEnsureTrailUnrouted(t *testing.T) {
	tw := bareTwin(t)
	res, err := sls.EnsureTrail(t.Context(), tw.setupConfig(false))
	require.NoError(t, err)
	assert.Equal(t, expect(sls.Created, false, nil), outcomes(res))
	assert.Empty(t, res.ActionPolicy)
	got, err := tw.client().GetAlert(project, sls.AlertRuleName)
	require.NoError(t, err)
	assert.Empty(t, got.Configuration.PolicyConfiguration.ActionPolicyId)
	assert.Empty(t, tw.srv.Records(account, slssdk.ResourceNameActionPolicy))
}

// Two set-ups at once both succeed: every object is created once and the
// set-up that lost a race converges on the winner's.
func TestEnsureTrailConcurrently(t *testing.T) {
	tw := bareTwin(t)
	var wg sync.WaitGroup
	results := make([]sls.TrailResult, 2)
	errs := make([]error, 2)
	for i := range results {
		wg.Go(func() { results[i], errs[i] = sls.EnsureTrail(t.Context(), tw.setupConfig(true)) })
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	for i, line := range outcomes(results[0]) {
		kind := line[:strings.LastIndex(line, ": ")]
		pair := []string{line[len(kind)+2:], outcomes(results[1])[i][len(kind)+2:]}
		assert.Contains(t, pair, sls.Created, kind)
		assert.NotEqual(t, pair[0], pair[1], "%s: %v", kind, pair)
	}
	res, err := sls.EnsureTrail(t.Context(), tw.setupConfig(true))
	require.NoError(t, err)
	assert.Equal(t, expect(sls.Unchanged, true, nil), outcomes(res))
}

// The saved searches without analytics run on the twin's query engine and
// find the records they are about.
func TestSavedQueriesFindRecords(t *testing.T) {
	tw := bareTwin(t)
	_, err := sls.EnsureTrail(t.Context(), tw.setupConfig(false))
	require.NoError(t, err)
	now := uint32(time.Now().Unix())
	lg := &slssdk.LogGroup{Topic: ptr("kmsmig")}
	for _, kv := range [][]string{
		{"level", "WARN", "action", "ResourceResult", "outcome", "failed"},
		{"level", "INFO", "action", "DisableRotation", "outcome", "updated"},
		{"level", "INFO", "action", "LedgerCreate", "outcome", "created"},
		{"level", "INFO", "action", "Classify", "outcome", "ok"},
	} {
		l := &slssdk.Log{Time: &now}
		for i := 0; i < len(kv); i += 2 {
			l.Contents = append(l.Contents, &slssdk.LogContent{Key: ptr(kv[i]), Value: ptr(kv[i+1])})
		}
		lg.Logs = append(lg.Logs, l)
	}
	c := tw.client()
	require.NoError(t, c.PutLogs(project, trailStore, lg))
	for name, want := range map[string]int{"kmsmig-failures": 1, "kmsmig-rotation": 2} {
		ss, err := c.GetSavedSearch(project, name)
		require.NoError(t, err)
		resp, err := c.GetLogs(project, trailStore, ss.Topic, int64(now)-60, int64(now)+60, ss.SearchQuery, 100, 0, false)
		require.NoError(t, err, name)
		assert.Len(t, resp.Logs, want, name)
	}
}

func ptr[T any](v T) *T { return &v }
