package app

import (
	"encoding/json"

	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/report"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

// RenderReports renders the discovery report of a run as JSON and
// Markdown.
func RenderReports(inv *estate.Inventory, vs *verdict.Verdicts, p *plan.Plan) (jsonDoc, markdown []byte, err error) {
	r := report.Build(inv, vs, p, report.Options{})
	if jsonDoc, err = json.MarshalIndent(r, "", "  "); err != nil {
		return nil, nil, err
	}
	return jsonDoc, []byte(r.Markdown()), nil
}
