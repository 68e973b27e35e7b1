package sls

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"

	"github.com/kmsmig/kmsmig/shared/audit"
)

// SetupConfig says where the audit logstore lives and how to reach it.
type SetupConfig struct {
	Endpoint, Project, Logstore string
	Credentials                 Credentials
	// DialAddr, when set, sends every connection to this host:port (an
	// offline twin), as in Config.
	DialAddr string
	// TTLDays is the logstore's retention (default 180 days: audits of key
	// migrations are kept for months).
	TTLDays int
}

// SetupResult says what EnsureLogstore did, in the words of a
// level-triggered step.
type SetupResult struct {
	Logstore string `json:"logstore"` // created or unchanged
	Index    string `json:"index"`    // created, updated or unchanged
}

// AuditIndex is the logstore index that makes every audit field queryable:
// a text key per field (duration_ms as a long), plus a full-text line
// index.
func AuditIndex() slssdk.Index {
	token := []string{" ", ",", ";", "=", "(", ")", "[", "]", "{", "}", "?", "@", "&", "<", ">", "\"", "'", "\t", "\n", "\r"}
	keys := map[string]slssdk.IndexKey{}
	for _, f := range audit.FieldNames {
		k := slssdk.IndexKey{Token: token, Type: "text", DocValue: true}
		if f == "duration_ms" {
			k = slssdk.IndexKey{Type: "long", DocValue: true}
		}
		keys[f] = k
	}
	return slssdk.Index{Keys: keys, Line: &slssdk.IndexLine{Token: token}}
}

// EnsureLogstore creates the audit logstore when it is missing and gives
// it AuditIndex, creating or updating the index as needed. It is safe to
// run again: an existing logstore and an up-to-date index are left alone.
func EnsureLogstore(ctx context.Context, cfg SetupConfig) (SetupResult, error) {
	var res SetupResult
	if cfg.Endpoint == "" || cfg.Project == "" || cfg.Logstore == "" {
		return res, errors.New("sls: setup: endpoint, project and logstore are all required")
	}
	if cfg.TTLDays == 0 {
		cfg.TTLDays = 180
	}
	c := &slssdk.Client{Endpoint: WithScheme(cfg.Endpoint), AccessKeyID: cfg.Credentials.AccessKeyID,
		AccessKeySecret: cfg.Credentials.AccessKeySecret, SecurityToken: cfg.Credentials.SecurityToken}
	if cfg.DialAddr != "" {
		c.SetHTTPClient(dialingClient(cfg.DialAddr))
	} else {
		c.SetHTTPClient(&http.Client{})
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	_, err := c.GetLogStore(cfg.Project, cfg.Logstore)
	switch {
	case err == nil:
		res.Logstore = "unchanged"
	case isSLSCode(err, "LogStoreNotExist"):
		if err := c.CreateLogStore(cfg.Project, cfg.Logstore, cfg.TTLDays, 2, true, 16); err != nil && !isSLSCode(err, "LogStoreAlreadyExist") {
			return res, fmt.Errorf("sls: create logstore %s/%s: %w", cfg.Project, cfg.Logstore, err)
		}
		res.Logstore = "created"
	default:
		return res, fmt.Errorf("sls: get logstore %s/%s: %w", cfg.Project, cfg.Logstore, err)
	}
	want := AuditIndex()
	have, err := c.GetIndex(cfg.Project, cfg.Logstore)
	switch {
	case err == nil && indexCovers(have, want):
		res.Index = "unchanged"
	case err == nil:
		if err := c.UpdateIndex(cfg.Project, cfg.Logstore, want); err != nil {
			return res, fmt.Errorf("sls: update index of %s/%s: %w", cfg.Project, cfg.Logstore, err)
		}
		res.Index = "updated"
	case isSLSCode(err, "IndexConfigNotExist"):
		if err := c.CreateIndex(cfg.Project, cfg.Logstore, want); err != nil {
			return res, fmt.Errorf("sls: create index of %s/%s: %w", cfg.Project, cfg.Logstore, err)
		}
		res.Index = "created"
	default:
		return res, fmt.Errorf("sls: get index of %s/%s: %w", cfg.Project, cfg.Logstore, err)
	}
	return res, nil
}

// indexCovers reports whether have indexes every field of want with the
// same type.
func indexCovers(have *slssdk.Index, want slssdk.Index) bool {
	if have == nil {
		return false
	}
	for k, w := range want.Keys {
		h, ok := have.Keys[k]
		if !ok || h.Type != w.Type {
			return false
		}
	}
	return true
}

func isSLSCode(err error, code string) bool {
	var e *slssdk.Error
	if errors.As(err, &e) {
		return e.Code == code
	}
	return strings.Contains(err.Error(), code)
}

// SavedQuery is a query users add to the logstore (console: Saved
// Search).
type SavedQuery struct {
	Name        string `json:"savedsearchName"`
	DisplayName string `json:"displayName"`
	Query       string `json:"searchQuery"`
	Logstore    string `json:"logstore"`
	Topic       string `json:"topic"`
}

// SavedQueries are the trail's everyday questions: what failed, what
// happened to rotation, and one run's timeline (replace <run-id>).
func SavedQueries(logstore string) []SavedQuery {
	return []SavedQuery{
		{Name: "kmsmig-failures", DisplayName: "kmsmig: failures and alerts", Logstore: logstore, Topic: "kmsmig",
			Query: `level: ERROR or level: ALERT or outcome: failed`},
		{Name: "kmsmig-rotation", DisplayName: "kmsmig: rotation changes", Logstore: logstore, Topic: "kmsmig",
			Query: `action: DisableRotation or action: RestoreRotation or action: VerifyRotation or action: SweepRotation`},
		{Name: "kmsmig-run-timeline", DisplayName: "kmsmig: one run's timeline", Logstore: logstore, Topic: "kmsmig",
			Query: `run_id: <run-id> | select time, function, account, region, batch_id, task_id, action, outcome, reason_code, message order by time limit 10000`},
	}
}

// AlertRule is an SLS alert rule definition (the Alert 2.0 JSON users
// apply with the console or CreateAlert): failures in the last 5 minutes.
func AlertRule(project, logstore string) map[string]any {
	return map[string]any{
		"name":        "kmsmig-failures",
		"displayName": "kmsmig: migration failures in the last 5 minutes",
		"type":        "Alert",
		"state":       "Enabled",
		"schedule":    map[string]any{"type": "FixedRate", "interval": "1m"},
		"configuration": map[string]any{
			"version": "2.0",
			"type":    "default",
			"queryList": []map[string]any{{
				"storeType": "log", "project": project, "store": logstore,
				"query":        `(level: ERROR or level: ALERT or outcome: failed) | select count(*) as failures, arbitrary(message) as example`,
				"timeSpanType": "Relative", "start": "-5m", "end": "now",
			}},
			"severityConfigurations": []map[string]any{{"severity": 8, "evalCondition": map[string]any{"condition": "failures > 0"}}},
			"labels":                 []map[string]any{{"key": "service", "value": "kmsmig"}},
			"annotations": []map[string]any{
				{"key": "title", "value": "kmsmig: ${failures} failures in the last 5 minutes"},
				{"key": "desc", "value": "Example: ${example}. Query the trail with the saved search kmsmig-failures."},
			},
			"noDataFire": false, "sendResolved": false, "threshold": 1,
		},
	}
}
