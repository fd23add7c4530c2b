package simulator

import (
	"math"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

const sec = time.Second

// shapeAt is the noise-free value of ref under inc at elapsed, NaN when
// it reports nothing, and whether the incident shapes it.
func shapeAt(inc Incident, ref SensorRef, elapsed time.Duration, baseline float64) (float64, bool) {
	return inc.Apply(ref, elapsed, baseline, baseline)
}

func TestIncidentShapes(t *testing.T) {
	stuck := 0.35
	hz := func(id string) SensorRef { return SensorRef{"hz-01", id} }
	pipe := func(site, id string) SensorRef { return SensorRef{site, id} }
	rupture := PipelineRupture{Start: 10 * sec, Duration: 10 * time.Minute, AtKm: 50, WaveSpeed: 0.5, Drop: 2, Attenuation: 0.01,
		Fall: 10 * sec, FlowChange: 0.5, Stations: []Station{
			{Site: "pipe-01", Km: 0, Pressure: []string{"PT-101"}, Flow: "FT-103"},
			{Site: "pipe-02", Km: 60, Pressure: []string{"PT-101"}, Flow: "FT-103"},
		}}
	spread := GasSpread{Source: GasLeak{Site: "hz-01", Sensor: "GT-201", Start: 10 * sec, RampUp: 60 * sec, Hold: 10 * sec, RampDown: 60 * sec, Peak: 60},
		Neighbours: []Neighbour{{Sensor: "GT-202", Distance: 20}}, Speed: 0.5, DecayLength: 20}
	vent := VentilationFailure{Site: "coal-01", Wind: []string{"WS-105"}, Gas: []string{"CH4-101"}, Start: 60 * sec, Duration: 10 * time.Minute,
		WindFall: 30 * sec, WindTo: 0.1, GasDelay: 60 * sec, GasRise: 100 * sec, GasPeak: 2}
	rain := TailingsRain{Site: "tail-01", Rain: "RG-103", Pond: "LW-101", Start: 0, Duration: time.Hour, Storm: 10 * time.Minute,
		RainTotal: 100, Lag: 10 * time.Minute, RiseTime: 20 * time.Minute, Rise: 4}

	tests := []struct {
		name     string
		inc      Incident
		ref      SensorRef
		baseline float64
		at       time.Duration
		want     float64 // NaN: reports nothing
		active   bool
	}{
		{"overfill before", TankOverfill{Site: "hz-01", Sensor: "LT-101", Start: 60 * sec, Duration: time.Hour, RatePerHour: 12}, hz("LT-101"), 9.6, 59 * sec, 9.6, false},
		{"overfill 30 min in", TankOverfill{Site: "hz-01", Sensor: "LT-101", Start: 60 * sec, Duration: time.Hour, RatePerHour: 12}, hz("LT-101"), 9.6, 31 * time.Minute, 15.6, true},
		{"overfill capped", TankOverfill{Site: "hz-01", Sensor: "LT-101", Duration: time.Hour, RatePerHour: 12, Max: 19}, hz("LT-101"), 9.6, 59 * time.Minute, 19, true},
		{"overfill over", TankOverfill{Site: "hz-01", Sensor: "LT-101", Duration: time.Hour, RatePerHour: 12}, hz("LT-101"), 9.6, time.Hour, 9.6, false},
		{"runaway start", RunawayTemperature{Site: "hz-01", Sensor: "TT-103", Duration: 20 * time.Minute, Rise: 30, DoublingTime: 5 * time.Minute}, hz("TT-103"), 25, 0, 25, true},
		// 2^(10/5)−1 = 3 of 2^(20/5)−1 = 15: a fifth of the rise at half time.
		{"runaway half time", RunawayTemperature{Site: "hz-01", Sensor: "TT-103", Duration: 20 * time.Minute, Rise: 30, DoublingTime: 5 * time.Minute}, hz("TT-103"), 25, 10 * time.Minute, 31, true},
		{"rupture near station not yet", rupture, pipe("pipe-02", "PT-101"), 5, 10*sec + 19*sec, 5, false},
		{"rupture near station half fallen", rupture, pipe("pipe-02", "PT-101"), 5, 10*sec + 20*sec + 5*sec, 5 - 0.95, true},
		{"rupture far station not yet", rupture, pipe("pipe-01", "PT-101"), 5, 10*sec + 99*sec, 5, false},
		{"rupture far station fallen", rupture, pipe("pipe-01", "PT-101"), 5, 10*sec + 100*sec + 10*sec, 3.5, true},
		{"rupture upstream flow up", rupture, pipe("pipe-01", "FT-103"), 20000, 5 * time.Minute, 30000, true},
		{"rupture downstream flow down", rupture, pipe("pipe-02", "FT-103"), 20000, 5 * time.Minute, 10000, true},
		{"spread source", spread, hz("GT-201"), 0.6, 70 * sec, 60, true},
		{"spread neighbour delayed", spread, hz("GT-202"), 0.6, 49 * sec, 0.6, false},
		{"spread neighbour diluted", spread, hz("GT-202"), 0.6, 110 * sec, 60 / math.E, true},
		{"vent wind falls", vent, SensorRef{"coal-01", "WS-105"}, 1.8, 90 * sec, 0.1, true},
		{"vent gas waits", vent, SensorRef{"coal-01", "CH4-101"}, 0.2, 119 * sec, 0.2, false},
		{"vent gas half way", vent, SensorRef{"coal-01", "CH4-101"}, 0.2, 170 * sec, 1.1, true},
		{"rain gauge", rain, SensorRef{"tail-01", "RG-103"}, 0, 5 * time.Minute, 50, true},
		{"pond lags", rain, SensorRef{"tail-01", "LW-101"}, 1259.6, 9 * time.Minute, 1259.6, false},
		{"pond rises", rain, SensorRef{"tail-01", "LW-101"}, 1259.6, 20 * time.Minute, 1261.6, true},
		{"stuck at value", StuckSensor{Site: "hz-01", Sensor: "PT-105", Duration: time.Minute, Value: &stuck}, hz("PT-105"), 0.85, 30 * sec, 0.35, true},
		{"stuck at baseline", StuckSensor{Site: "hz-01", Sensor: "PT-105", Duration: time.Minute}, hz("PT-105"), 0.85, 30 * sec, 0.85, true},
		{"drift", DriftingSensor{Site: "hz-01", Sensor: "GT-204", Duration: time.Hour, RatePerHour: 10}, hz("GT-204"), 0.6, 30 * time.Minute, 5.6, true},
		{"spike on", Spikes{Site: "hz-01", Sensor: "GT-204", Duration: time.Hour, Every: time.Minute, Width: 5 * sec, Height: 30}, hz("GT-204"), 0.6, 62 * sec, 30.6, true},
		{"spike off", Spikes{Site: "hz-01", Sensor: "GT-204", Duration: time.Hour, Every: time.Minute, Width: 5 * sec, Height: 30}, hz("GT-204"), 0.6, 66 * sec, 0.6, false},
		{"sensor offline", SensorOffline{Site: "hz-01", Sensor: "GT-204", Start: 10 * sec, Duration: time.Minute}, hz("GT-204"), 0.6, 10 * sec, math.NaN(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.inc.Validate(); err != nil {
				t.Fatal(err)
			}
			got, active := shapeAt(tt.inc, tt.ref, tt.at, tt.baseline)
			if active != tt.active {
				t.Errorf("active = %v, want %v", active, tt.active)
			}
			if math.IsNaN(tt.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tt.want) > 1e-6) {
				t.Errorf("value = %g, want %g", got, tt.want)
			}
		})
	}
}

// TestRunawayAccelerates checks the temperature's rise speeds up: each
// minute adds more than the one before.
func TestRunawayAccelerates(t *testing.T) {
	r := RunawayTemperature{Site: "hz-01", Sensor: "TT-103", Duration: 20 * time.Minute, Rise: 30, DoublingTime: 4 * time.Minute}
	ref := SensorRef{"hz-01", "TT-103"}
	prev, prevStep := 25.0, 0.0
	for m := 1; m < 20; m++ {
		v, _ := shapeAt(r, ref, time.Duration(m)*time.Minute, 25)
		if step := v - prev; step <= prevStep {
			t.Fatalf("minute %d added %g, the one before %g", m, step, prevStep)
		} else {
			prev, prevStep = v, step
		}
	}
}

func TestGatewayIncidents(t *testing.T) {
	off := GatewayOffline{Site: "pipe-01", ID: "gw1", Start: time.Minute, Duration: time.Minute}
	skew := ClockSkew{Site: "pipe-01", ID: "gw1", Start: time.Minute, Duration: time.Minute, Offset: 45 * sec}
	for _, tt := range []struct {
		at      time.Duration
		offline bool
		skew    time.Duration
	}{{59 * sec, false, 0}, {time.Minute, true, 45 * sec}, {119 * sec, true, 45 * sec}, {2 * time.Minute, false, 0}} {
		if got := off.Offline(tt.at); got != tt.offline {
			t.Errorf("offline at %s = %v, want %v", tt.at, got, tt.offline)
		}
		if got := skew.ClockOffset(tt.at); got != tt.skew {
			t.Errorf("skew at %s = %s, want %s", tt.at, got, tt.skew)
		}
	}
}

func TestIncidentValidate(t *testing.T) {
	tests := []struct {
		name string
		inc  Incident
	}{
		{"overfill without rate", TankOverfill{Site: "a", Sensor: "b", Duration: time.Minute}},
		{"runaway without doubling", RunawayTemperature{Site: "a", Sensor: "b", Duration: time.Minute, Rise: 1}},
		{"rupture without stations", PipelineRupture{Duration: time.Minute, Drop: 1}},
		{"vent gas after end", VentilationFailure{Site: "a", Wind: []string{"w"}, Gas: []string{"g"}, Duration: time.Minute, GasDelay: time.Minute, GasPeak: 1}},
		{"rain without pond", TailingsRain{Site: "a", Duration: time.Hour, Rise: 1}},
		{"spread neighbour without sensor", GasSpread{Source: GasLeak{Site: "a", Sensor: "b"}, Neighbours: []Neighbour{{Distance: 3}}}},
		{"stuck without duration", StuckSensor{Site: "a", Sensor: "b"}},
		{"drift without rate", DriftingSensor{Site: "a", Sensor: "b", Duration: time.Minute}},
		{"spikes wider than period", Spikes{Site: "a", Sensor: "b", Duration: time.Minute, Every: sec, Width: 2 * sec, Height: 1}},
		{"offline negative start", SensorOffline{Site: "a", Sensor: "b", Start: -sec, Duration: time.Minute}},
		{"gateway offline without gateway", GatewayOffline{Site: "a", Duration: time.Minute}},
		{"skew without offset", ClockSkew{Site: "a", ID: "gw1", Duration: time.Minute}},
	}
	for _, tt := range tests {
		if err := tt.inc.Validate(); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

// TestTruthCrossings checks ground truth against the shapes: a tank
// filling at 24 m/h from 9.6 m reaches the 17 m alarm after 18.5 min.
// The tank's slow drift is turned off for exact times; with it, see
// TestTruthCrossingsFollowLevel.
func TestTruthCrossings(t *testing.T) {
	fleet := DemoFleet(1)
	m := KindModel(mustKind(t, "tank_level"))
	m.Drift = Drift{}
	fleet.Models = map[sensors.KindID]Model{"tank_level": m}
	start := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	over := TankOverfill{Site: "hz-01", Sensor: "LT-101", Start: time.Minute, Duration: 30 * time.Minute, RatePerHour: 24}
	tr, err := BuildTruth(fleet, nil, "t", 1, start, time.Hour, 5*sec, []NamedIncident{{ID: "o", Kind: "tank_overfill", Incident: over}})
	if err != nil {
		t.Fatal(err)
	}
	cs := tr.Incidents[0].Crossings
	if len(cs) != 2 {
		t.Fatalf("crossings %+v, want the 17 m and 18 m ones", cs)
	}
	for i, want := range []struct {
		level sensors.Level
		at    time.Duration
	}{{sensors.LevelOrange, time.Minute + 18*time.Minute + 30*sec}, {sensors.LevelRed, time.Minute + 21*time.Minute}} {
		if cs[i].Level != want.level || cs[i].At.Sub(start)-want.at > 2*time.Millisecond || want.at-cs[i].At.Sub(start) > 2*time.Millisecond {
			t.Errorf("crossing %d: level %s at %s, want %s at %s", i, cs[i].Level, cs[i].At.Sub(start), want.level, want.at)
		}
	}
	if got := tr.Run.SensorHours(); got != 40 {
		t.Errorf("sensor-hours %g, want 40", got)
	}
}

// TestTruthCrossingsFollowLevel: with the tank level drifting, the fill
// starts from the drifting level, and the truth's crossing is where that
// level plus the fill reaches the setpoint.
func TestTruthCrossingsFollowLevel(t *testing.T) {
	fleet := DemoFleet(1)
	start := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	over := TankOverfill{Site: "hz-01", Sensor: "LT-101", Start: time.Minute, Duration: 30 * time.Minute, RatePerHour: 24}
	tr, err := BuildTruth(fleet, nil, "t", 1, start, time.Hour, 5*sec, []NamedIncident{{ID: "o", Kind: "tank_overfill", Incident: over}})
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := fleet.Registry(sensors.DefaultCatalog())
	s, _ := reg.Lookup("hz-01", "LT-101")
	sig, err := fleet.Signal(s, 1)
	if err != nil {
		t.Fatal(err)
	}
	sig.SetStart(start)
	if sig.Level(over.Start) == sig.Baseline() {
		t.Fatal("the tank level does not drift: the test shows nothing")
	}
	cs := tr.Incidents[0].Crossings
	if len(cs) != 2 {
		t.Fatalf("crossings %+v, want the 17 m and 18 m ones", cs)
	}
	for _, c := range cs {
		at := c.At.Sub(start)
		v, _ := over.Apply(SensorRef{"hz-01", "LT-101"}, at, sig.Level(at), 0)
		before, _ := over.Apply(SensorRef{"hz-01", "LT-101"}, at-2*time.Millisecond, sig.Level(at-2*time.Millisecond), 0)
		if v < c.Setpoint || before >= c.Setpoint {
			t.Errorf("crossing of %g at %s: value %g there, %g 2 ms before", c.Setpoint, at, v, before)
		}
	}
}

func mustKind(t *testing.T, id sensors.KindID) *sensors.Kind {
	t.Helper()
	k, ok := sensors.DefaultCatalog().Kind(id)
	if !ok {
		t.Fatalf("no kind %s", id)
	}
	return k
}
