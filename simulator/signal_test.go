package simulator

import (
	"math"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

const samples = 10_000

func TestSignalsStaySafe(t *testing.T) {
	fleets := map[string]Fleet{"demo": DemoFleet(1), "synthetic": SyntheticFleet(5, 30)}
	for name, f := range fleets {
		reg, err := f.Registry(sensors.DefaultCatalog())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range reg.Sensors() {
			t.Run(name+"/"+s.Site+"/"+s.ID, func(t *testing.T) {
				sig, err := f.Signal(s, 42)
				if err != nil {
					t.Fatal(err)
				}
				k := s.KindInfo()
				sps := s.EffectiveSetpoints()
				low, high := sig.SafeBand()
				scale := math.Pow10(sig.Decimals())
				step := k.Interval
				for i := range samples {
					v := sig.Sample(time.Duration(i) * step)
					if !k.InRange(v) {
						t.Fatalf("sample %d: %g outside %g..%g", i, v, k.Min, k.Max)
					}
					for _, sp := range sps {
						if sp.Trips(v) || !sp.Clears(v) {
							t.Fatalf("sample %d: %g reaches setpoint %+v (baseline %g, sigma %g)", i, v, sp, sig.Baseline(), sig.Sigma())
						}
					}
					if v <= low || v >= high {
						t.Fatalf("sample %d: %g outside safe band %g..%g", i, v, low, high)
					}
					if q := v * scale; math.Abs(q-math.Round(q)) > 1e-6 {
						t.Fatalf("sample %d: %g not on the %d-decimal grid", i, v, sig.Decimals())
					}
				}
			})
		}
	}
}

func TestSignalDeterministic(t *testing.T) {
	f := DemoFleet(1)
	reg, err := f.Registry(sensors.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	draw := func(s *sensors.Sensor, seed int64) []float64 {
		sig, err := f.Signal(s, seed)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float64, samples)
		for i := range out {
			out[i] = sig.Sample(time.Duration(i) * time.Minute)
		}
		return out
	}
	for _, s := range reg.Sensors() {
		a, b, c := draw(s, 7), draw(s, 7), draw(s, 8)
		same, differ := true, false
		for i := range a {
			same = same && a[i] == b[i]
			differ = differ || a[i] != c[i]
		}
		if !same {
			t.Errorf("%s/%s: same seed, different samples", s.Site, s.ID)
		}
		sig, _ := f.Signal(s, 7)
		if !differ && sig.Sigma() > 0 {
			t.Errorf("%s/%s: different seeds, same samples", s.Site, s.ID)
		}
	}
	// Two sensors of one kind and seed must not share a noise stream.
	g1, _ := reg.Lookup("hz-01", "GT-201")
	g2, _ := reg.Lookup("hz-01", "GT-202")
	a, b := draw(g1, 7), draw(g2, 7)
	equal := 0
	for i := range a {
		if a[i] == b[i] {
			equal++
		}
	}
	if equal == len(a) {
		t.Errorf("GT-201 and GT-202 draw the same noise")
	}
}

func TestSignalBaseline(t *testing.T) {
	cat := sensors.DefaultCatalog()
	kind := func(id sensors.KindID) *sensors.Kind {
		k, ok := cat.Kind(id)
		if !ok {
			t.Fatalf("no kind %s", id)
		}
		return k
	}
	above := func(v float64) sensors.Setpoint { return sensors.Setpoint{Level: sensors.LevelOrange, Value: v} }
	below := func(v float64) sensors.Setpoint {
		return sensors.Setpoint{Level: sensors.LevelOrange, Direction: sensors.Below, Value: v}
	}
	tests := []struct {
		name      string
		kind      sensors.KindID
		setpoints []sensors.Setpoint
		nominal   float64
		want      float64
		wantErr   bool
	}{
		{name: "typical value", kind: "combustible_gas", setpoints: kind("combustible_gas").Setpoints, nominal: math.NaN(), want: 0.6},
		{name: "nominal wins", kind: "tank_level", setpoints: []sensors.Setpoint{below(2), above(17)}, nominal: 9.6, want: 9.6},
		{name: "middle of band", kind: "tank_level", setpoints: []sensors.Setpoint{below(2), above(18)}, nominal: math.NaN(), want: 10},
		{name: "nominal outside band falls back", kind: "tank_level", setpoints: []sensors.Setpoint{below(2), above(18)}, nominal: 30, want: 10},
		{name: "half way to a high setpoint", kind: "pressure", setpoints: []sensors.Setpoint{above(1.02)}, nominal: math.NaN(), want: 0.5},
		{name: "above a low setpoint", kind: "phreatic_depth", setpoints: []sensors.Setpoint{below(5.9)}, nominal: math.NaN(), want: 9},
		{name: "typical outside band", kind: "ch4", setpoints: []sensors.Setpoint{{Value: 0.1, Clear: 0.1}}, nominal: math.NaN(), want: 0.05},
		{name: "no safe value", kind: "tank_level", setpoints: []sensors.Setpoint{below(20), above(10)}, nominal: math.NaN(), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := NewSignal(kind(tt.kind), tt.setpoints, tt.nominal, 1, "x/y")
			if tt.wantErr {
				if err == nil {
					t.Fatalf("want error, got baseline %g", sig.Baseline())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(sig.Baseline()-tt.want) > 1e-9 {
				t.Errorf("baseline %g, want %g", sig.Baseline(), tt.want)
			}
		})
	}
}
