//go:build !linux

package ingest

// freeBytes is unknown off Linux: no warning, no gauge.
func freeBytes(string) (uint64, bool) { return 0, false }
