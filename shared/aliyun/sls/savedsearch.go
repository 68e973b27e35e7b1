package sls

import (
	"context"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"
)

// SavedQuery is a query users add to the logstore (console: Saved
// Search), in the wire form of CreateSavedSearch.
type SavedQuery struct {
	Name        string `json:"savedsearchName"`
	DisplayName string `json:"displayName"`
	Query       string `json:"searchQuery"`
	Logstore    string `json:"logstore"`
	Topic       string `json:"topic"`
}

// SavedQueries are the trail's everyday questions: what failed, what
// happened to rotation (switched off and back, the ledger, the sweep and
// the verification), and one run's timeline (replace <run-id>). A record's
// time is the log's __time__: the sink writes no time key.
func SavedQueries(logstore string) []SavedQuery {
	return []SavedQuery{
		{Name: "kmsmig-failures", DisplayName: "kmsmig: failures and alerts", Logstore: logstore, Topic: "kmsmig",
			Query: `level: ERROR or level: ALERT or outcome: failed`},
		{Name: "kmsmig-rotation", DisplayName: "kmsmig: rotation changes", Logstore: logstore, Topic: "kmsmig",
			Query: `action: DisableRotation or action: RestoreRotation or action: Ledger* or action: Sweep or action: Verify`},
		{Name: "kmsmig-run-timeline", DisplayName: "kmsmig: one run's timeline", Logstore: logstore, Topic: "kmsmig",
			Query: `run_id: <run-id> | select from_unixtime(__time__) as time, function, account, region, batch_id, task_id, action, outcome, reason_code, message order by __time__ limit 10000`},
	}
}

// ensureSavedSearch creates or updates one saved search
// (GetSavedSearch answers SavedSearchNotExist for a missing one).
func ensureSavedSearch(ctx context.Context, c *slssdk.Client, project string, q SavedQuery) (Applied, error) {
	def := &slssdk.SavedSearch{SavedSearchName: q.Name, SearchQuery: q.Query, Logstore: q.Logstore, Topic: q.Topic, DisplayName: q.DisplayName}
	return converge(ctx, object[*slssdk.SavedSearch]{
		kind: "saved search", name: q.Name, notFound: "SavedSearchNotExist",
		get: func() (any, error) {
			have, err := c.GetSavedSearch(project, q.Name)
			if err != nil {
				return nil, err
			}
			return jsonDoc(have)
		},
		define: func(any) (*slssdk.SavedSearch, any, error) {
			doc, err := jsonDoc(def)
			return def, doc, err
		},
		send: func(create bool, def *slssdk.SavedSearch) error {
			if create {
				return c.CreateSavedSearch(project, def)
			}
			return c.UpdateSavedSearch(project, def)
		},
	})
}
