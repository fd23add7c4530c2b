package simrun

import (
	"context"
	"io"
	"testing"
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
			var falseAlerts, detected, incidents int
			var hours float64
			for _, s := range scores {
				falseAlerts += s.FalseAlerts
				hours += s.SensorHours
				detected += s.Detected
				incidents += s.Incidents
			}
			if hours < 8000 {
				t.Fatalf("%g sensor-hours, want 8,000", hours)
			}
			if rate := 1000 * float64(falseAlerts) / hours; rate > 1 {
				t.Errorf("%d false alerts in %g sensor-hours: %.2f per 1,000, want at most 1", falseAlerts, hours, rate)
			}
			if detected != incidents {
				t.Errorf("%d of %d incidents detected", detected, incidents)
			}
		})
	}
}
