// Package console serves the control-room web console: a JSON API over the
// open and recently resolved alerts, the sites and their sensors' latest
// values, a Server-Sent Events stream of alert events and reading updates,
// and the embedded HTML/JS board that operators watch.
//
// Everything the console shows lives in a Hub, fed from two places: the
// alerting engine's sink (Hub.Emit, never blocks) and the ingest path
// (Hub.Readings, one map update per reading). Handler serves a Hub over
// HTTP. Neither keeps global state, so a test can run several side by side.
//
// Auth holds the console's accounts (from configuration), in-memory
// sessions with CSRF tokens, the login rate limits and the bearer tokens of
// machine clients; Handler guards every endpoint with it. Operators
// acknowledge alerts from the board through the Acker interface, which
// lifecycle.Lifecycle satisfies. See docs/console.md.
package console
