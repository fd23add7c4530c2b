package alerting

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// earlyRegistry has one sensor of each kind the early rules are tried on.
func earlyRegistry(t testing.TB) *sensors.Registry {
	t.Helper()
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(),
		[]sensors.Site{
			{ID: "hz-01", Sector: sensors.SectorHazchem},
			{ID: "pl-01", Sector: sensors.SectorPipeline},
			{ID: "tp-01", Sector: sensors.SectorNonCoal},
		},
		[]sensors.Sensor{
			{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw-1"},
			{ID: "AT-201", Site: "hz-01", Kind: "oxygen", Gateway: "gw-1"},
			{ID: "LT-1", Site: "hz-01", Kind: "tank_level", Gateway: "gw-2"},
			{ID: "PT-1", Site: "pl-01", Kind: "line_pressure", Gateway: "gw-3"},
			{ID: "DM-1", Site: "tp-01", Kind: "dam_displacement", Gateway: "gw-4"},
		})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// compileOne compiles a pack that holds exactly one rule for a sensor.
func compileOne(t *testing.T, site, sensor string, p RulePack) *earlyRule {
	t.Helper()
	s, ok := earlyRegistry(t).Lookup(site, sensor)
	if !ok {
		t.Fatalf("no sensor %s/%s", site, sensor)
	}
	rules, err := compilePack(s, p)
	if err != nil || len(rules) != 1 {
		t.Fatalf("compile: %d rules, %v", len(rules), err)
	}
	return rules[0]
}

// etick is one reading fed to an early rule and the event it must cause.
type etick struct {
	at  int // device time, seconds from t0
	v   float64
	typ EventType
}

// runEarly feeds ticks through the rule's step function and checks each
// event type; it returns the events built for the transitions.
func runEarly(t *testing.T, r *earlyRule, ticks []etick) []Event {
	t.Helper()
	subj := &subjectInfo{site: "hz-01", sensor: "X-1", kind: "k", unit: "u"}
	var w window
	var st earlyState
	var events []Event
	for i, tk := range ticks {
		at := t0.Add(time.Duration(tk.at) * time.Second).UnixNano()
		w.push(at, tk.v)
		var tr transition
		st, tr = r.step(st, &w, tk.v, at, false)
		if tr.typ != tk.typ {
			t.Fatalf("tick %d (t=%ds v=%g): event %v, want %v", i, tk.at, tk.v, tr.typ, tk.typ)
		}
		if tr.typ != 0 {
			events = append(events, r.event(tr, st, subj, &w, at))
		}
	}
	return events
}

// ramp is n readings every step seconds from (at, v), changing by dv each.
func ramp(at, step, n int, v, dv float64, last EventType) []etick {
	out := make([]etick, n)
	for i := range out {
		out[i] = etick{at: at + i*step, v: v + float64(i)*dv}
	}
	out[n-1].typ = last
	return out
}

func concat(parts ...[]etick) []etick { return slices.Concat(parts...) }

func TestRateTransitions(t *testing.T) {
	// Default line_pressure rate: falling 0.1 MPa/min over one minute.
	r := compileOne(t, "pl-01", "PT-1", RulePack{Rate: DefaultPack(kindOf(t, "line_pressure")).Rate})
	tests := []struct {
		name  string
		ticks []etick
	}{
		{"steady => nothing", ramp(0, 5, 20, 0.4, 0, 0)},
		{"rising is not the bad way", ramp(0, 5, 20, 0.4, 0.05, 0)},
		{"window not yet half covered => nothing", []etick{{0, 0.4, 0}, {5, 0.0, 0}, {10, 0.0, 0}}},
		{"inactive => firing => (held above half the limit) => resolved", concat(
			ramp(0, 5, 7, 0.40, 0, 0),          // 0..30 s steady
			[]etick{{35, 0.30, 0}},             // one low reading may be a spike
			[]etick{{40, 0.30, EventFired}},    // a second confirms it: 0.1 MPa in 30 s
			ramp(45, 5, 8, 0.30, 0, 0),         // 45..80 s: still 0.1 per minute against the 0.40 readings
			[]etick{{85, 0.30, EventResolved}}, // most of the window's oldest five are 0.30
		)},
		{"a lone spike down => nothing", concat(
			ramp(0, 5, 12, 0.40, 0, 0),
			[]etick{{60, 0.25, 0}}, // 0.15 MPa in one reading
			ramp(65, 5, 12, 0.40, 0, 0),
		)},
		{"two spikes among the newest five => nothing", concat(
			ramp(0, 5, 12, 0.40, 0, 0),
			[]etick{{60, 0.25, 0}, {65, 0.40, 0}, {70, 0.25, 0}},
			ramp(75, 5, 12, 0.40, 0, 0),
		)},
		{"slow decline never fires", ramp(0, 5, 40, 0.4, -0.001, 0)}, // 0.012 MPa/min
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runEarly(t, r, tt.ticks) })
	}
	evs := runEarly(t, r, tests[3].ticks)
	if want := "k X-1 at hz-01: 0.3 u falling 0.2 u/min over 1m0s (limit 0.1)"; evs[0].Message != want {
		t.Errorf("message %q, want %q", evs[0].Message, want)
	}
}

func kindOf(t *testing.T, id sensors.KindID) *sensors.Kind {
	t.Helper()
	k, ok := sensors.DefaultCatalog().Kind(id)
	if !ok {
		t.Fatalf("no kind %s", id)
	}
	return k
}

func TestTrendTransitions(t *testing.T) {
	r := compileOne(t, "hz-01", "GT-101", RulePack{Trend: &TrendConfig{Direction: sensors.Above, Limit: 1, Window: time.Minute, MinSamples: 6}})
	tests := []struct {
		name  string
		ticks []etick
	}{
		// 0.5 %LEL per 5 s is 6 %LEL/min; the sixth sample makes the fit.
		{"inactive => firing at the minimum sample count", ramp(0, 5, 6, 1, 0.5, EventFired)},
		{"five samples are not enough", ramp(0, 5, 5, 1, 0.5, 0)},
		{"falling is not the bad way", ramp(0, 5, 20, 20, -0.5, 0)},
		{"firing => resolved when the ramp stops", concat(
			ramp(0, 5, 6, 1, 0.5, EventFired),
			ramp(30, 5, 3, 3.5, 0.5, 0),
			ramp(45, 5, 10, 4.5, 0, 0), // the fitted slope decays as flat readings fill the window
			[]etick{{95, 4.5, EventResolved}},
		)},
		// A sawtooth of ±0.5 has no significant slope.
		{"noise => nothing", func() []etick {
			var out []etick
			for i := range 50 {
				out = append(out, etick{at: 5 * i, v: 2 + float64(i%2) - 0.5})
			}
			return out
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runEarly(t, r, tt.ticks) })
	}
}

func TestForecastTransitions(t *testing.T) {
	// Default combustible gas forecast: 2 min window, 6 samples, 10 min
	// horizon, at least 1 %LEL/min; the first alarm is 25 %LEL.
	r := compileOne(t, "hz-01", "GT-101", RulePack{Forecast: DefaultForecast(kindOf(t, "combustible_gas"))})
	tests := []struct {
		name  string
		ticks []etick
	}{
		// 3 %LEL/min from 1 %LEL: once the fit spans half the window (13
		// samples, one minute) 25 is 7 min away.
		{"inactive => firing", ramp(0, 5, 13, 1, 0.25, EventFired)},
		{"a steep but short run does not fire before half a window", ramp(0, 5, 12, 1, 0.25, 0)},
		{"too slow to matter (0.6 %LEL/min) => nothing", ramp(0, 5, 40, 1, 0.05, 0)},
		{"crossing beyond the horizon => nothing", ramp(0, 5, 20, 1, 0.1, 0)}, // 1.2 %LEL/min: 25 is 20 min away
		{"firing => resolved when the trend stops", concat(
			ramp(0, 5, 13, 1, 0.25, EventFired),
			ramp(65, 5, 14, 4, 0, 0),
			[]etick{{135, 4, EventResolved}}, // the flattening fit puts 25 beyond twice the horizon
		)},
		{"firing => resolved when the setpoint is reached", concat(
			ramp(0, 5, 13, 1, 0.25, EventFired),
			ramp(65, 5, 75, 4.25, 0.25, 0), // up to 22.75
			[]etick{{440, 25, EventResolved}},
		)},
		{"falling with no low setpoint => nothing", ramp(0, 5, 30, 20, -0.5, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runEarly(t, r, tt.ticks) })
	}
	evs := runEarly(t, r, tests[5].ticks)
	if want := "k X-1 at hz-01: 4 u rising 3 u/min, will reach 25 in about 7 min"; evs[0].Message != want {
		t.Errorf("fired message %q, want %q", evs[0].Message, want)
	}
	if evs[0].Setpoint != 25 || evs[0].Level != sensors.LevelYellow {
		t.Errorf("fired setpoint %g level %v, want 25 and yellow", evs[0].Setpoint, evs[0].Level)
	}
	if !strings.Contains(evs[1].Message, "threshold alarm takes over") || evs[1].AlertID != evs[0].AlertID {
		t.Errorf("resolved %+v", evs[1])
	}
}

func TestForecastBelow(t *testing.T) {
	// Oxygen has a low (19.5) and a high (23.5) setpoint: a falling trend
	// heads for the low one.
	r := compileOne(t, "hz-01", "AT-201", RulePack{Forecast: DefaultForecast(kindOf(t, "oxygen"))})
	evs := runEarly(t, r, ramp(0, 5, 13, 20.9, -0.05, EventFired)) // 0.6 %VOL/min
	if evs[0].Setpoint != 19.5 || !strings.Contains(evs[0].Message, "falling 0.6 u/min, will reach 19.5 in about 80 s") {
		t.Errorf("event %+v", evs[0])
	}
}

func TestStuckTransitions(t *testing.T) {
	r := compileOne(t, "pl-01", "PT-1", RulePack{Stuck: &StuckConfig{Window: 20 * time.Second, MinSamples: 4, Tolerance: 0.001}})
	tests := []struct {
		name  string
		ticks []etick
	}{
		{"inactive => firing after the window and the count", ramp(0, 5, 5, 0.4, 0, EventFired)},
		{"count without the window => nothing", []etick{{0, 0.4, 0}, {1, 0.4, 0}, {2, 0.4, 0}, {3, 0.4, 0}, {4, 0.4, 0}}},
		{"window without the count => nothing", []etick{{0, 0.4, 0}, {30, 0.4, 0}, {60, 0.4, 0}}},
		{"within tolerance is flat", concat(ramp(0, 5, 4, 0.4, 0.0002, 0), []etick{{20, 0.4009, EventFired}})},
		{"firing => resolved when the value moves", concat(
			ramp(0, 5, 5, 0.4, 0, EventFired),
			[]etick{{25, 0.4, 0}, {30, 0.41, EventResolved}, {35, 0.41, 0}},
		)},
		{"a live signal => nothing", ramp(0, 5, 50, 0.4, 0.002, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runEarly(t, r, tt.ticks) })
	}
	evs := runEarly(t, r, tests[0].ticks)
	if want := "k X-1 at hz-01: stuck at 0.4 u for 20s (5 readings unchanged); sensor fault suspected"; evs[0].Message != want {
		t.Errorf("message %q, want %q", evs[0].Message, want)
	}
	if evs[0].Rule != RuleSensorStuck || evs[0].Level != sensors.LevelYellow {
		t.Errorf("rule %s level %v", evs[0].Rule, evs[0].Level)
	}
}

func TestJumpTransitions(t *testing.T) {
	// Default tank level jump: a quarter of 0-40 m, held 100 s.
	r := compileOne(t, "hz-01", "LT-1", RulePack{Jump: DefaultPack(kindOf(t, "tank_level")).Jump})
	tests := []struct {
		name  string
		ticks []etick
	}{
		{"the first reading is never a jump", []etick{{0, 38, 0}, {10, 38, 0}}},
		{"a filling tank => nothing", ramp(0, 10, 30, 2, 0.5, 0)},
		{"inactive => firing => resolved after the hold", []etick{
			{0, 12, 0}, {10, 12.1, 0},
			{20, 35, EventFired},
			{30, 12.1, 0},  // the spike's return is a jump too: the hold restarts
			{130, 12.1, 0}, // 100 s after the last jump
			{140, 12.1, EventResolved},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runEarly(t, r, tt.ticks) })
	}
	evs := runEarly(t, r, tests[2].ticks)
	if want := "k X-1 at hz-01: jumped from 12.1 to 35 u in one reading (more than 10); sensor fault suspected"; evs[0].Message != want {
		t.Errorf("message %q, want %q", evs[0].Message, want)
	}
}

func TestCompilePackErrors(t *testing.T) {
	s, _ := earlyRegistry(t).Lookup("hz-01", "GT-101")
	_, err := compilePack(s, RulePack{
		Rate:     &RateConfig{Limit: 0, Window: time.Minute},
		Trend:    &TrendConfig{Limit: 1},
		Forecast: &ForecastConfig{Window: time.Minute},
		Stuck:    &StuckConfig{Window: time.Minute, MinSamples: 1},
		Jump:     &JumpConfig{Fraction: 0.5, Level: 7},
		Stale:    &StaleConfig{Factor: 0.5},
	})
	for _, want := range []string{"rate:", "trend:", "forecast:", "stuck:", "sensor_jump: level 7", "stale:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %q", err, want)
		}
	}
	// A forecast on a sensor without setpoints is no rule and no error.
	lt, _ := earlyRegistry(t).Lookup("hz-01", "LT-1")
	if rules, err := compilePack(lt, RulePack{Forecast: DefaultForecast(lt.KindInfo())}); err != nil || len(rules) != 0 {
		t.Errorf("forecast without setpoints: %d rules, %v", len(rules), err)
	}
}

func TestDefaultPacks(t *testing.T) {
	var got []string
	for _, k := range sensors.DefaultCatalog().Kinds() {
		p := DefaultPack(k)
		var rules []string
		for name, on := range map[string]bool{"rate": p.Rate != nil, "trend": p.Trend != nil, "forecast": p.Forecast != nil,
			"stuck": p.Stuck != nil, "jump": p.Jump != nil, "stale": p.Stale != nil} {
			if on {
				rules = append(rules, name)
			}
		}
		slices.Sort(rules)
		got = append(got, string(k.ID)+": "+strings.Join(rules, ","))
	}
	text := strings.Join(got, "\n")
	for _, want := range []string{
		"combustible_gas: forecast,stale", // gas detectors sit flat at 0: no stuck; a leak can jump: no jump
		"line_pressure: rate,stale,stuck",
		"pressure: rate,stale,stuck",
		"dam_displacement: jump,rate,stale",
		"tank_level: jump,stale",
		"ch4: forecast,stale",
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("default packs lack %q:\n%s", want, text)
		}
	}
	if ch4 := DefaultPack(kindOf(t, "ch4")); ch4.Stale.Level != sensors.LevelYellow {
		t.Errorf("ch4 stale level %v, want yellow (fault lockout)", ch4.Stale.Level)
	}
}

// TestForecastBeforeThreshold: a linear leak ramp to 60 %LEL raises the
// forecast before the threshold alarm, and the forecast hands over to it.
func TestForecastBeforeThreshold(t *testing.T) {
	var sink collect
	e, err := NewEngine(earlyRegistry(t), &sink, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 150 { // 0 to 60 %LEL in 12.5 min, then hold
		e.Evaluate(reading("hz-01", "GT-101", 5*i, min(0.4*float64(i), 60)))
	}
	var got []string
	var fired, high time.Time
	for _, ev := range sink.all() {
		got = append(got, ev.Rule+" "+ev.Type.String())
		if ev.Rule == "combustible_gas_forecast" && ev.Type == EventFired {
			fired = ev.At
		}
		if ev.Rule == "combustible_gas_high" && ev.Type == EventFired && high.IsZero() {
			high = ev.At
		}
	}
	want := []string{"combustible_gas_forecast fired", "combustible_gas_high fired", "combustible_gas_forecast resolved", "combustible_gas_high escalated"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	lead := high.Sub(fired)
	t.Logf("forecast fired %s before the threshold alarm", lead)
	if lead < 3*time.Minute {
		t.Errorf("forecast fired %s before the threshold alarm, want at least 3 min", lead)
	}
}

// TestForecastNoise: 10,000 readings of Gaussian noise around a safe
// baseline never raise a forecast (nor anything else).
func TestForecastNoise(t *testing.T) {
	var sink collect
	e, err := NewEngine(earlyRegistry(t), &sink, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 10_000 {
		e.Evaluate(reading("hz-01", "GT-101", 5*i, 3+rng.NormFloat64()))
		e.Evaluate(reading("hz-01", "AT-201", 5*i, 20.9+0.1*rng.NormFloat64()))
	}
	if evs := sink.all(); len(evs) != 0 {
		t.Errorf("noise raised %d events, first %+v", len(evs), evs[0])
	}
}

// TestForecastQuietWhileAlarmed: once the threshold alarm is open the
// forecast has nothing to add, even when the value dips into the
// hysteresis band and climbs again.
func TestForecastQuietWhileAlarmed(t *testing.T) {
	var sink collect
	e, err := NewEngine(earlyRegistry(t), &sink, Options{})
	if err != nil {
		t.Fatal(err)
	}
	values := []float64{26, 26, 26, 26, 26, 26, 24, 23.5, 23.5, 23.6, 23.8, 24.1, 24.4, 24.7}
	for i, v := range values {
		e.Evaluate(reading("hz-01", "GT-101", 5*i, v))
	}
	for _, ev := range sink.all() {
		if ev.Rule != "combustible_gas_high" {
			t.Errorf("unexpected %s %s: %s", ev.Rule, ev.Type, ev.Message)
		}
	}
}

// TestDuplicateReadingsDoNotFeedWindows: a redelivered reading (same
// device time) is not a second sample, so it cannot make a flat line.
func TestDuplicateReadingsDoNotFeedWindows(t *testing.T) {
	var sink collect
	e, err := NewEngine(earlyRegistry(t), &sink, Options{
		KindPack: map[sensors.KindID]RulePack{"line_pressure": {Stuck: &StuckConfig{Window: 10 * time.Second, MinSamples: 3}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		e.Evaluate(reading("pl-01", "PT-1", 0, 0.4))
		e.Evaluate(reading("pl-01", "PT-1", 5, 0.4))
	}
	if evs := sink.all(); len(evs) != 0 {
		t.Errorf("duplicates raised %+v", evs)
	}
	e.Evaluate(reading("pl-01", "PT-1", 10, 0.4))
	if evs := sink.all(); len(evs) != 1 || evs[0].Rule != RuleSensorStuck {
		t.Errorf("third distinct reading: %+v, want sensor_stuck fired", evs)
	}
}

func TestForecastLevelByHorizon(t *testing.T) {
	k := kindOf(t, "combustible_gas")
	long := DefaultForecast(k)
	long.Horizon = 2 * time.Hour
	for _, tt := range []struct {
		cfg  *ForecastConfig
		want sensors.Level
	}{
		{DefaultForecast(k), sensors.LevelYellow},
		{long, sensors.LevelBlue},
	} {
		if r := compileOne(t, "hz-01", "GT-101", RulePack{Forecast: tt.cfg}); r.level != tt.want {
			t.Errorf("horizon %s: level %v, want %v", tt.cfg.Horizon, r.level, tt.want)
		}
	}
}

func TestPackOptions(t *testing.T) {
	ids := func(e *Engine, site, sensor string) []string {
		var out []string
		s, ok := e.rules().subjects[subjectKey{site, sensor}]
		if !ok {
			return nil // no rules at all: not a subject
		}
		for _, rs := range s.early {
			out = append(out, rs.rule.id)
		}
		return out
	}
	e, err := NewEngine(earlyRegistry(t), nil, Options{
		Pack: func(s *sensors.Sensor) RulePack {
			if s.ID == "PT-1" {
				return RulePack{} // per sensor: nothing
			}
			return DefaultPack(s.KindInfo())
		},
		KindPack: map[sensors.KindID]RulePack{"combustible_gas": {Stale: &StaleConfig{}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		site, sensor string
		want         []string
	}{
		{"hz-01", "GT-101", []string{RuleSensorStale}}, // KindPack wins over Pack
		{"pl-01", "PT-1", nil},
		{"hz-01", "AT-201", []string{"oxygen_forecast", RuleSensorStale}},
	} {
		if got := ids(e, tt.site, tt.sensor); !slices.Equal(got, tt.want) {
			t.Errorf("%s/%s: rules %q, want %q", tt.site, tt.sensor, got, tt.want)
		}
	}
	// The default pack gives a forecast to a sensor with its own setpoints
	// even when its kind has none.
	d, err := NewEngine(testRegistry(t), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(d, "hz-01", "LT-302"); !slices.Contains(got, "tank_level_forecast") {
		t.Errorf("LT-302 rules %q, want a tank_level_forecast", got)
	}
}
