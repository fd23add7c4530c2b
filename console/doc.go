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
// Acknowledgement, operator accounts and the shift journal are not part of
// the console yet; see docs/console.md for where they will go.
package console
