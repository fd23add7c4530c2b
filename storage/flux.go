package storage

import (
	"fmt"
	"strings"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// fluxString quotes s as a Flux string literal. It is the one escaper of
// every query: besides the quote and the backslash, Flux interpolates
// "${", so the dollar is escaped too, and control characters are written
// as their escapes so a value can never end the literal early.
func fluxString(s string) string {
	return `"` + fluxEscaper.Replace(s) + `"`
}

var fluxEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, "\n", `\n`, "\r", `\r`, "\t", `\t`)

// fluxTime writes t as a Flux time literal (RFC 3339 in UTC).
func fluxTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// fluxDuration writes d as a Flux duration literal: whole seconds, else
// milliseconds, which is as fine as riskmon stores time.
func fluxDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}

// fluxKinds is a predicate matching the kind tag to any of kinds.
func fluxKinds(kinds []sensors.KindID) string {
	match := make([]string, len(kinds))
	for i, k := range kinds {
		match[i] = "r." + TagKind + " == " + fluxString(string(k))
	}
	return strings.Join(match, " or ")
}
