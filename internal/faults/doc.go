// Package faults holds riskmon's fault-injection tests: real InfluxDB,
// Mosquitto and riskmon processes are killed and restarted in the middle
// of a run, and every acknowledged reading must land in InfluxDB. The
// tests print what they sent and what landed.
package faults
