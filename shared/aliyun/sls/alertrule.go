package sls

import (
	"context"
	"encoding/json"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"
)

// AlertRuleName is the name of the trail's alert rule.
const AlertRuleName = "kmsmig-failures"

// AlertRule is the trail's Alert 2.0 rule, as CreateAlert takes it:
// every minute, the failures of the last 5 minutes (ERROR and ALERT
// records and failed outcomes); it fires (severity high) when there is
// one. It is attached to the trail's dashboard and notifies through the
// built-in dynamic alert policy and the action policy actionPolicy ("":
// none, the rule notifies no one).
func AlertRule(project, logstore, actionPolicy string) *slssdk.Alert {
	return &slssdk.Alert{
		Name:        AlertRuleName,
		DisplayName: "kmsmig: migration failures in the last 5 minutes",
		Description: "Written by kmsmig setup-logs; changes made here are undone by the next setup-logs.",
		State:       "Enabled",
		Schedule:    &slssdk.Schedule{Type: slssdk.ScheduleTypeFixedRate, Interval: "1m"},
		Configuration: &slssdk.AlertConfiguration{
			Version: "2.0", Type: "default", Dashboard: DashboardName,
			QueryList: []*slssdk.AlertQuery{{
				StoreType: slssdk.StoreTypeLog, Project: project, Store: logstore,
				Query:        `(level: ERROR or level: ALERT or outcome: failed) | select count(1) as failures, arbitrary(message) as example`,
				TimeSpanType: "Relative", Start: "-5m", End: "now", PowerSqlMode: slssdk.PowerSqlModeAuto,
			}},
			GroupConfiguration: slssdk.GroupConfiguration{Type: slssdk.GroupTypeNoGroup, Fields: []string{}},
			SeverityConfigurations: []*slssdk.SeverityConfiguration{
				{Severity: slssdk.High, EvalCondition: slssdk.ConditionConfiguration{Condition: "failures > 0"}},
			},
			Labels: []*slssdk.Tag{{Key: "service", Value: "kmsmig"}},
			Annotations: []*slssdk.Tag{
				{Key: "title", Value: "kmsmig: ${failures} failures in the last 5 minutes"},
				{Key: "desc", Value: "Example: ${example}. Query the trail with the saved search kmsmig-failures; the dashboard kmsmig-overview shows the run."},
			},
			PolicyConfiguration: slssdk.PolicyConfiguration{AlertPolicyId: AlertPolicy, ActionPolicyId: actionPolicy, RepeatInterval: repeatInterval},
			Threshold:           1,
		},
	}
}

// ensureAlert creates or updates the trail's alert rule (GetAlert answers
// JobNotExist for a missing one). An existing rule keeps whether it is
// enabled: someone who disabled it meant to. With route nil the rule's
// routing (its policy configuration) is kept as found, so that routing
// set up in the console survives. It returns the action policy the rule
// names afterwards.
func ensureAlert(ctx context.Context, c *slssdk.Client, project, logstore string, route *Route) (Applied, string, error) {
	policy := ""
	if route != nil {
		policy = route.ActionPolicy
	}
	a, err := converge(ctx, object[*slssdk.Alert]{
		kind: "alert rule", name: AlertRuleName, notFound: "JobNotExist",
		get: func() (any, error) {
			raw, err := c.GetAlertString(project, AlertRuleName)
			if err != nil {
				return nil, err
			}
			return parseDoc([]byte(raw))
		},
		define: func(have any) (*slssdk.Alert, any, error) {
			def := AlertRule(project, logstore, policy)
			if h, ok := have.(map[string]any); ok {
				var cur slssdk.Alert
				if b, err := json.Marshal(h); err == nil && json.Unmarshal(b, &cur) == nil {
					if !enabled(cur) {
						def.State = "Disabled"
					}
					if route == nil && cur.Configuration != nil {
						def.Configuration.PolicyConfiguration = cur.Configuration.PolicyConfiguration
					}
				}
			}
			policy = def.Configuration.PolicyConfiguration.ActionPolicyId
			doc, err := jsonDoc(def)
			if m, ok := doc.(map[string]any); ok {
				// Whether the rule is enabled is kept, not compared: the
				// service may answer with status only.
				delete(m, "state")
			}
			return def, doc, err
		},
		send: func(create bool, def *slssdk.Alert) error {
			if create {
				return c.CreateAlert(project, def)
			}
			return c.UpdateAlert(project, def)
		},
	})
	return a, policy, err
}

// enabled reads a rule's status ("ENABLED"), or its older state field
// ("Enabled") when the status is missing.
func enabled(a slssdk.Alert) bool {
	if a.Status != "" {
		return a.IsEnabled()
	}
	return a.State != "Disabled"
}
