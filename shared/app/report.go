package app

import (
	"encoding/json"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/report"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

// RenderReports renders the discovery report of a run as JSON and
// Markdown; with prev (the campaign's previous run) it has the section on
// what changed since.
func RenderReports(inv *estate.Inventory, vs *verdict.Verdicts, p *plan.Plan, prev *report.Previous) (jsonDoc, markdown []byte, err error) {
	r := report.Build(inv, vs, p, report.Options{Previous: prev})
	if jsonDoc, err = json.MarshalIndent(r, "", "  "); err != nil {
		return nil, nil, err
	}
	return jsonDoc, []byte(r.Markdown()), nil
}
