package storage

import (
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

func TestFluxString(t *testing.T) {
	for in, want := range map[string]string{
		`plant-a`:     `"plant-a"`,
		`a"b`:         `"a\"b"`,
		`c:\dir`:      `"c:\\dir"`,
		"${injected}": `"\${injected}"`,
		"line\nbreak": `"line\nbreak"`,
		"tab\there":   `"tab\there"`,
	} {
		if got := fluxString(in); got != want {
			t.Errorf("fluxString(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestFluxDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Minute:             "60s",
		5 * time.Second:         "5s",
		1500 * time.Millisecond: "1500ms",
	} {
		if got := fluxDuration(d); got != want {
			t.Errorf("fluxDuration(%s) = %s, want %s", d, got, want)
		}
	}
}

// Every query quotes what it is given with the one escaper: a bucket,
// site or kind that holds a quote or "${" stays inside its literal.
func TestQueriesEscape(t *testing.T) {
	const hostile = `x"${y}\`
	esc := fluxString(hostile)
	t0 := time.Unix(1764345600, 0)
	kinds := []sensors.KindID{hostile}
	queries := map[string]string{
		"count":      countFlux(hostile, MeasurementReading, FieldValue, t0, t0.Add(time.Hour)),
		"series":     seriesFlux(hostile, SeriesQuery{Site: hostile, Sensor: hostile, From: t0, To: t0.Add(time.Hour), Step: time.Second}),
		"readings":   readingsFlux(hostile, ReadingsQuery{Site: hostile, Sensor: hostile}, t0, t0.Add(time.Hour)),
		"recent":     recentFlux(hostile, []KindRange{{Since: t0, Kinds: kinds}}, t0.Add(time.Hour), 32),
		"aggregates": aggregatesFlux(hostile, kinds, t0, t0.Add(time.Hour), time.Minute),
		"alerts":     alertEventsFlux(hostile, t0),
	}
	for name, q := range queries {
		raw := strings.Count(q, hostile)
		if raw != 0 || !strings.Contains(q, esc) {
			t.Errorf("%s: %d unescaped copies, escaped copy present %v:\n%s", name, raw, strings.Contains(q, esc), q)
		}
	}
}

// The warm-up's query reads each look-back with its own kinds, merges
// them only when there are several, and keeps each series' newest n.
func TestRecentFlux(t *testing.T) {
	t0 := time.Date(2025, 12, 1, 8, 0, 0, 0, time.UTC)
	one := recentFlux("riskmon", []KindRange{{Since: t0, Kinds: []sensors.KindID{"co", "h2s"}}}, t0.Add(time.Minute), 32)
	for _, s := range []string{`from(bucket: "riskmon")`, "range(start: 2025-12-01T08:00:00Z, stop: 2025-12-01T08:01:00.001Z)",
		`r.kind == "co" or r.kind == "h2s"`, "tail(n: 32)"} {
		if !strings.Contains(one, s) {
			t.Errorf("one range: lacks %s:\n%s", s, one)
		}
	}
	if strings.Contains(one, "union") {
		t.Errorf("one range merged:\n%s", one)
	}
	two := recentFlux("riskmon", []KindRange{{Since: t0, Kinds: []sensors.KindID{"co"}}, {Since: t0.Add(time.Minute), Kinds: []sensors.KindID{"ch4"}}},
		t0.Add(time.Hour), 32)
	if !strings.Contains(two, "union(tables: [r0, r1])") {
		t.Errorf("two ranges not merged:\n%s", two)
	}
}
