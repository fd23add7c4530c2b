// Package lifecycle holds what happens to an alert after the rule engine
// raised it and before it is notified: the flapping hold (Flapper),
// shelving and out-of-service (Shelves), the alarm-system health counts
// (Health) and the operator's lifecycle of each alert, active or cleared
// and acknowledged or not (Lifecycle). Each is an alerting.Sink passing
// events on to the next.
//
// Nothing here knows the database: what must survive a restart is kept
// through the small RecordStore and KV interfaces, which alerting/store
// implements. Replay and tests use the same logic without a file.
package lifecycle
