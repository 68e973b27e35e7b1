// Package statekeys is the layout of the run-state store: every key any
// function reads or writes.
//
//	current                                              the run migrate, poll and rotate work on
//	runs/<run>/inventory.json | verdicts.json | plan.json   discover's documents
//	runs/<run>/report.json | report.md                   discover's report
//	runs/<run>/estimate.json                             per-resource task time (EWMA)
//	runs/<run>/batches/<account>/<region>/b<seq>.json    one batch state machine
//	runs/<run>/rotation/<account>/<region>/<kind>/<id>.json   rotation ledger entry
//	runs/<run>/handoff/<account>/<region>/b<seq>.json | .md   observe backend's handoff
//	runs/<run>/report/run.json | run.md                  run report
//	alerts/<key>                                         alert de-duplication
//
// Key ids and secret names become one key segment through Segment (Escape,
// or an escaped beginning and a digest when the escape is too long). The
// package only names keys; reading and writing them is shared/runstate's.
package statekeys
