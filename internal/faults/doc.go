// Package faults holds riskmon's fault-injection tests: real InfluxDB,
// Mosquitto and riskmon processes are killed and restarted in the middle
// of a run, and every acknowledged reading must land in InfluxDB and
// every alarm transition must be paged and journaled. The tests print
// what they sent, what landed and what was paged.
package faults
