package sls

import (
	"context"
)

// TrailResult says what EnsureTrail did.
type TrailResult struct {
	SetupResult
	// Applied lists the saved searches, the dashboard, the webhook
	// integrations and action policy (when routed) and the alert rule, in
	// the order they were applied.
	Applied []Applied `json:"applied"`
	// ActionPolicy is the action policy the alert rule names afterwards
	// ("": none; the rule notifies no one).
	ActionPolicy string `json:"actionPolicy"`
	// Routed says whether EnsureTrail set the routing (Webhook or DingTalk
	// configured) or left the rule's as found.
	Routed bool `json:"routed"`
}

// EnsureTrail brings the audit trail's SLS set-up to its definition, each
// object created when missing, updated when it differs and otherwise left
// alone: the logstore and its index (EnsureLogstore), the saved searches
// (SavedQueries), the dashboard (Dashboard), and the alert rule
// (AlertRule), attached to the dashboard. With a webhook or a DingTalk
// robot configured it also keeps their webhook integrations and an action
// policy firing to them (RouteFor), and the rule names that policy. It is
// safe to run again and to run concurrently: a create that loses a race
// converges on the winner's object. It stops at the first error and
// returns what it did until then.
func EnsureTrail(ctx context.Context, cfg SetupConfig) (TrailResult, error) {
	var res TrailResult
	c, cfg, err := setupClient(cfg)
	if err != nil {
		return res, err
	}
	if res.SetupResult, err = ensureLogstore(ctx, c, cfg); err != nil {
		return res, err
	}
	for _, q := range SavedQueries(cfg.Logstore) {
		a, err := ensureSavedSearch(ctx, c, cfg.Project, q)
		if err != nil {
			return res, err
		}
		res.Applied = append(res.Applied, a)
	}
	a, err := ensureDashboard(ctx, c, cfg.Project, Dashboard(cfg.Logstore))
	if err != nil {
		return res, err
	}
	res.Applied = append(res.Applied, a)
	var route *Route
	if r, ok := RouteFor(cfg); ok {
		route, res.Routed = &r, true
		applied, err := ensureRoute(ctx, c, cfg.Project, r)
		res.Applied = append(res.Applied, applied...)
		if err != nil {
			return res, err
		}
	}
	a, res.ActionPolicy, err = ensureAlert(ctx, c, cfg.Project, cfg.Logstore, route)
	if err != nil {
		return res, err
	}
	res.Applied = append(res.Applied, a)
	return res, nil
}
