package simrun

import (
	"context"
	"io"
	"testing"

	"github.com/riskmon/riskmon/simulator"
)

// TestRuleBenchFalseAlertsWhateverTheSpikes: the default rules hold one
// false alert per 1,000 sensor-hours on the bench's AR(1) noise whether
// its sensors spike often (one reading in 300, the bench's default),
// rarely (one in 3,000) or never, and whether that noise is the bench's
// or half of it. A bar measured in a noise deviation that lone spikes
// inflate held on spiky noise and let clean noise page twice as often as
// that.
func TestRuleBenchFalseAlertsWhateverTheSpikes(t *testing.T) {
	tests := []struct {
		name       string
		spikeEvery int
		noiseScale float64
	}{
		{"spikes often", 300, 1},
		{"spikes rarely", 3000, 1},
		{"no spikes", -1, 1},
		{"no spikes, half the noise", -1, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scores, err := RuleBench(context.Background(), io.Discard, RuleBenchOptions{
				Seeds: []uint{21, 22, 23, 24, 25, 26, 27, 28}, SensorHours: 1000,
				SpikeEvery: tt.spikeEvery, NoiseScale: tt.noiseScale})
			if err != nil {
				t.Fatal(err)
			}
			all := pool(scores)
			if all.SensorHours < 8000 {
				t.Fatalf("%g sensor-hours, want 8,000", all.SensorHours)
			}
			if rate := all.FalsePer1000(); rate > 1 {
				t.Errorf("%d false alerts in %g sensor-hours: %.2f per 1,000, want at most 1", all.FalseAlerts, all.SensorHours, rate)
			}
			if all.Detected != all.Incidents {
				t.Errorf("%d of %d incidents detected", all.Detected, all.Incidents)
			}
		})
	}
}

// TestRuleBenchOnTheOutsideSetsNoise scores the default rules on the
// bench with the noise and curve under which the rules before the
// forecast's rework reproduce what an outside evaluation measured for
// them on its own incident set (docs/alerting.md, Scoring the rules, "The
// bench beside the outside evaluation"): every incident detected, at most
// one false alert per 1,000 sensor-hours, and a median lead of at least
// half the ramp for straight and for accelerating ramps alike.
func TestRuleBenchOnTheOutsideSetsNoise(t *testing.T) {
	scores, err := RuleBench(context.Background(), io.Discard, RuleBenchOptions{
		Seeds: []uint{21, 22, 23, 24, 25, 26, 27, 28}, SensorHours: 1000,
		NoiseScale: 0.75, SpikeEvery: 10000, Curve: 0.4})
	if err != nil {
		t.Fatal(err)
	}
	all := pool(scores)
	if all.Detected != all.Incidents {
		t.Errorf("%d of %d incidents detected", all.Detected, all.Incidents)
	}
	if rate := all.FalsePer1000(); rate > 1 {
		t.Errorf("%d false alerts in %g sensor-hours: %.2f per 1,000, want at most 1", all.FalseAlerts, all.SensorHours, rate)
	}
	for _, sh := range []simulator.Shape{simulator.ShapeRamp, simulator.ShapeExpRamp} {
		if len(all.Fracs[sh]) < 100 {
			t.Fatalf("%d %s incidents, want the bench's 128", len(all.Fracs[sh]), sh)
		}
		if m := simulator.Median(all.Fracs[sh]); m < 0.5 {
			t.Errorf("%s: median lead %.0f %% of onset→alarm, want at least 50 %%", sh, 100*m)
		}
	}
}
