package sls_test

import (
	"encoding/json"
	"net/http"
	"testing"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/sls"
)

// signings are the two signature versions the SDK speaks; every test of
// this file runs under both.
var signings = []struct {
	name string
	set  func(*slssdk.Client)
}{
	{"v1", func(*slssdk.Client) {}},
	{"v4", func(c *slssdk.Client) { c.AuthVersion, c.Region = slssdk.AuthV4, "cn-hangzhou" }},
}

func TestSavedSearches(t *testing.T) {
	for _, sg := range signings {
		t.Run(sg.name, func(t *testing.T) {
			f := newFixture(t, sls.WithRegion("cn-hangzhou"))
			c := f.setup(t)
			sg.set(c)
			ss := &slssdk.SavedSearch{SavedSearchName: "failures", SearchQuery: "outcome: failed", Logstore: store, DisplayName: "Failures"}

			_, err := c.GetSavedSearch(project, ss.SavedSearchName)
			assert.Equal(t, sls.CodeSavedSearchNotExist, slsCode(t, err))
			require.NoError(t, c.CreateSavedSearch(project, ss))
			assert.Equal(t, sls.CodeSavedSearchAlreadyExist, slsCode(t, c.CreateSavedSearch(project, ss)))
			got, err := c.GetSavedSearch(project, ss.SavedSearchName)
			require.NoError(t, err)
			assert.Equal(t, ss, got)

			ss.SearchQuery, ss.Topic = "outcome: refused", "kmsmig"
			require.NoError(t, c.UpdateSavedSearch(project, ss))
			got, err = c.GetSavedSearch(project, ss.SavedSearchName)
			require.NoError(t, err)
			assert.Equal(t, ss, got)
			assert.Equal(t, sls.CodeSavedSearchNotExist, slsCode(t, c.UpdateSavedSearch(project, &slssdk.SavedSearch{
				SavedSearchName: "nope", SearchQuery: "*", Logstore: store, DisplayName: "n"})))

			require.NoError(t, c.CreateSavedSearch(project, &slssdk.SavedSearch{SavedSearchName: "another", SearchQuery: "*", Logstore: store, DisplayName: "A"}))
			names, items, total, count, err := c.ListSavedSearchV2(project, "", 0, 0)
			require.NoError(t, err)
			assert.Equal(t, []string{"another", "failures"}, names)
			assert.Equal(t, []slssdk.ResponseSavedSearchItem{{SavedSearchName: "another", DisplayName: "A"}, {SavedSearchName: "failures", DisplayName: "Failures"}}, items)
			assert.Equal(t, 2, total)
			assert.Equal(t, 2, count)

			require.NoError(t, c.DeleteSavedSearch(project, "another"))
			assert.Equal(t, sls.CodeSavedSearchNotExist, slsCode(t, c.DeleteSavedSearch(project, "another")))
			assert.Equal(t, sls.CodeParameterInvalid, slsCode(t, c.CreateSavedSearch(project, &slssdk.SavedSearch{SavedSearchName: "ab", SearchQuery: "*", Logstore: store, DisplayName: "x"})),
				"a name of fewer than 3 characters")
		})
	}
}

// testAlert is an Alert 2.0 rule as the SDK's own e2e tests build one.
func testAlert(name string) *slssdk.Alert {
	return &slssdk.Alert{
		Name: name, DisplayName: "failures", Description: "d", State: "Enabled",
		Schedule: &slssdk.Schedule{Type: slssdk.ScheduleTypeFixedRate, Interval: "1m"},
		Configuration: &slssdk.AlertConfiguration{
			Version: "2.0", Type: "default", Dashboard: "overview", Threshold: 1,
			QueryList: []*slssdk.AlertQuery{{StoreType: slssdk.StoreTypeLog, Project: project, Store: store,
				Query: "outcome: failed | select count(*) as n", TimeSpanType: "Relative", Start: "-5m", End: "now"}},
			GroupConfiguration:     slssdk.GroupConfiguration{Type: slssdk.GroupTypeNoGroup},
			SeverityConfigurations: []*slssdk.SeverityConfiguration{{Severity: slssdk.High, EvalCondition: slssdk.ConditionConfiguration{Condition: "n > 0"}}},
			PolicyConfiguration:    slssdk.PolicyConfiguration{AlertPolicyId: "sls.builtin.dynamic", ActionPolicyId: "team", RepeatInterval: "30m"},
		},
	}
}

func TestAlerts(t *testing.T) {
	for _, sg := range signings {
		t.Run(sg.name, func(t *testing.T) {
			f := newFixture(t, sls.WithRegion("cn-hangzhou"))
			c := f.setup(t)
			sg.set(c)
			a := testAlert("kmsmig-failures")

			_, err := c.GetAlert(project, a.Name)
			assert.Equal(t, sls.CodeJobNotExist, slsCode(t, err))
			require.NoError(t, c.CreateAlert(project, a))
			assert.Equal(t, sls.CodeJobAlreadyExist, slsCode(t, c.CreateAlert(project, a)))

			got, err := c.GetAlert(project, a.Name)
			require.NoError(t, err)
			assert.True(t, got.IsEnabled())
			assert.Equal(t, "Enabled", got.State)
			assert.Equal(t, a.Configuration, got.Configuration, "the configuration comes back as sent")
			assert.Equal(t, a.Schedule, got.Schedule)
			assert.Positive(t, got.CreateTime)
			raw, err := c.GetAlertString(project, a.Name)
			require.NoError(t, err)
			assert.Contains(t, raw, `"type":"Alert"`)

			require.NoError(t, c.DisableAlert(project, a.Name))
			got, err = c.GetAlert(project, a.Name)
			require.NoError(t, err)
			assert.False(t, got.IsEnabled())

			// An update without state keeps the rule disabled; with one, sets it.
			a.State, a.DisplayName = "", "renamed"
			require.NoError(t, c.UpdateAlert(project, a))
			got, err = c.GetAlert(project, a.Name)
			require.NoError(t, err)
			assert.Equal(t, "renamed", got.DisplayName)
			assert.False(t, got.IsEnabled())
			a.State = "Enabled"
			require.NoError(t, c.UpdateAlert(project, a))
			got, err = c.GetAlert(project, a.Name)
			require.NoError(t, err)
			assert.True(t, got.IsEnabled())

			other := testAlert("other")
			other.Configuration.Dashboard = "elsewhere"
			require.NoError(t, c.CreateAlert(project, other))
			list, total, count, err := c.ListAlert(project, "", "", 0, 0)
			require.NoError(t, err)
			require.Len(t, list, 2)
			assert.Equal(t, "kmsmig-failures", list[0].Name)
			assert.Equal(t, 2, total)
			assert.Equal(t, 2, count)
			list, _, _, err = c.ListAlert(project, "", "overview", 0, 0)
			require.NoError(t, err)
			require.Len(t, list, 1, "resourceProvider lists the rules attached to a dashboard")
			list, _, _, err = c.ListAlert(project, "oth", "", 0, 0)
			require.NoError(t, err)
			require.Len(t, list, 1)

			require.NoError(t, c.DeleteAlert(project, "other"))
			assert.Equal(t, sls.CodeJobNotExist, slsCode(t, c.DeleteAlert(project, "other")))
			assert.Equal(t, sls.CodeJobNotExist, slsCode(t, c.EnableAlert(project, "other")))
			assert.Equal(t, sls.CodeParameterInvalid, slsCode(t, c.CreateAlertString(project, `{"name":"x","type":"Alert","displayName":"x"}`)),
				"configuration and schedule are required")
		})
	}
}

func testDashboard(name string) slssdk.Dashboard {
	return slssdk.Dashboard{DashboardName: name, DisplayName: "Overview", Description: "d", Attribute: map[string]string{"type": "grid"},
		ChartList: []slssdk.Chart{{Title: "moved", Type: "line",
			Search:  slssdk.ChartSearch{Logstore: store, Query: "* | select 1", Start: "-86400s", End: "now"},
			Display: slssdk.ChartDisplay{XAxisKeys: []string{"t"}, YAxisKeys: []string{"n"}, Width: 12, Height: 8, DisplayName: "moved"}}}}
}

func TestDashboards(t *testing.T) {
	for _, sg := range signings {
		t.Run(sg.name, func(t *testing.T) {
			f := newFixture(t, sls.WithRegion("cn-hangzhou"))
			c := f.setup(t)
			sg.set(c)
			d := testDashboard("overview")

			_, err := c.GetDashboard(project, d.DashboardName)
			assert.Equal(t, sls.CodeDashboardNotExist, slsCode(t, err))
			require.NoError(t, c.CreateDashboard(project, d))
			err = c.CreateDashboard(project, d)
			assert.Equal(t, sls.CodeParameterInvalid, slsCode(t, err))
			assert.Contains(t, err.Error(), "specified dashboard already exists")

			got, err := c.GetDashboard(project, d.DashboardName)
			require.NoError(t, err)
			assert.Equal(t, d, *got)

			d.ChartList = append(d.ChartList, d.ChartList[0])
			err = c.UpdateDashboard(project, d)
			assert.Equal(t, sls.CodePostBodyInvalid, slsCode(t, err))
			assert.Contains(t, err.Error(), "Duplicate chart title: moved")
			d.ChartList[1].Title = "moved again"
			require.NoError(t, c.UpdateDashboard(project, d))
			got, err = c.GetDashboard(project, d.DashboardName)
			require.NoError(t, err)
			assert.Equal(t, d, *got)
			assert.Equal(t, sls.CodeDashboardNotExist, slsCode(t, c.UpdateDashboard(project, testDashboard("nope"))))
			assert.Equal(t, sls.CodeInvalidDashboardName, slsCode(t, c.CreateDashboard(project, testDashboard("a"))))

			require.NoError(t, c.CreateDashboard(project, testDashboard("second")))
			names, items, count, total, err := c.ListDashboardV2(project, "", 0, 0)
			require.NoError(t, err)
			assert.Equal(t, []string{"overview", "second"}, names)
			assert.Equal(t, "Overview", items[0].DisplayName)
			assert.Equal(t, 2, count)
			assert.Equal(t, 2, total)

			require.NoError(t, c.DeleteDashboard(project, "second"))
			assert.Equal(t, sls.CodeDashboardNotExist, slsCode(t, c.DeleteDashboard(project, "second")))
		})
	}
}

// Alert resource records belong to the account, not to a project: the SDK
// sends them to the bare endpoint.
func TestResourceRecords(t *testing.T) {
	for _, sg := range signings {
		t.Run(sg.name, func(t *testing.T) {
			f := newFixture(t, sls.WithRegion("cn-hangzhou"))
			c := f.client(f.a)
			sg.set(c)
			hook := slssdk.WebhookIntegration{Id: "team-hook", Name: "Team", Type: "custom", Url: "https://example.com/hook", Method: "POST",
				Headers: []*slssdk.ResourceWebhookHeader{{Key: "Content-Type", Value: "application/json"}}}
			rec := &slssdk.ResourceRecord{Id: hook.Id, Tag: hook.Name, Value: slssdk.JsonMarshal(hook)}

			_, err := c.GetResourceRecord(slssdk.ResourceNameWebhookIntegration, hook.Id)
			assert.Equal(t, sls.CodeResourceRecordNotExist, slsCode(t, err))
			require.NoError(t, c.CreateResourceRecord(slssdk.ResourceNameWebhookIntegration, rec))
			assert.Equal(t, sls.CodeResourceRecordAlreadyExist, slsCode(t, c.CreateResourceRecord(slssdk.ResourceNameWebhookIntegration, rec)))
			got, err := c.GetResourceRecord(slssdk.ResourceNameWebhookIntegration, hook.Id)
			require.NoError(t, err)
			assert.Equal(t, rec.Tag, got.Tag)
			assert.JSONEq(t, rec.Value, got.Value)

			hook.Url = "https://example.com/other"
			rec.Value = slssdk.JsonMarshal(hook)
			require.NoError(t, c.UpdateResourceRecord(slssdk.ResourceNameWebhookIntegration, rec))
			list, count, total, err := c.ListResourceRecord(slssdk.ResourceNameWebhookIntegration, 0, 0)
			require.NoError(t, err)
			require.Len(t, list, 1)
			var back slssdk.WebhookIntegration
			require.NoError(t, json.Unmarshal([]byte(list[0].Value), &back))
			assert.Equal(t, hook, back)
			assert.Equal(t, 1, count)
			assert.Equal(t, 1, total)

			// Another account sees none of them.
			_, err = f.client(f.b).GetResourceRecord(slssdk.ResourceNameWebhookIntegration, hook.Id)
			assert.Equal(t, sls.CodeResourceRecordNotExist, slsCode(t, err))
			_, err = c.GetResourceRecord("sls.no.such", "x")
			assert.Equal(t, sls.CodeResourceNotExist, slsCode(t, err))

			require.NoError(t, c.DeleteResourceRecord(slssdk.ResourceNameWebhookIntegration, hook.Id))
			_, err = c.GetResourceRecord(slssdk.ResourceNameWebhookIntegration, hook.Id)
			assert.Equal(t, sls.CodeResourceRecordNotExist, slsCode(t, err))
			assert.Empty(t, f.srv.Records(accountA, slssdk.ResourceNameWebhookIntegration))
		})
	}
}

// The project-scoped operations keep the project's owner rule: another
// account is refused.
func TestAlertingOtherAccount(t *testing.T) {
	f := newFixture(t)
	f.setup(t)
	c := f.client(f.b)
	_, err := c.GetDashboard(project, "overview")
	assert.Equal(t, sls.CodeUnauthorized, slsCode(t, err))
	err = c.CreateSavedSearch(project, &slssdk.SavedSearch{SavedSearchName: "abc", SearchQuery: "*", Logstore: store, DisplayName: "x"})
	assert.Equal(t, sls.CodeUnauthorized, slsCode(t, err))
	var e *slssdk.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, http.StatusUnauthorized, int(e.HTTPCode))
}
