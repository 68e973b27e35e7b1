package sls

import (
	"context"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"
)

// DashboardName is the name of the trail's dashboard; the alert rule is
// attached to it.
const DashboardName = "kmsmig-overview"

// Time ranges of the dashboard's charts, relative to now.
const (
	lastWeek  = "-604800s"
	lastMonth = "-2592000s"
)

// Dashboard is the trail's dashboard, "kmsmig: migration at a glance", as
// CreateDashboard takes it. Its charts read the records the engine writes
// (shared/migration):
//
//   - resources moved per lane: ResourceResult records with outcome
//     migrated, per hour and lane (account/region); a line chart of moved
//     over t, with lane as the series (pick lane as the chart's aggregate
//     column in the console if it shows one line: the SDK's chart type has
//     no field for it);
//   - failures by reason: ResourceResult records with outcome failed and
//     every refused rotation change, by reason_code;
//   - rotation policies off now: for each resource, the latest of its
//     DisableRotation (updated) and RestoreRotation (updated, unchanged or
//     superseded: anything but refused) records in the last 30 days; those
//     whose latest is DisableRotation, with the time and the run;
//   - task durations: from SubmitTask or AdoptTask (created) to the batch's
//     Transition to completed or failed, per task_id, in minutes.
//
// Time is the log's __time__ (the sink writes no time key).
func Dashboard(logstore string) slssdk.Dashboard {
	chart := func(title, typ, query, start string, x, y []string, pos int) slssdk.Chart {
		return slssdk.Chart{Title: title, Type: typ,
			Search: slssdk.ChartSearch{Logstore: logstore, Topic: "kmsmig", Query: query, Start: start, End: "now"},
			Display: slssdk.ChartDisplay{XAxisKeys: x, YAxisKeys: y, XPosition: float64(pos%2) * 12, YPosition: float64(pos/2) * 10,
				Width: 12, Height: 10, DisplayName: title}}
	}
	return slssdk.Dashboard{
		DashboardName: DashboardName,
		DisplayName:   "kmsmig: migration at a glance",
		Description:   "Written by kmsmig setup-logs from the audit trail's records; changes made here are undone by the next setup-logs.",
		Attribute:     map[string]string{"type": "grid"},
		ChartList: []slssdk.Chart{
			chart("resources moved per lane", "line",
				`action: ResourceResult and outcome: migrated | select date_trunc('hour', __time__) as t, concat(account, '/', region) as lane, count(1) as moved group by t, lane order by t limit 10000`,
				lastWeek, []string{"t"}, []string{"moved"}, 0),
			chart("failures by reason", "bar",
				`(action: ResourceResult and outcome: failed) or outcome: refused | select coalesce(nullif(reason_code, ''), '(none)') as reason, count(1) as failures group by reason order by failures desc limit 20`,
				lastWeek, []string{"reason"}, []string{"failures"}, 1),
			chart("rotation policies off now", "table",
				`(action: DisableRotation and outcome: updated) or (action: RestoreRotation and not outcome: refused) | select account, region, resource_type, resource_id, from_unixtime(max(__time__)) as off_since, max_by(run_id, __time__) as run_id group by account, region, resource_type, resource_id having max_by(action, __time__) = 'DisableRotation' order by off_since limit 1000`,
				lastMonth, nil, nil, 2),
			chart("task durations", "table",
				`(action: SubmitTask and outcome: created) or (action: AdoptTask and outcome: created) or (action: Transition and (outcome: completed or outcome: failed)) | select task_id, lane, batch_id, from_unixtime(started) as submitted, round((ended - started) / 60.0, 1) as minutes from (select task_id, arbitrary(concat(account, '/', region)) as lane, arbitrary(batch_id) as batch_id, min(case when action in ('SubmitTask', 'AdoptTask') then __time__ end) as started, max(case when action = 'Transition' then __time__ end) as ended from log where task_id != '' group by task_id) where started is not null and ended is not null order by minutes desc limit 1000`,
				lastWeek, nil, nil, 3),
		},
	}
}

// ensureDashboard creates or updates the trail's dashboard (GetDashboard
// answers DashboardNotExist for a missing one).
func ensureDashboard(ctx context.Context, c *slssdk.Client, project string, d slssdk.Dashboard) (Applied, error) {
	return converge(ctx, object[slssdk.Dashboard]{
		kind: "dashboard", name: d.DashboardName, notFound: "DashboardNotExist",
		get: func() (any, error) {
			raw, err := c.GetDashboardString(project, d.DashboardName)
			if err != nil {
				return nil, err
			}
			return parseDoc([]byte(raw))
		},
		define: func(any) (slssdk.Dashboard, any, error) {
			doc, err := jsonDoc(d)
			return d, doc, err
		},
		send: func(create bool, d slssdk.Dashboard) error {
			if create {
				return c.CreateDashboard(project, d)
			}
			return c.UpdateDashboard(project, d)
		},
	})
}
