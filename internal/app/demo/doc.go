// Package demo runs riskmon whole on one machine for a newcomer: an
// embedded MQTT broker, a local InfluxDB, the service in process and a
// simulated fleet of every sector with one scripted gas leak. A timed run
// counts what reached InfluxDB and fails if a published reading is lost.
package demo
