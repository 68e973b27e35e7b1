package sls

import (
	"context"
	"fmt"
	"strings"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"
)

// Alert 2.0 routes a rule's notifications through an alert policy (how
// alerts are grouped) and an action policy (where they are sent). kmsmig's
// rule uses the built-in dynamic alert policy, which sends with the action
// policy the rule names ("Dynamic action policy mechanism"), and names an
// action policy of its own. Action policies and webhook integrations are
// alert resource records: they belong to the Alibaba Cloud account, not to
// the project, and their ids must be unique in the account, so kmsmig's
// carry the project's name.
const (
	// AlertPolicy is the built-in dynamic alert policy.
	AlertPolicy = "sls.builtin.dynamic"
	// contentTemplate is the built-in content template the action policy
	// sends with.
	contentTemplate = "sls.builtin.cn"
	// repeatInterval is how often a rule that stays firing notifies again.
	repeatInterval = "30m"
)

// Route is where the alert rule's notifications go: the records
// EnsureTrail keeps for a project.
type Route struct {
	// ActionPolicy is the id of the action policy the rule names.
	ActionPolicy string
	// Webhooks are the webhook integrations it fires to.
	Webhooks []WebhookTarget
}

// WebhookTarget is one webhook integration (resource
// sls.alert.action_webhook).
type WebhookTarget struct {
	ID, Name string
	// Type is the integration's type: "custom" for a JSON webhook,
	// "dingtalk" for a DingTalk robot.
	Type   string
	URL    string
	Secret string
}

// String shows the integration, not its URL or secret: they carry tokens.
func (w WebhookTarget) String() string { return w.Type + " " + w.ID }

// GoString is String.
func (w WebhookTarget) GoString() string { return w.String() }

// RouteFor returns the route of project for the configured webhook and
// DingTalk robot; ok is false when neither is set. The records' ids start
// with RouteID(project).
func RouteFor(cfg SetupConfig) (r Route, ok bool) {
	base := RouteID(cfg.Project)
	if cfg.Webhook != "" {
		r.Webhooks = append(r.Webhooks, WebhookTarget{ID: base + "-webhook", Name: "kmsmig webhook (" + cfg.Project + ")",
			Type: "custom", URL: cfg.Webhook})
	}
	if cfg.DingTalk != "" {
		r.Webhooks = append(r.Webhooks, WebhookTarget{ID: base + "-dingtalk", Name: "kmsmig DingTalk robot (" + cfg.Project + ")",
			Type: "dingtalk", URL: cfg.DingTalk, Secret: cfg.DingTalkSecret})
	}
	if len(r.Webhooks) == 0 {
		return Route{}, false
	}
	r.ActionPolicy = base
	return r, true
}

// RouteID is the id of a project's action policy: "kmsmig-<project>", or
// the project's name when it already starts with "kmsmig".
func RouteID(project string) string {
	if strings.HasPrefix(project, "kmsmig") {
		return project
	}
	return "kmsmig-" + project
}

// integration is w's record value, in the documented form ("Data
// structure of alert resource data"): a custom webhook posts JSON; a
// DingTalk robot signs with its secret.
func (w WebhookTarget) integration() slssdk.WebhookIntegration {
	v := slssdk.WebhookIntegration{Id: w.ID, Name: w.Name, Type: w.Type, Url: w.URL, Method: "POST",
		Headers: []*slssdk.ResourceWebhookHeader{}, Secret: w.Secret}
	if w.Type == "custom" {
		v.Headers = []*slssdk.ResourceWebhookHeader{{Key: "Content-Type", Value: "application/json"}}
	}
	return v
}

// ActionPolicyScript is the action policy's DSL: one fire() per webhook
// integration, with the built-in content template, at any time.
func (r Route) ActionPolicyScript() string {
	lines := make([]string, len(r.Webhooks))
	for i, w := range r.Webhooks {
		lines[i] = fmt.Sprintf(`fire(type="webhook_integration", integration_type=%q, webhook_id=%q, template_id=%q, period="any")`,
			w.Type, w.ID, contentTemplate)
	}
	return strings.Join(lines, "\n")
}

// actionPolicy is r's action policy record value. The secondary script
// repeats the primary one (an empty one is an ActionPolicyEmpty error);
// escalation is off, so it is not used.
func (r Route) actionPolicy(project string) slssdk.ResourceActionPolicy {
	script := r.ActionPolicyScript()
	return slssdk.ResourceActionPolicy{ActionPolicyId: r.ActionPolicy, ActionPolicyName: "kmsmig alerts (" + project + ")",
		PrimaryPolicyScript: script, SecondaryPolicyScript: script, Labels: map[string]string{},
		EscalationStartTimeout: "10m", EscalationInprogressTimeout: "30m", EscalationTimeout: "1h"}
}

// ensureRoute creates or updates the webhook integrations and the action
// policy of r (GetResourceRecord answers ResourceRecordNotExist for a
// missing record).
func ensureRoute(ctx context.Context, c *slssdk.Client, project string, r Route) ([]Applied, error) {
	var out []Applied
	for _, w := range r.Webhooks {
		a, err := ensureRecord(ctx, c, "webhook integration", slssdk.ResourceNameWebhookIntegration, w.ID, w.Name, w.integration())
		if err != nil {
			return out, err
		}
		out = append(out, a)
	}
	p := r.actionPolicy(project)
	a, err := ensureRecord(ctx, c, "action policy", slssdk.ResourceNameActionPolicy, p.ActionPolicyId, p.ActionPolicyName, p)
	if err != nil {
		return out, err
	}
	return append(out, a), nil
}

// ensureRecord creates or updates one alert resource record whose value
// is value; the record's id and tag repeat the value's id and name, as
// the resource's schema wants.
func ensureRecord(ctx context.Context, c *slssdk.Client, kind, resource, id, tag string, value any) (Applied, error) {
	def := &slssdk.ResourceRecord{Id: id, Tag: tag, Value: slssdk.JsonMarshal(value)}
	return converge(ctx, object[*slssdk.ResourceRecord]{
		kind: kind, name: id, notFound: "ResourceRecordNotExist",
		get: func() (any, error) {
			have, err := c.GetResourceRecord(resource, id)
			if err != nil {
				return nil, err
			}
			return recordDoc(have.Tag, have.Value)
		},
		define: func(any) (*slssdk.ResourceRecord, any, error) {
			doc, err := recordDoc(def.Tag, def.Value)
			return def, doc, err
		},
		send: func(create bool, def *slssdk.ResourceRecord) error {
			if create {
				return c.CreateResourceRecord(resource, def)
			}
			return c.UpdateResourceRecord(resource, def)
		},
	})
}

// recordDoc is a record as a document: its tag and its value decoded (the
// value travels as a JSON string).
func recordDoc(tag, value string) (any, error) {
	v, err := parseDoc([]byte(value))
	if err != nil {
		return nil, err
	}
	return map[string]any{"tag": tag, "value": v}, nil
}
