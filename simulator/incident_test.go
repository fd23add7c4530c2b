package simulator

import (
	"math"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

func TestGasLeakValueAt(t *testing.T) {
	leak := GasLeak{Site: "hz-01", Sensor: "GT-201", Start: 10 * time.Second, RampUp: 60 * time.Second,
		Hold: 30 * time.Second, RampDown: 40 * time.Second, Peak: 60}
	const base = 0.6
	tests := []struct {
		at   time.Duration
		want float64
	}{
		{0, base},
		{10*time.Second - time.Millisecond, base},
		{10 * time.Second, base},
		{40 * time.Second, base + (60-base)/2}, // half way up
		{70 * time.Second, 60},                 // top of the ramp
		{99 * time.Second, 60},                 // holding
		{100 * time.Second, 60},                // ramp down begins
		{120 * time.Second, base + (60-base)/2},
		{140 * time.Second, base}, // over
		{time.Hour, base},
	}
	for _, tt := range tests {
		if got := leak.ValueAt(tt.at, base); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("ValueAt(%s) = %g, want %g", tt.at, got, tt.want)
		}
	}
	if leak.End() != 140*time.Second {
		t.Errorf("End = %s", leak.End())
	}

	// Zero-length phases step instead of dividing by zero.
	step := GasLeak{Start: time.Second, Hold: time.Second, Peak: 30}
	for at, want := range map[time.Duration]float64{999 * time.Millisecond: base, time.Second: 30, 2 * time.Second: base} {
		if got := step.ValueAt(at, base); got != want {
			t.Errorf("step ValueAt(%s) = %g, want %g", at, got, want)
		}
	}
}

func TestGasLeakCrossings(t *testing.T) {
	gas := sensors.DefaultCatalog()
	k, _ := gas.Kind("combustible_gas")
	o2, _ := gas.Kind("oxygen")
	tests := []struct {
		name      string
		leak      GasLeak
		baseline  float64
		setpoints []sensors.Setpoint
		want      []Crossing // Setpoint filled from setpoints by index
		wantIdx   []int
	}{
		{
			// 0.6 -> 60 %LEL over 60 s: 25 %LEL is 24.4/59.4 of the way.
			name:     "gas leak trips both levels",
			leak:     GasLeak{Start: 10 * time.Second, RampUp: 60 * time.Second, Hold: 30 * time.Second, RampDown: 60 * time.Second, Peak: 60},
			baseline: 0.6, setpoints: k.Resolve(k.Setpoints),
			wantIdx: []int{0, 1},
			want: []Crossing{
				{Up: 10*time.Second + frac(60*time.Second, 24.4/59.4), Down: 100*time.Second + frac(60*time.Second, 1-24.4/59.4), Clear: 100*time.Second + frac(60*time.Second, 1-22.4/59.4)},
				{Up: 10*time.Second + frac(60*time.Second, 49.4/59.4), Down: 100*time.Second + frac(60*time.Second, 1-49.4/59.4), Clear: 100*time.Second + frac(60*time.Second, 1-47.4/59.4)},
			},
		},
		{
			name:     "peak below the second level",
			leak:     GasLeak{RampUp: 10 * time.Second, RampDown: 10 * time.Second, Peak: 30},
			baseline: 0, setpoints: k.Resolve(k.Setpoints),
			wantIdx: []int{0},
			want:    []Crossing{{Up: frac(10*time.Second, 25.0/30), Down: 10*time.Second + frac(10*time.Second, 1-25.0/30), Clear: 10*time.Second + frac(10*time.Second, 1-23.0/30)}},
		},
		{
			name:     "peak exactly at the setpoint trips",
			leak:     GasLeak{RampUp: 10 * time.Second, Hold: 5 * time.Second, RampDown: 10 * time.Second, Peak: 25},
			baseline: 0, setpoints: k.Resolve(k.Setpoints),
			wantIdx: []int{0},
			want:    []Crossing{{Up: 10 * time.Second, Down: 15 * time.Second, Clear: 15*time.Second + frac(10*time.Second, 2.0/25)}},
		},
		{
			name:     "below noise level trips nothing",
			leak:     GasLeak{RampUp: 10 * time.Second, RampDown: 10 * time.Second, Peak: 20},
			baseline: 0, setpoints: k.Resolve(k.Setpoints),
		},
		{
			// An oxygen deficiency ramps down through the low setpoint.
			name:     "falling ramp",
			leak:     GasLeak{RampUp: 30 * time.Second, Hold: 10 * time.Second, RampDown: 30 * time.Second, Peak: 17.9},
			baseline: 20.9, setpoints: o2.Resolve(o2.Setpoints),
			wantIdx: []int{0},
			want:    []Crossing{{Up: frac(30*time.Second, 1.4/3), Down: 40*time.Second + frac(30*time.Second, 1-1.4/3), Clear: 40*time.Second + frac(30*time.Second, 1-1.1/3)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.leak.Crossings(tt.baseline, tt.setpoints)
			if len(got) != len(tt.want) {
				t.Fatalf("%d crossings, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, c := range got {
				w := tt.want[i]
				w.Setpoint = tt.setpoints[tt.wantIdx[i]]
				if c.Setpoint != w.Setpoint {
					t.Errorf("crossing %d: setpoint %+v, want %+v", i, c.Setpoint, w.Setpoint)
				}
				for _, d := range []struct {
					name      string
					got, want time.Duration
				}{{"up", c.Up, w.Up}, {"down", c.Down, w.Down}, {"clear", c.Clear, w.Clear}} {
					if diff := d.got - d.want; diff < -time.Microsecond || diff > time.Microsecond {
						t.Errorf("crossing %d %s = %s, want %s", i, d.name, d.got, d.want)
					}
				}
				// The ramp itself agrees with the crossing times.
				sp := c.Setpoint
				ms := time.Millisecond
				if sp.Trips(tt.leak.ValueAt(c.Up-ms, tt.baseline)) || !sp.Trips(tt.leak.ValueAt(c.Up+ms, tt.baseline)) {
					t.Errorf("crossing %d: ramp does not trip at Up %s", i, c.Up)
				}
				if !sp.Trips(tt.leak.ValueAt(c.Down-ms, tt.baseline)) || sp.Trips(tt.leak.ValueAt(c.Down+ms, tt.baseline)) {
					t.Errorf("crossing %d: ramp does not leave the setpoint at Down %s", i, c.Down)
				}
				if sp.Clears(tt.leak.ValueAt(c.Clear-ms, tt.baseline)) || !sp.Clears(tt.leak.ValueAt(c.Clear+ms, tt.baseline)) {
					t.Errorf("crossing %d: ramp does not clear at Clear %s", i, c.Clear)
				}
			}
		})
	}
}

func frac(d time.Duration, f float64) time.Duration { return time.Duration(float64(d) * f) }

func TestGasLeakValidate(t *testing.T) {
	tests := []struct {
		name string
		leak GasLeak
		ok   bool
	}{
		{"valid", GasLeak{Site: "hz-01", Sensor: "GT-201", RampUp: time.Second, Peak: 50}, true},
		{"no sensor", GasLeak{Site: "hz-01", Peak: 50}, false},
		{"negative hold", GasLeak{Site: "hz-01", Sensor: "GT-201", Hold: -time.Second}, false},
	}
	for _, tt := range tests {
		if err := tt.leak.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v", tt.name, err)
		}
	}
}
