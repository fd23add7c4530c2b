// Package ingest takes gateway messages from MQTT, decodes them with the
// wire formats of package protocol, validates them against the sensor
// registry, parks what is bad in a dead-letter store and writes what is
// good to InfluxDB.
package ingest
