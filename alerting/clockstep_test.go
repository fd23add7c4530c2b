package alerting

import (
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// A gateway 100 s fast for 15 s, then corrected: the readings after the
// correction are older than the last evaluated, and without the step
// being recognised a gas ramp to 60 %LEL 4 s later raised nothing. The
// step is recognised at the first corrected reading, reported once, and
// the ramp pages. A clock stepped from right to slow is recognised once
// its readings have lagged steadily for a few seconds; a replay is taken
// for neither.
func TestClockStepBack(t *testing.T) {
	type reading struct {
		recv time.Duration // receive time after t0, on riskmon's clock
		skew time.Duration // gateway clock minus riskmon's
		v    float64
		hist bool
	}
	var fast, ramp []reading
	for d := time.Duration(0); d < 15*time.Second; d += time.Second {
		fast = append(fast, reading{recv: d, skew: 100 * time.Second, v: 3})
	}
	for i := range 10 {
		// 4 s after the correction the gas climbs to 60 %LEL.
		v := 3.0
		if i >= 4 {
			v = 3 + float64(i-3)*10
		}
		ramp = append(ramp, reading{recv: 15*time.Second + time.Duration(i)*time.Second, v: min(v, 60)})
	}
	replay := make([]reading, 0, len(ramp))
	for _, r := range ramp {
		// The same device times replayed from a buffer: 3 minutes old.
		replay = append(replay, reading{recv: r.recv + 3*time.Minute, skew: -3 * time.Minute, v: r.v})
	}
	var right, slow, drain []reading
	for d := time.Duration(0); d < 15*time.Second; d += time.Second {
		right = append(right, reading{recv: d, v: 3})
	}
	for _, r := range ramp {
		// Stepped from right to 100 s slow at the end of the right spell.
		slow = append(slow, reading{recv: r.recv, skew: -100 * time.Second, v: r.v})
	}
	for i, r := range ramp {
		// A buffer of the 100 s before drained ten times faster than real
		// time after the right spell: the lag shrinks with every reading.
		drain = append(drain, reading{recv: 15*time.Second + time.Duration(i)*100*time.Millisecond,
			skew: -100*time.Second + time.Duration(i)*900*time.Millisecond, v: r.v})
	}
	tests := []struct {
		name      string
		readings  []reading
		tolerance time.Duration
		steps     int  // clock steps reported
		fire      bool // the ramp fires the gas alert
	}{
		{"stepped back then ramp", append(append([]reading{}, fast...), ramp...), 0, 1, true},
		{"recognition off", append(append([]reading{}, fast...), ramp...), -1, 0, false},
		{"steady clock, ramp", ramp, 0, 0, true},
		// After a fast spell, a replay that lags riskmon's clock is not a
		// step: its readings stay ignored as out of order.
		{"late replay after a fast spell", append(append([]reading{}, fast...), replay...), 0, 0, false},
		// From right to 100 s slow: confirmed after a steady lag of 5 s.
		{"stepped from right to slow then ramp", append(append([]reading{}, right...), slow...), 0, 1, true},
		{"buffer drained fast after a right spell", append(append([]reading{}, right...), drain...), 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sink collect
			var steps []ClockStep
			e, err := NewEngine(testRegistry(t), &sink, Options{SkewTolerance: tt.tolerance, OnClockStep: func(c ClockStep) { steps = append(steps, c) }})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range tt.readings {
				recv := t0.Add(r.recv)
				e.Evaluate(sensors.Reading{Site: "hz-01", Sensor: "GT-101", Value: r.v, Time: recv.Add(r.skew), Received: recv, Historical: r.hist})
			}
			fired := false
			for _, ev := range sink.all() {
				fired = fired || (ev.Rule == "combustible_gas_high" && (ev.Type == EventFired || ev.Type == EventEscalated) && ev.Level == sensors.LevelRed)
			}
			if fired != tt.fire {
				t.Fatalf("gas alert at level 1 raised: %v, want %v; events %+v; stats %+v", fired, tt.fire, sink.all(), e.Stats())
			}
			if len(steps) != tt.steps || int(e.Stats().ClockSteps) != tt.steps {
				t.Fatalf("steps reported %+v (counted %d), want %d", steps, e.Stats().ClockSteps, tt.steps)
			}
			if tt.steps == 1 {
				if s := steps[0]; s.Step < 95*time.Second || s.Step > 105*time.Second || s.Sensor != "GT-101" {
					t.Fatalf("step %+v, want about 100 s on GT-101", s)
				}
			}
		})
	}
}
