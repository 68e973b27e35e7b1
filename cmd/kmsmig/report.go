package main

import (
	"io"

	"github.com/kmsmig/kmsmig/shared/app"
	"github.com/kmsmig/kmsmig/shared/estate"
	"github.com/kmsmig/kmsmig/shared/plan"
	"github.com/kmsmig/kmsmig/shared/verdict"
)

// renderReports renders a run's discovery report for the store.
func renderReports(inv *estate.Inventory, vs *verdict.Verdicts, p *plan.Plan) ([]byte, []byte, error) {
	return app.RenderReports(inv, vs, p)
}

// printReport prints the report of a discover/plan run as Markdown or JSON.
func printReport(w io.Writer, out app.DiscoverOutcome, asJSON bool) error {
	j, md, err := app.RenderReports(out.Inventory, out.Verdicts, out.Plan)
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
