package simulator

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// TestBenchLibrary: the bench has every shape, its normal runs cover the
// sensor-hours asked for, its noise has lone spikes never closer than
// five readings, and each ramp reaches its first setpoint when its truth
// says.
func TestBenchLibrary(t *testing.T) {
	b, err := NewBench(BenchOptions{Seed: 3, SensorHours: 40})
	if err != nil {
		t.Fatal(err)
	}
	shapes := map[Shape]int{}
	for _, inc := range b.Incidents {
		shapes[inc.Shape]++
	}
	for _, sh := range []Shape{ShapeRamp, ShapeExpRamp, ShapeSpikeTrain, ShapeRupture} {
		if shapes[sh] == 0 {
			t.Errorf("no %s incident: %v", sh, shapes)
		}
	}
	if h := b.NormalHours * float64(len(b.Normal)); h < 40 {
		t.Errorf("%g sensor-hours of normal runs, want at least 40", h)
	}
	// Spikes in the normal runs: lone, and as large as the model says.
	readings := map[string][]float64{}
	err = b.NormalSource().Readings(context.Background(), func(r sensors.Reading) error {
		if r.Kind == "combustible_gas" {
			readings[r.Sensor] = append(readings[r.Sensor], r.Value)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	spikes := 0
	for _, vs := range readings {
		last := -10
		for i, v := range vs {
			if v-1 > 6*0.5-0.3 { // 1 %LEL base, σ 0.5, 6-12σ spikes, a daily drift of 0.3
				if i-last <= 5 {
					t.Fatalf("spikes %d readings apart", i-last)
				}
				last = i
				spikes++
			}
		}
	}
	if spikes == 0 {
		t.Error("no spikes in the normal runs")
	}
	// Each ramp reaches its setpoint at its Alarm time (noise aside).
	var ramp BenchIncident
	for _, inc := range b.Incidents {
		if inc.Shape == ShapeExpRamp && inc.Kind == "co" {
			ramp = inc
			break
		}
	}
	at := ramp.Alarm.Sub(b.Start)
	if v := b.script(ramp, at, 2); math.Abs(v-20) > 1e-9 {
		t.Errorf("co accelerating ramp at its alarm time: %g, want 20", v)
	}
	if v := b.script(ramp, at-ramp.Rise/2, 2); v > 2+0.25*18 {
		t.Errorf("co accelerating ramp half-way: %g, want it still low (accelerating)", v)
	}
	if v := b.script(ramp, ramp.Onset.Sub(b.Start)-time.Second, 2); v != 2 {
		t.Errorf("before onset %g, want the normal value", v)
	}
}

// TestScoreBench: an alert on a normal sensor is false, one before an
// incident's onset too; the lead and ETA error come from the first early
// warning.
func TestScoreBench(t *testing.T) {
	b, err := NewBench(BenchOptions{Seed: 1, SensorHours: 40, Rises: []time.Duration{2 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	var ramp BenchIncident
	for _, inc := range b.Incidents {
		if inc.Shape == ShapeRamp && inc.Kind == "co" {
			ramp = inc
		}
	}
	warnAt := ramp.Alarm.Add(-90 * time.Second)
	incidents := []AlertEvent{
		{Rule: "co_forecast", Site: ramp.Site, Sensor: ramp.Sensor, Type: "fired", At: warnAt, Due: ramp.Alarm.Add(30 * time.Second)},
		{Rule: "co_high", Site: ramp.Site, Sensor: ramp.Sensor, Type: "fired", At: ramp.Alarm},
		{Rule: "co_forecast", Site: ramp.Site, Sensor: ramp.Sensor, Type: "fired", At: ramp.Onset.Add(-5 * time.Minute)},
	}
	normal := []AlertEvent{
		{Rule: "oxygen_forecast", Site: "bench-normal", Sensor: b.Normal[0].ID, Type: "fired", At: b.Start.Add(time.Hour)},
		{Rule: "sensor_stale", Site: "bench-incidents", Sensor: ramp.Sensor, Type: "fired", At: b.Start.Add(time.Hour)},
	}
	sc := b.ScoreBench(normal, incidents)
	if sc.FalseAlerts != 2 {
		t.Errorf("%d false alerts, want 2 (one normal, one before an onset): %+v", sc.FalseAlerts, sc.False)
	}
	if got := sc.Leads[ShapeRamp]; !slices.Contains(got, 90) || slices.Max(got) != 90 {
		t.Errorf("leads %v, want 90 s for the warned ramp, 0 for the others", got)
	}
	if got := sc.KindFracs[ShapeRamp]["co"]; len(got) != 1 || math.Abs(got[0]-90.0/120) > 1e-9 {
		t.Errorf("co ramp shares %v, want the one ramp's 90 s of 120", got)
	}
	if got := sc.KindFracs[ShapeRamp]["oxygen"]; len(got) != 1 || got[0] != 0 {
		t.Errorf("oxygen ramp shares %v, want one unwarned ramp", got)
	}
	if got := sc.ETAErr; len(got) != 1 || math.Abs(got[0]-30.0/90) > 1e-9 {
		t.Errorf("ETA errors %v, want 30 s of 90", got)
	}
	if sc.Detected == 0 || sc.Detected > sc.Incidents {
		t.Errorf("detected %d of %d", sc.Detected, sc.Incidents)
	}
}

// TestBenchCurve: the accelerating ramps' time constant is a share of
// their rise; at half the rise a ramp a·(e^{t/τ}−1) has covered
// 1/(1+e^{rise/2τ}) of its way, whatever the share, and it reaches the
// setpoint at its alarm time.
func TestBenchCurve(t *testing.T) {
	for _, curve := range []float64{0, 0.25, 0.5} {
		b, err := NewBench(BenchOptions{Seed: 1, SensorHours: 40, Rises: []time.Duration{3 * time.Minute}, Curve: curve})
		if err != nil {
			t.Fatal(err)
		}
		var ramp BenchIncident
		for _, inc := range b.Incidents {
			if inc.Shape == ShapeExpRamp && inc.Kind == "co" {
				ramp = inc
			}
		}
		share := curve
		if share == 0 {
			share = 1.0 / 3
		}
		at := ramp.Alarm.Sub(b.Start)
		want := 2 + 18/(1+math.Exp(1/(2*share)))
		if v := b.script(ramp, at-ramp.Rise/2, 2); math.Abs(v-want) > 1e-9 {
			t.Errorf("curve %g: half-way %g, want %g", curve, v, want)
		}
		if v := b.script(ramp, at, 2); math.Abs(v-20) > 1e-9 {
			t.Errorf("curve %g: at the alarm time %g, want 20", curve, v)
		}
	}
}
