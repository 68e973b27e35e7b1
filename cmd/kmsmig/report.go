package main

import (
	"io"

	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/report"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

// renderReports renders a run's discovery report for the store, with what
// changed since prev (the campaign's previous run, nil for none).
func renderReports(inv *estate.Inventory, vs *verdict.Verdicts, p *plan.Plan, prev *report.Previous) ([]byte, []byte, error) {
	return app.RenderReports(inv, vs, p, prev)
}

// printReport prints the report of a discover/plan run as Markdown or JSON.
func printReport(w io.Writer, out app.DiscoverOutcome, asJSON bool) error {
	j, md, err := app.RenderReports(out.Inventory, out.Verdicts, out.Plan, out.Previous)
	if err != nil {
		return err
	}
	if asJSON {
		_, err = w.Write(j)
	} else {
		_, err = w.Write(md)
	}
	return err
}
