// Package protocol holds the wire formats gateways and riskmon share (see
// docs/protocol.md): the topic grammar riskmon/v1/{site}/{gateway}/{leaf},
// the field names of the JSON batch and its decoder. The line protocol
// and Sparkplug B formats are in the subpackages lineproto and sparkplug.
//
// It decodes and nothing more: whether a sensor exists, a value is in its
// range or a timestamp is plausible is for ingest to judge against the
// registry. A gateway (the simulator, or a real one written in Go) can
// therefore use it without pulling in the service, and this package
// imports nothing of riskmon's but sensors.
package protocol
