// Package app is the application layer of the four functions: their
// configuration (environment variables, validated all at once), the events
// they accept, and the handlers that tie the domain (discover, verdict,
// plan, run state, audit) to the adapters. functions/<name>/main.go only
// reads the configuration, builds the adapters and starts the handler.
package app
