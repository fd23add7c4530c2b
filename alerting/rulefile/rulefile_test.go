package rulefile

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

const (
	exampleFleet = "../../deploy/examples/fleet.yaml"
	exampleRules = "../../deploy/examples/rules.yaml"
)

func exampleRegistry(t testing.TB) *sensors.Registry {
	t.Helper()
	reg, err := sensors.LoadFile(sensors.DefaultCatalog(), exampleFleet)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// applied loads a rule file given as text and applies it over opts.
func applied(t *testing.T, reg *sensors.Registry, text string, opts alerting.Options) alerting.Options {
	t.Helper()
	set, err := Load(reg.Catalog(), "test.yaml", []byte(text))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := set.Apply(reg, &opts); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return opts
}

func lookup(t *testing.T, reg *sensors.Registry, site, id string) *sensors.Sensor {
	t.Helper()
	s, ok := reg.Lookup(site, id)
	if !ok {
		t.Fatalf("no sensor %s/%s", site, id)
	}
	return s
}

// TestPrecedence checks that each layer changes only what it writes and
// that the more specific layer wins: sensor > site kind > kind >
// defaults > built-in pack.
func TestPrecedence(t *testing.T) {
	reg := exampleRegistry(t)
	opts := applied(t, reg, `
defaults:
  stale: {factor: 5}
kinds:
  combustible_gas:
    stale: {level: yellow}
    forecast: {horizon: 20m}
sites:
  hz-01:
    kinds:
      combustible_gas: {forecast: {horizon: 30m, min_samples: 8}}
    sensors:
      GT-202: {forecast: off, stale: {factor: 2}}
      GT-203: {rate: {direction: above, limit: 10, window: 1m}}
`, alerting.Options{})
	gas, _ := reg.Catalog().Kind("combustible_gas")
	def := alerting.DefaultForecast(gas)
	tests := []struct {
		site, id    string
		staleFactor float64
		staleLevel  sensors.Level
		horizon     time.Duration // 0: no forecast
		minSamples  int
		rate        bool
	}{
		// The kind's layer over the defaults, at another site.
		{"gas-01", "GT-103", 5, sensors.LevelYellow, 20 * time.Minute, def.MinSamples, false},
		{"pipe-01", "GT-104", 5, sensors.LevelYellow, 20 * time.Minute, def.MinSamples, false},
		// The site's kind layer over the kind's.
		{"hz-01", "GT-201", 5, sensors.LevelYellow, 30 * time.Minute, 8, false},
		// The sensor's layer over all of them.
		{"hz-01", "GT-202", 2, sensors.LevelYellow, 0, 0, false},
		{"hz-01", "GT-203", 5, sensors.LevelYellow, 30 * time.Minute, 8, true},
		// Another kind gets only the defaults.
		{"hz-01", "AT-205", 5, sensors.LevelBlue, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.site+"/"+tc.id, func(t *testing.T) {
			s := lookup(t, reg, tc.site, tc.id)
			p := opts.Pack(s)
			if p.Stale == nil || p.Stale.Factor != tc.staleFactor || p.Stale.Level != tc.staleLevel {
				t.Errorf("stale = %+v, want factor %g level %d", p.Stale, tc.staleFactor, tc.staleLevel)
			}
			if tc.horizon == 0 {
				if p.Forecast != nil && s.Kind == "combustible_gas" {
					t.Errorf("forecast = %+v, want off", p.Forecast)
				}
			} else if p.Forecast == nil || p.Forecast.Horizon != tc.horizon || p.Forecast.MinSamples != tc.minSamples || p.Forecast.Window != def.Window {
				t.Errorf("forecast = %+v, want horizon %s, min samples %d, window %s", p.Forecast, tc.horizon, tc.minSamples, def.Window)
			}
			if (p.Rate != nil) != tc.rate {
				t.Errorf("rate = %+v, want present %v", p.Rate, tc.rate)
			}
		})
	}
	// The forecast of h2s is the built-in one: untouched by the gas kind.
	if p := opts.Pack(lookup(t, reg, "hz-01", "AT-205")); p.Forecast == nil {
		t.Error("h2s lost its built-in forecast")
	}
}

// TestPackStartsFromTheBase: a rule file changes the pack the caller
// had, so the service's own choices (no forecast) stay where no layer
// speaks, and a layer can turn a rule back on from the kind's default.
func TestPackStartsFromTheBase(t *testing.T) {
	reg := exampleRegistry(t)
	noForecast := func(s *sensors.Sensor) alerting.RulePack {
		p := alerting.SensorPack(s)
		p.Forecast = nil
		return p
	}
	opts := applied(t, reg, "kinds:\n  ch4: {forecast: {horizon: 1h}}\n", alerting.Options{Pack: noForecast})
	if p := opts.Pack(lookup(t, reg, "hz-01", "GT-201")); p.Forecast != nil {
		t.Errorf("GT-201 forecast %+v: the base pack has none and no layer sets one", p.Forecast)
	}
	ch4, _ := reg.Catalog().Kind("ch4")
	p := opts.Pack(lookup(t, reg, "coal-01", "CH4-101"))
	if p.Forecast == nil || p.Forecast.Horizon != time.Hour || p.Forecast.Window != alerting.DefaultForecast(ch4).Window {
		t.Errorf("CH4-101 forecast %+v, want the default with a 1h horizon", p.Forecast)
	}
}

func TestThresholdAndExposureOptions(t *testing.T) {
	reg := exampleRegistry(t)
	opts := applied(t, reg, `
defaults: {for: 5s, off_delay: 20s, m_of_n: {m: 2, n: 4}}
kinds:
  ch4: {for: 0s, off_delay: 1m, m_of_n: off}
  h2s: {exposure: {stel: 12}}
  co: {exposure: off}
  nh3: {exposure: {twa: 15, level: yellow}}
`, alerting.Options{For: time.Minute, KindFor: map[sensors.KindID]time.Duration{"tank_level": 30 * time.Second}})
	if opts.For != 5*time.Second || opts.MOfN != (alerting.MOfN{M: 2, N: 4}) {
		t.Errorf("For %s MOfN %+v, want the defaults' 5s and 2 of 4", opts.For, opts.MOfN)
	}
	if opts.OffDelay != 20*time.Second || opts.KindOffDelay["ch4"] != time.Minute {
		t.Errorf("OffDelay %s, KindOffDelay %v; want 20s and ch4 1m", opts.OffDelay, opts.KindOffDelay)
	}
	if d, ok := opts.KindFor["ch4"]; !ok || d != 0 {
		t.Errorf("KindFor[ch4] = %s, %v; want 0s", d, ok)
	}
	if d := opts.KindFor["tank_level"]; d != 30*time.Second {
		t.Errorf("KindFor[tank_level] = %s: the configuration's value is lost", d)
	}
	if m, ok := opts.KindMOfN["ch4"]; !ok || m.M != 0 {
		t.Errorf("KindMOfN[ch4] = %+v, %v; want off", m, ok)
	}
	def := alerting.DefaultExposureLimits()
	if l := opts.Exposure["h2s"]; l.STEL != 12 || l.Basis != def["h2s"].Basis {
		t.Errorf("h2s exposure %+v, want STEL 12 over the default basis %q", l, def["h2s"].Basis)
	}
	if _, ok := opts.Exposure["co"]; ok {
		t.Error("co exposure still on")
	}
	if l := opts.Exposure["nh3"]; l.TWA != 15 || l.STEL != def["nh3"].STEL || l.Level != sensors.LevelYellow {
		t.Errorf("nh3 exposure %+v", l)
	}
	if l := opts.Exposure["so2"]; l != def["so2"] {
		t.Errorf("so2 exposure %+v, want the default %+v", l, def["so2"])
	}
}

// TestTimingPerSiteAndSensor: a site's kind and a sensor refine the
// on-delay, off-delay and M-of-N the kind gives, most specific last.
func TestTimingPerSiteAndSensor(t *testing.T) {
	reg := exampleRegistry(t)
	var site, other, sensor string
	var kind sensors.KindID
	for _, sn := range reg.Sensors() {
		if sn.Kind == "ch4" {
			if site == "" {
				site, sensor, kind = sn.Site, sn.ID, sn.Kind
			} else if sn.Site == site && other == "" {
				other = sn.ID
			}
		}
	}
	if other == "" {
		t.Fatal("the example fleet needs a site with two ch4 sensors")
	}
	opts := applied(t, reg, `
kinds:
  ch4: {for: 10s, off_delay: 1m, m_of_n: {m: 2, n: 3}}
sites:
  `+site+`:
    kinds: {ch4: {for: 20s}}
    sensors:
      `+sensor+`: {off_delay: 5s, m_of_n: off}
`, alerting.Options{})
	if opts.Threshold == nil {
		t.Fatal("no per-sensor timing")
	}
	tests := []struct {
		sensor string
		want   alerting.ThresholdTiming
	}{
		{sensor, alerting.ThresholdTiming{For: 20 * time.Second, OffDelay: 5 * time.Second}},
		{other, alerting.ThresholdTiming{For: 20 * time.Second, OffDelay: time.Minute, MOfN: alerting.MOfN{M: 2, N: 3}}},
	}
	for _, tt := range tests {
		sn := lookup(t, reg, site, tt.sensor)
		got := alerting.ThresholdTiming{For: opts.KindFor[kind], OffDelay: opts.KindOffDelay[kind], MOfN: opts.KindMOfN[kind]}
		opts.Threshold(sn, &got)
		if got != tt.want {
			t.Errorf("%s/%s timing %+v, want %+v", site, tt.sensor, got, tt.want)
		}
	}
	// And the engine builds with them.
	if _, err := alerting.NewEngine(reg, nil, opts); err != nil {
		t.Fatalf("engine: %v", err)
	}
}

// TestSampleRuleFile loads the shipped example into a real engine and
// drives the composite and group rules it defines, and the kind's M-of-N.
func TestSampleRuleFile(t *testing.T) {
	reg := exampleRegistry(t)
	set, err := LoadFiles(reg.Catalog(), []string{exampleRules})
	if err != nil {
		t.Fatal(err)
	}
	var opts alerting.Options
	if err := set.Apply(reg, &opts); err != nil {
		t.Fatal(err)
	}
	var events []alerting.Event
	eng, err := alerting.NewEngine(reg, alerting.SinkFunc(func(ev alerting.Event) { events = append(events, ev) }), opts)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	feed := func(at time.Duration, sensor string, v float64) {
		eng.Evaluate(sensors.Reading{Site: "coal-01", Sensor: sensor, Value: v, Time: t0.Add(at)})
	}
	fired := func(rule, subject string) (alerting.Event, bool) {
		for _, ev := range events {
			if ev.Type == alerting.EventFired && ev.Rule == rule && ev.Sensor == subject {
				return ev, true
			}
		}
		return alerting.Event{}, false
	}
	// One spike of CH4-101: 2 of 3 readings must trip, so nothing fires.
	feed(0, "WS-105", 2)
	feed(0, "CH4-101", 0.3)
	feed(0, "CH4-102", 0.3)
	feed(10*time.Second, "CH4-101", 1.2)
	feed(20*time.Second, "CH4-101", 0.3)
	if ev, ok := fired("ch4_high", "CH4-101"); ok {
		t.Fatalf("a single spike raised %v", ev)
	}
	// Both heads at 1.6 % (red is 1.5 %) while the air speed falls.
	for i := 3; i <= 12; i++ {
		at := time.Duration(i) * 10 * time.Second
		feed(at, "WS-105", 0.1)
		feed(at, "CH4-101", 1.6)
		feed(at, "CH4-102", 1.6)
	}
	vote, ok := fired(alerting.RuleGroupVote, "face-3102")
	if !ok {
		t.Fatalf("group_vote of face-3102 did not fire; events: %v", events)
	}
	if vote.Level != sensors.LevelRed {
		t.Errorf("group_vote level %v, want red", vote.Level)
	}
	comp, ok := fired("gas_no_air", "gas_no_air")
	if !ok {
		t.Fatalf("gas_no_air did not fire; events: %v", events)
	}
	// The condition began at 40 s (first reading of both at once) and
	// must hold for 30 s of device time.
	if comp.Level != sensors.LevelOrange || comp.At.Sub(t0) < 60*time.Second {
		t.Errorf("gas_no_air fired at %s with level %v; want orange after the 30 s on-delay", comp.At.Sub(t0), comp.Level)
	}
	// Air returns at 130 s; the rule's off-delay keeps the alert for a
	// minute of device time.
	var resolved time.Duration
	for i := 13; i <= 30 && resolved == 0; i++ {
		at := time.Duration(i) * 10 * time.Second
		feed(at, "WS-105", 2)
		feed(at, "CH4-101", 1.6)
		for _, ev := range events {
			if ev.Rule == "gas_no_air" && ev.Type == alerting.EventResolved {
				resolved = ev.At.Sub(t0)
			}
		}
	}
	if resolved < 190*time.Second {
		t.Errorf("gas_no_air resolved at %s; want it held for its 1m off-delay from 130s", resolved)
	}
	high, ok := fired("ch4_high", "CH4-101")
	if !ok {
		t.Fatalf("ch4_high of CH4-101 did not fire; events: %v", events)
	}
	// Two of three readings from 30 s, then the 10 s on-delay.
	if got := high.At.Sub(t0); got < 40*time.Second {
		t.Errorf("ch4_high fired at %s, before M-of-N and the on-delay allow", got)
	}
	if p := opts.Pack(lookup(t, reg, "coal-01", "CH4-102")); p.Forecast == nil || p.Forecast.Horizon != time.Hour || p.Forecast.Level != sensors.LevelBlue {
		t.Errorf("CH4-102 forecast %+v, want the sensor's 1h blue", p.Forecast)
	}
}

var wantLine = regexp.MustCompile(`^# want (\d+): (.+)$`)

// TestBadFiles loads every testdata/*.bad.yaml, applies it to the example
// fleet when it loads, and checks the problems against the file's own
// "# want LINE: text" comments: every wanted problem is reported at its
// line, and nothing else is.
func TestBadFiles(t *testing.T) {
	reg := exampleRegistry(t)
	files, err := filepath.Glob("testdata/*.bad.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad files: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			type want struct {
				line int
				text string
			}
			var wants []want
			for l := range strings.Lines(string(data)) {
				if m := wantLine.FindStringSubmatch(strings.TrimRight(l, "\n")); m != nil {
					n, _ := strconv.Atoi(m[1])
					wants = append(wants, want{n, m[2]})
				}
			}
			if len(wants) == 0 {
				t.Fatal("the file has no # want lines")
			}
			var opts alerting.Options
			_, err = ApplyFiles(reg, []string{path}, &opts)
			var le *sensors.LoadError
			if !errors.As(err, &le) {
				t.Fatalf("error %v (%T), want a *sensors.LoadError", err, err)
			}
			got := slices.Clone(le.Problems)
			for _, w := range wants {
				i := slices.IndexFunc(got, func(p sensors.Problem) bool { return p.Line == w.line && strings.Contains(p.Msg, w.text) })
				if i < 0 {
					t.Errorf("missing %d: %s", w.line, w.text)
					continue
				}
				got = slices.Delete(got, i, i+1)
			}
			for _, p := range got {
				t.Errorf("unexpected %s", p)
			}
			for _, p := range le.Problems {
				if p.File != path {
					t.Errorf("problem %s names file %q", p, p.File)
				}
			}
		})
	}
}

// TestDuplicatesAcrossFiles: a kind written in two files is a problem
// naming both places, not a silent override by file order.
func TestDuplicatesAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	os.WriteFile(a, []byte("kinds:\n  ch4: {for: 5s}\n"), 0o644)
	os.WriteFile(b, []byte("# b\nkinds:\n  ch4: {for: 10s}\n"), 0o644)
	_, err := LoadFiles(sensors.DefaultCatalog(), []string{a, b})
	var le *sensors.LoadError
	if !errors.As(err, &le) || len(le.Problems) != 1 {
		t.Fatalf("err %v, want one problem", err)
	}
	p := le.Problems[0]
	if p.File != b || p.Line != 3 || !strings.Contains(p.Msg, a+":2") {
		t.Errorf("problem %s, want it at %s:3 naming %s:2", p, b, a)
	}
}

func TestEmptyFileChangesNothing(t *testing.T) {
	reg := exampleRegistry(t)
	for _, text := range []string{"", "# nothing yet\n", "---\n", "kinds:\nsites:\n"} {
		opts := applied(t, reg, text, alerting.Options{})
		if opts.Pack != nil || opts.Exposure != nil || len(opts.Groups) != 0 || opts.KindFor != nil {
			t.Errorf("%q changed the options: %+v", text, opts)
		}
	}
}

// TestGuidanceAcrossFiles: a rule file may give the response texts of a
// composite rule another file defines; a rule's texts written in two
// files are a problem naming the first, and texts for a rule nobody
// defines are refused.
func TestGuidanceAcrossFiles(t *testing.T) {
	reg := exampleRegistry(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rules := write("rules.yaml", "sites:\n  coal-01:\n    composite:\n      - {id: gas_no_air, expr: \"CH4_101 >= 1.0 && WS_105 < 0.25\", level: orange}\n")
	texts := write("texts.yaml", "guidance:\n  gas_no_air: {procedure: {zh: 停止作业, en: Stop work}}\n"+
		"  ch4_high: {consequence: {zh: 瓦斯爆炸}}\n  gateway_offline: {procedure: {en: Call the control room}}\n")
	var opts alerting.Options
	set, err := ApplyFiles(reg, []string{rules, texts}, &opts)
	if err != nil {
		t.Fatal(err)
	}
	g := set.Guidance()
	if len(g) != 3 || g["gas_no_air"].Procedure.ZH != "停止作业" || g["ch4_high"].Consequence.ZH != "瓦斯爆炸" || g["gateway_offline"].Procedure.EN != "Call the control room" {
		t.Errorf("guidance %+v", g)
	}

	again := write("again.yaml", "# again\nguidance:\n  ch4_high: {procedure: {zh: 撤人}}\n")
	_, err = ApplyFiles(reg, []string{rules, texts, again}, &opts)
	var le *sensors.LoadError
	if !errors.As(err, &le) || len(le.Problems) != 1 || le.Problems[0].File != again || le.Problems[0].Line != 3 || !strings.Contains(le.Problems[0].Msg, texts+":3") {
		t.Errorf("err %v, want one problem at %s:3 naming %s:3", err, again, texts)
	}
	// Without the file that defines the composite rule its texts name
	// nothing.
	_, err = ApplyFiles(reg, []string{texts}, &opts)
	if !errors.As(err, &le) || len(le.Problems) != 1 || !strings.Contains(le.Problems[0].Msg, `unknown rule "gas_no_air"`) {
		t.Errorf("err %v, want the composite rule's texts refused", err)
	}
}

// FuzzLoad: the loader returns a set or a *sensors.LoadError with
// problems, never both, never panics; a set it returns applies to the
// example fleet without panicking, with a *sensors.LoadError at most,
// and then builds an engine.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"testdata/*.yaml", exampleRules} {
		files, _ := filepath.Glob(pattern)
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte("kinds: &a {ch4: *a}\n"))
	f.Add([]byte("sites: {coal-01: {composite: [{id: x, expr: 'CH4_101 > 1 ||'}]}}\n"))
	reg := exampleRegistry(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := Load(reg.Catalog(), "fuzz.yaml", data)
		if err != nil {
			var le *sensors.LoadError
			if !errors.As(err, &le) || len(le.Problems) == 0 {
				t.Fatalf("error %v (%T), want a *sensors.LoadError with problems", err, err)
			}
			if set != nil {
				t.Fatal("a set along with an error")
			}
			return
		}
		for rule, g := range set.Guidance() {
			for _, txt := range []string{g.Procedure.ZH, g.Procedure.EN, g.Consequence.ZH, g.Consequence.EN} {
				if strings.ContainsFunc(txt, unicode.IsControl) || utf8.RuneCountInString(txt) > maxGuidanceText {
					t.Fatalf("guidance of %s accepted with text %q", rule, txt)
				}
			}
		}
		var opts alerting.Options
		if err := set.Apply(reg, &opts); err != nil {
			var le *sensors.LoadError
			if !errors.As(err, &le) || len(le.Problems) == 0 {
				t.Fatalf("apply error %v (%T), want a *sensors.LoadError with problems", err, err)
			}
			return
		}
		if _, err := alerting.NewEngine(reg, nil, opts); err != nil {
			t.Fatalf("a rule file Apply accepted does not build an engine: %v\n%s", err, data)
		}
	})
}

// TestUnicodeIDs: a site or sensor id the registry accepts, such as one
// in Chinese characters, can be named in a rule file.
func TestUnicodeIDs(t *testing.T) {
	reg, err := sensors.LoadYAML(sensors.DefaultCatalog(), "fleet.yaml", strings.NewReader(`
sites:
  - id: 杭州-01
    name: Hangzhou 01
    sector: coal
    sensors:
      - id: 甲烷-1
        kind: ch4
        unit: '%CH4'
        gateway: gw1
        location: Face
`))
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	opts := applied(t, reg, `
sites:
  杭州-01:
    sensors:
      甲烷-1: {for: 7s}
`, alerting.Options{})
	if opts.Threshold == nil {
		t.Fatal("no per-sensor timing")
	}
	var got alerting.ThresholdTiming
	opts.Threshold(lookup(t, reg, "杭州-01", "甲烷-1"), &got)
	if got.For != 7*time.Second {
		t.Errorf("for %v, want 7s", got.For)
	}
}

// unitFleet has one sensor of each of three kinds in the kind's own unit
// and one in another: kPa beside MPa, K beside degC, % of span beside
// metres.
const unitFleet = `
sites:
  - id: plant-1
    name: Plant 1
    sector: hazchem
    sensors:
      - {id: PT-1, kind: pressure, unit: MPa, gateway: gw1, location: Reactor}
      - {id: PT-2, kind: pressure, unit: kPa, gateway: gw1, location: Reactor}
      - {id: TT-1, kind: tank_temperature, unit: degC, gateway: gw1, location: Tank 1}
      - {id: TT-2, kind: tank_temperature, unit: K, gateway: gw1, location: Tank 2}
      - {id: LT-1, kind: tank_level, unit: m, gateway: gw1, location: Tank 1}
      - {id: LT-2, kind: tank_level, unit: '%', gateway: gw1, location: Tank 2}
`

// TestAmountsInTheSensorsUnit: a rate limit, slope or tolerance written
// for a kind (or a site's kind) is in the kind's own unit and reaches a
// sensor reporting in another unit converted, as a difference (no
// offset for K); one written on the sensor is in the sensor's unit.
func TestAmountsInTheSensorsUnit(t *testing.T) {
	reg, err := sensors.LoadYAML(sensors.DefaultCatalog(), "fleet.yaml", strings.NewReader(unitFleet))
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	opts := applied(t, reg, `
kinds:
  pressure:
    rate: {direction: below, limit: 0.05, window: 1m}
    stuck: {tolerance: 0.01}
  tank_temperature:
    trend: {direction: above, limit: 2, window: 10m}
    forecast: {min_slope: 0.5}
sites:
  plant-1:
    kinds:
      pressure: {trend: {direction: above, limit: 0.2, window: 5m}}
    sensors:
      LT-2: {rate: {direction: above, limit: 5, window: 10m}}
      TT-2: {stuck: {window: 10m, min_samples: 10, tolerance: 0.3}}
`, alerting.Options{})
	tests := []struct {
		id                              string
		rate, trend, minSlope, stuckTol float64 // 0: not set by the file
	}{
		{"PT-1", 0.05, 0.2, 0, 0.01},
		{"PT-2", 50, 200, 0, 10}, // kPa: kind-wide and site-kind amounts × 1000
		{"TT-1", 0, 2, 0.5, 0},
		{"TT-2", 0, 2, 0.5, 0.3}, // K: a difference of 2 degC is 2 K, not 275.15
		{"LT-2", 5, 0, 0, 0},     // % of span, written on the sensor
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			p := opts.Pack(lookup(t, reg, "plant-1", tc.id))
			// NaN: the rule is absent.
			got := map[string]float64{"rate limit": math.NaN(), "trend limit": math.NaN(), "forecast min slope": math.NaN(), "stuck tolerance": math.NaN()}
			if p.Rate != nil {
				got["rate limit"] = p.Rate.Limit
			}
			if p.Trend != nil {
				got["trend limit"] = p.Trend.Limit
			}
			if p.Forecast != nil {
				got["forecast min slope"] = p.Forecast.MinSlope
			}
			if p.Stuck != nil {
				got["stuck tolerance"] = p.Stuck.Tolerance
			}
			for what, want := range map[string]float64{"rate limit": tc.rate, "trend limit": tc.trend, "forecast min slope": tc.minSlope, "stuck tolerance": tc.stuckTol} {
				if want != 0 && !(math.Abs(got[what]-want) <= 1e-9*want) {
					t.Errorf("%s = %g, want %g", what, got[what], want)
				}
			}
		})
	}
}

// TestAmountWithoutConversion: a kind-wide amount cannot reach a sensor
// whose unit has no fixed relation to the kind's (a tank level in % of
// its span), so the file is refused with the line and the way out,
// once, however many such sensors there are.
func TestAmountWithoutConversion(t *testing.T) {
	reg, err := sensors.LoadYAML(sensors.DefaultCatalog(), "fleet.yaml", strings.NewReader(
		unitFleet+"      - {id: LT-3, kind: tank_level, unit: '%', gateway: gw1, location: Tank 3}\n"))
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	set, err := Load(reg.Catalog(), "test.yaml", []byte(`
kinds:
  tank_level:
    rate: {direction: above, limit: 0.5, window: 10m}
`))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	err = set.Apply(reg, &alerting.Options{})
	var le *sensors.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("apply = %v, want a load error", err)
	}
	if len(le.Problems) != 1 || le.Problems[0].Line != 4 || !strings.Contains(le.Problems[0].Msg, "no fixed relation") {
		t.Errorf("problems = %+v, want one at line 4 about the unit", le.Problems)
	}
	// The same limit per sensor is taken as it is written.
	opts := applied(t, reg, `
sites:
  plant-1:
    sensors:
      LT-2: {rate: {direction: above, limit: 2, window: 10m}}
`, alerting.Options{})
	if p := opts.Pack(lookup(t, reg, "plant-1", "LT-2")); p.Rate == nil || p.Rate.Limit != 2 {
		t.Errorf("rate = %+v, want the sensor's own limit 2", p.Rate)
	}
}
