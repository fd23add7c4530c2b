package alerting

import (
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmon/riskmon/sensors"
)

var t0 = time.Date(2026, 11, 28, 16, 0, 0, 0, time.UTC)

func testRegistry(t testing.TB) *sensors.Registry {
	t.Helper()
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(),
		[]sensors.Site{
			{ID: "hz-01", Name: "Tank farm", Sector: sensors.SectorHazchem},
			{ID: "cm-01", Name: "Coal mine", Sector: sensors.SectorCoal},
		},
		[]sensors.Sensor{
			{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas"},
			{ID: "GT-102", Site: "hz-01", Kind: "combustible_gas"},
			{ID: "AT-201", Site: "hz-01", Kind: "oxygen"},
			{ID: "LT-301", Site: "hz-01", Kind: "tank_level"}, // no setpoints: no rule
			{ID: "LT-302", Site: "hz-01", Kind: "tank_level", Setpoints: []sensors.Setpoint{
				{Level: sensors.LevelOrange, Direction: sensors.Above, Value: 30},
				{Level: sensors.LevelRed, Direction: sensors.Above, Value: 35},
			}},
			{ID: "CH4-T1", Site: "cm-01", Kind: "ch4", Role: "T1"},
		})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// collect is a Sink that keeps every event.
type collect struct {
	mu     sync.Mutex
	events []Event
}

func (c *collect) Emit(ev Event) {
	c.mu.Lock()
	c.events = append(c.events, ev)
	c.mu.Unlock()
}

func (c *collect) all() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

func reading(site, sensor string, sec int, v float64) sensors.Reading {
	return sensors.Reading{Site: site, Sensor: sensor, Value: v, Time: t0.Add(time.Duration(sec) * time.Second)}
}

func TestEngineDefaultRules(t *testing.T) {
	e, err := NewEngine(testRegistry(t), nil, Options{
		For:     30 * time.Second,
		KindFor: map[sensors.KindID]time.Duration{"oxygen": 10 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	type rule struct {
		id    string
		dir   sensors.Direction
		For   time.Duration
		trips []float64 // setpoint values, most severe first
		clear []float64 // restore values, most severe first
	}
	tests := []struct {
		site, sensor string
		want         []rule
	}{
		{"hz-01", "GT-101", []rule{{"combustible_gas_high", sensors.Above, 30 * time.Second, []float64{50, 25}, []float64{48, 23}}}},
		{"hz-01", "AT-201", []rule{
			{"oxygen_high", sensors.Above, 10 * time.Second, []float64{23.5}, []float64{23.2}},
			{"oxygen_low", sensors.Below, 10 * time.Second, []float64{19.5}, []float64{19.8}},
		}},
		{"hz-01", "LT-302", []rule{{"tank_level_high", sensors.Above, 30 * time.Second, []float64{35, 30}, []float64{34.95, 29.95}}}},
		{"cm-01", "CH4-T1", []rule{{"ch4_high", sensors.Above, 30 * time.Second, []float64{1.5, 1.0}, []float64{1.0, 1.0}}}},
		{"hz-01", "LT-301", nil},
	}
	for _, tt := range tests {
		t.Run(tt.site+"/"+tt.sensor, func(t *testing.T) {
			var got []rule
			if s, ok := e.rules().subjects[subjectKey{tt.site, tt.sensor}]; ok {
				for _, rs := range s.rules {
					r := rule{id: rs.rule.ID(), dir: rs.rule.Direction(), For: rs.rule.For()}
					for _, sp := range rs.rule.Setpoints() {
						r.trips = append(r.trips, sp.Value)
						r.clear = append(r.clear, math.Round(sp.Clear*1000)/1000)
					}
					got = append(got, r)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("rules\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestEngineRejectsBadSetpoints(t *testing.T) {
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(),
		[]sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{{ID: "LT-1", Site: "hz-01", Kind: "tank_level", Setpoints: []sensors.Setpoint{
			{Level: sensors.LevelOrange, Direction: sensors.Above, Value: 30},
			{Level: sensors.LevelOrange, Direction: sensors.Above, Value: 35},
		}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewEngine(reg, nil, Options{})
	if err == nil || !strings.Contains(err.Error(), "hz-01/LT-1") || !strings.Contains(err.Error(), "set twice") {
		t.Fatalf("err = %v, want one naming hz-01/LT-1 and the doubled level", err)
	}
}

func TestEngineRamp(t *testing.T) {
	var sink collect
	e, err := NewEngine(testRegistry(t), &sink, Options{For: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// A leak that grows past both setpoints, then is isolated and
	// ventilated: one reading every 5 s.
	values := []float64{2, 8, 20, 26, 28, 31, 35, 40, 44, 47, 51, 54, 57, 60, 61, 62, 60, 58,
		55, 50, 46, 40, 33, 27, 24, 23.5, 21, 15, 8, 3, 1}
	for i, v := range values {
		e.Evaluate(reading("hz-01", "GT-101", 5*i, v))
	}
	events := sink.all()
	var got []string
	for _, ev := range events {
		got = append(got, fmt.Sprintf("%s(%d)", ev.Type, ev.Level))
	}
	want := []string{"fired(2)", "escalated(1)", "deescalated(2)", "resolved(0)"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for _, ev := range events {
		if ev.AlertID != events[0].AlertID {
			t.Errorf("%s has alert id %s, want %s", ev.Type, ev.AlertID, events[0].AlertID)
		}
	}
	// Orange first tripped at 15 s (26 %LEL) and held for 30 s; red first
	// tripped at 50 s (51) and held until 80 s.
	if want := t0.Add(15 * time.Second); !events[0].StartsAt.Equal(want) || !events[0].At.Equal(t0.Add(45*time.Second)) {
		t.Errorf("fired: starts at %v at %v, want %v and %v", events[0].StartsAt, events[0].At, want, t0.Add(45*time.Second))
	}
	if want := t0.Add(80 * time.Second); !events[1].At.Equal(want) {
		t.Errorf("escalated at %v, want %v", events[1].At, want)
	}
	st := e.Stats()
	if st.Fired != 1 || st.Escalated != 1 || st.Deescalated != 1 || st.Resolved != 1 || st.Evaluations != uint64(len(values)) {
		t.Errorf("stats %+v", st)
	}
}

func TestEngineSkips(t *testing.T) {
	tests := []struct {
		name     string
		readings []sensors.Reading
		want     []string // event types in order
		stats    Stats
	}{
		{
			name: "out of order ignored",
			readings: []sensors.Reading{
				reading("hz-01", "GT-101", 10, 30),
				reading("hz-01", "GT-101", 5, 0), // late: must not resolve
				reading("hz-01", "GT-101", 10, 30),
			},
			want:  []string{"fired"},
			stats: Stats{Evaluations: 2, OutOfOrder: 1, Fired: 1},
		},
		{
			name: "bad quality ignored",
			readings: []sensors.Reading{
				reading("hz-01", "GT-101", 0, 30),
				{Site: "hz-01", Sensor: "GT-101", Value: 0, Time: t0.Add(5 * time.Second), Quality: sensors.QualityBad},
				{Site: "hz-01", Sensor: "GT-101", Value: 90, Time: t0.Add(6 * time.Second), Quality: sensors.QualityBad},
			},
			want:  []string{"fired"},
			stats: Stats{Evaluations: 1, Skipped: 2, Fired: 1},
		},
		{
			name: "uncertain quality evaluated",
			readings: []sensors.Reading{
				{Site: "hz-01", Sensor: "GT-101", Value: 30, Time: t0, Quality: sensors.QualityUncertain},
			},
			want:  []string{"fired"},
			stats: Stats{Evaluations: 1, Fired: 1},
		},
		{
			name:     "not a number skipped",
			readings: []sensors.Reading{reading("hz-01", "GT-101", 0, math.NaN())},
			stats:    Stats{Skipped: 1},
		},
		{
			// LT-301 has no setpoints, so only the sensor-health rules
			// see it, and one reading raises none of them.
			name: "unknown sensors ignored",
			readings: []sensors.Reading{
				reading("hz-01", "LT-301", 0, 99),
				reading("hz-01", "nope", 0, 99),
				reading("nowhere", "GT-101", 0, 99),
			},
			stats: Stats{Evaluations: 1},
		},
		{
			name: "out of order is per sensor",
			readings: []sensors.Reading{
				reading("hz-01", "GT-101", 10, 30),
				reading("hz-01", "GT-102", 5, 30),
			},
			want:  []string{"fired", "fired"},
			stats: Stats{Evaluations: 2, Fired: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sink collect
			e, err := NewEngine(testRegistry(t), &sink, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range tt.readings {
				e.Evaluate(r)
			}
			var got []string
			for _, ev := range sink.all() {
				got = append(got, ev.Type.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("events %v, want %v", got, tt.want)
			}
			if st := e.Stats(); st != tt.stats {
				t.Errorf("stats %+v, want %+v", st, tt.stats)
			}
		})
	}
}

func TestEngineActive(t *testing.T) {
	e, err := NewEngine(testRegistry(t), nil, Options{For: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.Evaluate(reading("hz-01", "GT-101", 0, 27))
	e.Evaluate(reading("hz-01", "GT-101", 30, 28)) // fires orange, since 0
	e.Evaluate(reading("hz-01", "AT-201", 20, 18)) // oxygen low, pending since 20
	e.Evaluate(reading("hz-01", "GT-102", 20, 3))  // nothing
	got := e.Active()
	want := []Alert{
		{Rule: "oxygen_low", Site: "hz-01", Sensor: "AT-201", Kind: "oxygen", Unit: "%VOL", State: StatePending,
			Level: sensors.LevelOrange, Value: 18, LastAt: t0.Add(20 * time.Second), Since: t0.Add(20 * time.Second)},
		{Rule: "combustible_gas_high", Site: "hz-01", Sensor: "GT-101", Kind: "combustible_gas", Unit: "%LEL", State: StateFiring,
			Level: sensors.LevelOrange, Value: 28, LastAt: t0.Add(30 * time.Second), Since: t0},
	}
	if len(got) != len(want) {
		t.Fatalf("active %+v, want %d alerts", got, len(want))
	}
	for i := range want {
		want[i].ID = got[i].ID // checked below
		if got[i] != want[i] {
			t.Errorf("alert %d\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	// The firing alert's id is the one its events carry.
	var sink collect
	e2, _ := NewEngine(testRegistry(t), &sink, Options{For: 30 * time.Second})
	e2.Evaluate(reading("hz-01", "GT-101", 0, 27))
	e2.Evaluate(reading("hz-01", "GT-101", 30, 28))
	if evs := sink.all(); len(evs) != 1 || evs[0].AlertID != got[1].ID {
		t.Errorf("events %+v, want one fired with id %s", evs, got[1].ID)
	}
}

func TestEngineMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	e, err := NewEngine(testRegistry(t), nil, Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	e.Evaluate(reading("hz-01", "GT-101", 0, 30))
	e.Evaluate(reading("hz-01", "GT-102", 0, 55))
	e.Evaluate(reading("hz-01", "GT-102", 10, 40))
	e.Evaluate(reading("hz-01", "GT-102", 5, 0))
	e.Evaluate(sensors.Reading{Site: "hz-01", Sensor: "GT-101", Time: t0.Add(20 * time.Second), Quality: sensors.QualityBad})
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"riskmon_alert_evaluations_total", nil, 3},
		{"riskmon_alert_out_of_order_total", nil, 1},
		{"riskmon_alert_skipped_total", map[string]string{"reason": "bad_quality"}, 1},
		{"riskmon_alerts_events_total", map[string]string{"rule": "combustible_gas_high", "level": "2-orange", "type": "fired"}, 1},
		{"riskmon_alerts_events_total", map[string]string{"rule": "combustible_gas_high", "level": "1-red", "type": "fired"}, 1},
		{"riskmon_alerts_events_total", map[string]string{"rule": "combustible_gas_high", "level": "2-orange", "type": "deescalated"}, 1},
		{"riskmon_alerts_active", map[string]string{"level": "2-orange"}, 2},
		{"riskmon_alerts_active", map[string]string{"level": "1-red"}, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.name, tt.labels), func(t *testing.T) {
			if got := metricValue(t, reg, tt.name, tt.labels); got != tt.want {
				t.Errorf("%s%v = %g, want %g", tt.name, tt.labels, got, tt.want)
			}
		})
	}
	// A second engine on the same registry is a wiring mistake.
	if _, err := NewEngine(testRegistry(t), nil, Options{Registerer: reg}); err == nil {
		t.Error("second engine registered its metrics twice without error")
	}
}

// TestEngineConcurrent runs several workers over distinct sensors, as
// ingest does, plus a reader of Active; run it with -race.
func TestEngineConcurrent(t *testing.T) {
	var sink collect
	e, err := NewEngine(testRegistry(t), &sink, Options{Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, sensor := range []string{"GT-101", "GT-102", "AT-201", "LT-302"} {
		wg.Go(func() {
			for i := range 1000 {
				v := float64(i % 60)
				e.Evaluate(reading("hz-01", sensor, i, v))
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			_ = e.Active()
		}
	})
	wg.Wait()
	st := e.Stats()
	if st.Evaluations != 4000 || st.Fired == 0 || st.Fired != st.Resolved+uint64(len(e.Active())) {
		t.Errorf("stats %+v with %d active", st, len(e.Active()))
	}
}

func TestEvaluateDoesNotAllocate(t *testing.T) {
	e, err := NewEngine(testRegistry(t), nil, Options{For: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := reading("hz-01", "GT-101", 0, 12)
	if n := testing.AllocsPerRun(1000, func() {
		r.Time = r.Time.Add(time.Second)
		e.Evaluate(r)
	}); n != 0 {
		t.Errorf("Evaluate allocates %g times per reading without a transition", n)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	reg := testRegistry(b)
	e, err := NewEngine(reg, nil, Options{For: 30 * time.Second, Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	// Pending and back, never firing: the common no-transition path with
	// the state machine doing real work.
	readings := []sensors.Reading{
		reading("hz-01", "GT-101", 0, 12),
		reading("hz-01", "AT-201", 0, 20.9),
		reading("hz-01", "GT-102", 0, 26),
		reading("cm-01", "CH4-T1", 0, 0.4),
	}
	for i := range readings {
		readings[i].Ref, _ = reg.Lookup(readings[i].Site, readings[i].Sensor) // as validation sets it
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := readings[i%len(readings)]
		r.Time = t0.Add(time.Duration(i) * time.Second)
		if r.Sensor == "GT-102" && i%8 == 2 {
			r.Value = 20
		}
		e.Evaluate(r)
	}
}

func BenchmarkEvaluateParallel(b *testing.B) {
	e, err := NewEngine(testRegistry(b), nil, Options{})
	if err != nil {
		b.Fatal(err)
	}
	sensorsIDs := []string{"GT-101", "GT-102", "AT-201", "LT-302"}
	var mu sync.Mutex
	next := 0
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		sensor := sensorsIDs[next%len(sensorsIDs)]
		next++
		mu.Unlock()
		r := reading("hz-01", sensor, 0, 10)
		for pb.Next() {
			r.Time = r.Time.Add(time.Second)
			e.Evaluate(r)
		}
	})
}

func TestEngineLogsStateChanges(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e, err := NewEngine(testRegistry(t), nil, Options{For: 10 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []float64{30, 30, 30, 3} {
		e.Evaluate(reading("hz-01", "GT-101", 5*i, v))
	}
	var got []string
	for line := range strings.Lines(buf.String()) {
		_, msg, _ := strings.Cut(line, "msg=")
		msg, _, _ = strings.Cut(msg, " rule=")
		got = append(got, strings.Trim(msg, `"`))
	}
	want := []string{"inactive => pending", "pending => firing", "firing => inactive"}
	if !slices.Equal(got, want) {
		t.Errorf("logged %q, want %q", got, want)
	}
}

// TestEvaluateFindsSensorByRef checks that a reading is evaluated against
// its own sensor's rules whatever registry entry it carries: the entry of
// the registry the rules were built on (found by index), none, or one of
// another registry whose sensor at the same index is a different one (a
// registry replaced by a reload, in another order).
func TestEvaluateFindsSensorByRef(t *testing.T) {
	newReg := func(ids ...string) *sensors.Registry {
		t.Helper()
		var ss []sensors.Sensor
		for _, id := range ids {
			kind := sensors.KindID("combustible_gas")
			if strings.HasPrefix(id, "LT") {
				kind = "tank_level" // no setpoints: no threshold rule
			}
			ss = append(ss, sensors.Sensor{ID: id, Site: "hz-01", Kind: kind})
		}
		reg, err := sensors.NewRegistry(sensors.DefaultCatalog(),
			[]sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}}, ss)
		if err != nil {
			t.Fatal(err)
		}
		return reg
	}
	entry := func(reg *sensors.Registry, id string) *sensors.Sensor {
		s, ok := reg.Lookup("hz-01", id)
		if !ok {
			t.Fatalf("no sensor %s", id)
		}
		return s
	}
	built := newReg("GT-1", "GT-2", "LT-3")
	reversed := newReg("LT-3", "GT-2", "GT-1")
	tests := []struct {
		name   string
		reload *sensors.Registry // rules rebuilt on this registry first
		sensor string
		ref    *sensors.Sensor
		want   []string // sensors whose high alert fires
	}{
		{"entry of the rules' registry", nil, "GT-1", entry(built, "GT-1"), []string{"GT-1"}},
		{"second entry", nil, "GT-2", entry(built, "GT-2"), []string{"GT-2"}},
		{"no entry", nil, "GT-2", nil, []string{"GT-2"}},
		{"entry of another registry, other sensor at its index", nil, "GT-1", entry(reversed, "GT-1"), []string{"GT-1"}},
		{"entry outside any registry", nil, "GT-2", &sensors.Sensor{ID: "GT-2", Site: "hz-01"}, []string{"GT-2"}},
		{"sensor without a threshold rule", nil, "LT-3", entry(built, "LT-3"), nil},
		{"entry of the registry a reload replaced", reversed, "GT-1", entry(built, "GT-1"), []string{"GT-1"}},
		{"entry of the registry a reload installed", reversed, "GT-1", entry(reversed, "GT-1"), []string{"GT-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c collect
			e, err := NewEngine(built, &c, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if tt.reload != nil {
				if _, err := e.Reload(tt.reload, Options{}); err != nil {
					t.Fatal(err)
				}
			}
			r := reading("hz-01", tt.sensor, 0, 60)
			r.Ref = tt.ref
			e.Evaluate(r)
			var got []string
			for _, ev := range c.all() {
				if ev.Rule == "combustible_gas_high" && ev.Type == EventFired {
					got = append(got, ev.Sensor)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("fired for %v, want %v", got, tt.want)
			}
			if e.Stats().Evaluations != 1 {
				t.Errorf("%d readings evaluated, want 1", e.Stats().Evaluations)
			}
		})
	}
}
