// Package demo runs riskmon whole on one machine for a newcomer: an
// embedded MQTT broker, a local InfluxDB, the service in process and a
// simulated fleet of every sector with one scripted gas leak. A timed run
// counts what reached InfluxDB and fails if a published reading is lost.
//
// With Options.Cluster it runs cluster mode instead: a 3-node NATS
// cluster with JetStream and MQTT listeners, several `riskmon serve`
// child processes and a webhook sink that counts pages; with
// Options.Chaos it kills and restarts an instance and a NATS node during
// the run, and fails on a lost reading or a duplicate page.
package demo
