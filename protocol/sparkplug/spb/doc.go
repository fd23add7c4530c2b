// Package spb holds the Go types generated from sparkplug_b.proto, riskmon's
// transcription of the Sparkplug B payload schema. Use package sparkplug
// rather than these types directly, except to build payloads in tests,
// simulators and command messages.
package spb
