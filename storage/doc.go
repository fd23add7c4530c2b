// Package storage is riskmon's one way in and out of InfluxDB: the schema
// (measurements, tags and fields), the line protocol encoders of readings
// and alert events, the blocking writer the spool's forwarder sends
// through, and the typed Flux readers the console, the warm-up, replay,
// the simulator's scorer and the benchmarks use.
//
// Every query is built here, with one Flux string escaper, and uses
// nothing newer than the Flux of InfluxDB 1.8, so the same text serves
// InfluxDB 2.x and 1.8 with flux-enabled through the v2 API. Callers
// depend on a small interface of Client where that keeps their tests
// simple. See docs/architecture.md, "Storage".
package storage
