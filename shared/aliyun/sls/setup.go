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
	// Webhook and DingTalk, when set, receive the alert rule's
	// notifications (EnsureTrail): each becomes an SLS webhook integration
	// and an action policy fires to them; DingTalkSecret signs the DingTalk
	// messages. With neither, the rule's routing is left as found.
	Webhook, DingTalk, DingTalkSecret string
}

// String shows where the trail lives, not the webhook URLs: they carry
// tokens.
func (c SetupConfig) String() string {
	return fmt.Sprintf("SetupConfig{%s %s/%s %v webhook:%t dingtalk:%t}", c.Endpoint, c.Project, c.Logstore, c.Credentials,
		c.Webhook != "", c.DingTalk != "")
}

// GoString is String.
func (c SetupConfig) GoString() string { return c.String() }

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
	c, cfg, err := setupClient(cfg)
	if err != nil {
		return SetupResult{}, err
	}
	return ensureLogstore(ctx, c, cfg)
}

// setupClient checks cfg, fills its defaults and returns an SDK client for
// it.
func setupClient(cfg SetupConfig) (*slssdk.Client, SetupConfig, error) {
	if cfg.Endpoint == "" || cfg.Project == "" || cfg.Logstore == "" {
		return nil, cfg, errors.New("sls: setup: endpoint, project and logstore are all required")
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
	return c, cfg, nil
}

func ensureLogstore(ctx context.Context, c *slssdk.Client, cfg SetupConfig) (SetupResult, error) {
	var res SetupResult
	if err := ctx.Err(); err != nil {
		return res, err
	}
	_, err := c.GetLogStore(cfg.Project, cfg.Logstore)
	switch {
	case err == nil:
		res.Logstore = Unchanged
	case isSLSCode(err, "LogStoreNotExist"):
		err := c.CreateLogStore(cfg.Project, cfg.Logstore, cfg.TTLDays, 2, true, 16)
		switch {
		case err == nil:
			res.Logstore = Created
		case isSLSCode(err, "LogStoreAlreadyExist"): // created meanwhile by another setup
			res.Logstore = Unchanged
		default:
			return res, fmt.Errorf("sls: create logstore %s/%s: %w", cfg.Project, cfg.Logstore, err)
		}
	default:
		return res, fmt.Errorf("sls: get logstore %s/%s: %w", cfg.Project, cfg.Logstore, err)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	want := AuditIndex()
	have, err := c.GetIndex(cfg.Project, cfg.Logstore)
	switch {
	case err == nil && indexCovers(have, want):
		res.Index = Unchanged
	case err == nil:
		if err := c.UpdateIndex(cfg.Project, cfg.Logstore, want); err != nil {
			return res, fmt.Errorf("sls: update index of %s/%s: %w", cfg.Project, cfg.Logstore, err)
		}
		res.Index = Updated
	case isSLSCode(err, "IndexConfigNotExist"):
		err := c.CreateIndex(cfg.Project, cfg.Logstore, want)
		switch {
		case err == nil:
			res.Index = Created
		case isSLSCode(err, "IndexAlreadyExist"):
			// Created meanwhile by another setup: converge on it.
			have, err := c.GetIndex(cfg.Project, cfg.Logstore)
			if err != nil {
				return res, fmt.Errorf("sls: get index of %s/%s: %w", cfg.Project, cfg.Logstore, err)
			}
			res.Index = Unchanged
			if !indexCovers(have, want) {
				if err := c.UpdateIndex(cfg.Project, cfg.Logstore, want); err != nil {
					return res, fmt.Errorf("sls: update index of %s/%s: %w", cfg.Project, cfg.Logstore, err)
				}
				res.Index = Updated
			}
		default:
			return res, fmt.Errorf("sls: create index of %s/%s: %w", cfg.Project, cfg.Logstore, err)
		}
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
