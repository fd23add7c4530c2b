package alerting

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riskmon/riskmon/sensors"
	"go.yaml.in/yaml/v3"
)

// Rule tests let engineers check how the rules answer a made-up series
// before a site relies on them, in the spirit of `promtool test rules`: a
// YAML file gives a sensor, its readings as a compact series, and the
// alert events expected at given times. `riskmon rules test FILE…` runs
// them; the default rule pack's own tests live in testdata/ruletests.

// RuleTestFile is one file of rule tests.
type RuleTestFile struct {
	Tests []RuleTest `yaml:"tests"`
}

// RuleTest feeds one sensor a series and lists the events it must raise.
type RuleTest struct {
	Name string `yaml:"name"`
	// Kind is the sensor kind; its catalog setpoints and default rule
	// pack apply unless Setpoints replaces the setpoints.
	Kind      sensors.KindID `yaml:"kind"`
	Setpoints []struct {
		Level     string  `yaml:"level"`
		Direction string  `yaml:"direction"`
		Value     float64 `yaml:"value"`
		Clear     float64 `yaml:"clear"`
	} `yaml:"setpoints"`
	// Interval is the time between two values of the series.
	Interval time.Duration `yaml:"interval"`
	// Series is the readings in promtool's notation: numbers separated
	// by spaces, "a+bxn" for a, a+b, … a+n·b, "axn" for a repeated n+1
	// times, and "_" (or "_xn") for intervals without a reading.
	Series string `yaml:"series"`
	// For is the threshold on-delay.
	For time.Duration `yaml:"for"`
	// NoForecast turns the forecast early warning off for this test.
	NoForecast bool `yaml:"no_forecast"`
	// Expect lists every event the series must raise, in order; any
	// other event fails the test.
	Expect []ExpectedEvent `yaml:"expect"`
}

// ExpectedEvent is one event a rule test expects.
type ExpectedEvent struct {
	// At is the time since the first value of the series.
	At    time.Duration `yaml:"at"`
	Rule  string        `yaml:"rule"`
	Type  string        `yaml:"type"`
	Level int           `yaml:"level"`
}

func (e ExpectedEvent) String() string {
	return fmt.Sprintf("%s %s %s level %d", e.At, e.Rule, e.Type, e.Level)
}

// maxSeries bounds the readings one series expands to, so a typo such as
// "1x99999999999" is an error rather than the machine's memory.
const maxSeries = 1_000_000

// ParseSeries expands promtool's series notation; NaN marks a gap.
func ParseSeries(s string) ([]float64, error) {
	var out []float64
	for _, tok := range strings.Fields(s) {
		base, count := tok, 0
		if i := strings.LastIndexByte(tok, 'x'); i > 0 {
			n, err := strconv.Atoi(tok[i+1:])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("series term %q: the count after x is not a whole number", tok)
			}
			base, count = tok[:i], n
		}
		if count >= maxSeries-len(out) {
			return nil, fmt.Errorf("series term %q: more than %d readings in the series", tok, maxSeries)
		}
		if base == "_" {
			for range count + 1 {
				out = append(out, math.NaN())
			}
			continue
		}
		start, step := base, "0"
		if i := strings.IndexAny(base[1:], "+-"); i >= 0 && count > 0 {
			start, step = base[:i+1], base[i+1:]
		}
		a, err := strconv.ParseFloat(start, 64)
		if err != nil {
			return nil, fmt.Errorf("series term %q: %v", tok, err)
		}
		b, err := strconv.ParseFloat(step, 64)
		if err != nil {
			return nil, fmt.Errorf("series term %q: %v", tok, err)
		}
		for k := range count + 1 {
			out = append(out, a+float64(k)*b)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("series is empty")
	}
	return out, nil
}

// LoadRuleTests reads a rule test file; unknown keys are errors.
func LoadRuleTests(r io.Reader) (*RuleTestFile, error) {
	var f RuleTestFile
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	return &f, nil
}

// Run runs one test against the catalog and returns the differences
// between the events raised and those expected, empty when it passes.
func (rt *RuleTest) Run(cat *sensors.Catalog) ([]string, error) {
	values, err := ParseSeries(rt.Series)
	if err != nil {
		return nil, err
	}
	if rt.Interval <= 0 {
		return nil, errors.New("interval must be positive")
	}
	sn := sensors.Sensor{ID: "S-1", Site: "test", Kind: rt.Kind, Gateway: "gw"}
	for i, sp := range rt.Setpoints {
		lvl, err := sensors.ParseLevel(sp.Level)
		if err != nil {
			return nil, fmt.Errorf("setpoints[%d]: %w", i, err)
		}
		dir, err := sensors.ParseDirection(sp.Direction)
		if err != nil {
			return nil, fmt.Errorf("setpoints[%d]: %w", i, err)
		}
		sn.Setpoints = append(sn.Setpoints, sensors.Setpoint{Level: lvl, Direction: dir, Value: sp.Value, Clear: sp.Clear, Source: "rule test"})
	}
	reg, err := sensors.NewRegistry(cat, []sensors.Site{{ID: "test", Sector: sensors.SectorHazchem}}, []sensors.Sensor{sn})
	if err != nil {
		return nil, err
	}
	var got []Event
	opts := Options{For: rt.For}
	if rt.NoForecast {
		opts.Pack = func(s *sensors.Sensor) RulePack {
			p := SensorPack(s)
			p.Forecast = nil
			return p
		}
	}
	eng, err := NewEngine(reg, SinkFunc(func(ev Event) { got = append(got, ev) }), opts)
	if err != nil {
		return nil, err
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, v := range values {
		if math.IsNaN(v) {
			continue
		}
		at := t0.Add(time.Duration(i) * rt.Interval)
		eng.Evaluate(sensors.Reading{Site: "test", Sensor: "S-1", Kind: rt.Kind, Value: v, Time: at, Received: at})
	}
	var actual []ExpectedEvent
	for _, ev := range got {
		actual = append(actual, ExpectedEvent{At: ev.At.Sub(t0), Rule: ev.Rule, Type: ev.Type.String(), Level: int(ev.Level)})
	}
	return diffEvents(rt.Expect, actual), nil
}

// diffEvents lists what is missing and what is unexpected, in order.
func diffEvents(want, got []ExpectedEvent) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			out = append(out, "- missing:    "+w.String())
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			out = append(out, "+ unexpected: "+g.String())
		}
	}
	if len(out) == 0 && !slices.Equal(want, got) {
		out = append(out, "events in another order than expected")
	}
	return out
}

// RunRuleTests runs every test of a file, writing a report to w; it
// reports whether all passed.
func RunRuleTests(name string, data []byte, cat *sensors.Catalog, w io.Writer) (bool, error) {
	f, err := LoadRuleTests(bytes.NewReader(data))
	if err != nil {
		return false, fmt.Errorf("%s: %w", name, err)
	}
	ok := true
	for i := range f.Tests {
		rt := &f.Tests[i]
		diff, err := rt.Run(cat)
		switch {
		case err != nil:
			ok = false
			fmt.Fprintf(w, "FAIL %s: %s: %v\n", name, rt.Name, err)
		case len(diff) > 0:
			ok = false
			fmt.Fprintf(w, "FAIL %s: %s\n  %s\n", name, rt.Name, strings.Join(diff, "\n  "))
		default:
			fmt.Fprintf(w, "ok   %s: %s\n", name, rt.Name)
		}
	}
	return ok, nil
}
