package console

import (
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// TestLiveValueAndPeak: the board's value follows the sensor after the
// alarm event, and the peak is the worst reading since the alarm began —
// not one from before it, nor one after it resolved.
func TestLiveValueAndPeak(t *testing.T) {
	tests := []struct {
		name       string
		rule       string
		fireAt     float64
		before     float64   // a reading before the alarm began
		after      []float64 // readings while it is open
		wantLive   float64
		wantPeak   float64
		afterClose float64 // a reading after it resolved
	}{
		{"high alarm keeps rising", "combustible_gas_high", 50, 70, []float64{53.2, 56.9, 55.1}, 55.1, 56.9, 80},
		{"low alarm keeps falling", "combustible_gas_low", 19.4, 12, []float64{19.0, 18.6, 19.2}, 19.2, 18.6, 10},
		{"peak is the event when readings stay below it", "combustible_gas_high", 50, 0, []float64{49, 48}, 48, 50, 90},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHub(testRegistry(t), HubOptions{})
			at := t0
			read := func(v float64) {
				at = at.Add(5 * time.Second)
				h.Readings([]sensors.Reading{{Site: "plant-a", Sensor: "gas-1", Value: v, Time: at}})
			}
			read(tc.before)
			e := ev("a1", alerting.EventFired, sensors.LevelRed, "plant-a", "gas-1", 1)
			e.Rule, e.Value = tc.rule, tc.fireAt
			h.Event(e)
			for _, v := range tc.after {
				read(v)
			}
			a, ok := h.Alert("a1")
			if !ok {
				t.Fatal("alert missing")
			}
			if a.LiveValue == nil || *a.LiveValue != tc.wantLive || a.LiveAt == nil || !a.LiveAt.Equal(at) {
				t.Errorf("live %v at %v, want %v at %v", a.LiveValue, a.LiveAt, tc.wantLive, at)
			}
			if a.PeakValue != tc.wantPeak {
				t.Errorf("peak %v, want %v", a.PeakValue, tc.wantPeak)
			}
			if a.Value != tc.fireAt {
				t.Errorf("event value %v changed, want %v", a.Value, tc.fireAt)
			}
			r := ev("a1", alerting.EventResolved, sensors.LevelRed, "plant-a", "gas-1", 9)
			r.Rule = tc.rule
			h.Event(r)
			read(tc.afterClose)
			if a, _ := h.Alert("a1"); a.PeakValue != tc.wantPeak {
				t.Errorf("peak after resolve %v, want %v", a.PeakValue, tc.wantPeak)
			}
		})
	}
}

// TestPeakSurvivesRegistryReload: a reload keeps feeding the open
// alert's peak.
func TestPeakSurvivesRegistryReload(t *testing.T) {
	reg := testRegistry(t)
	h := NewHub(reg, HubOptions{})
	e := ev("a1", alerting.EventFired, sensors.LevelOrange, "plant-a", "gas-1", 0)
	e.Value = 26
	h.Event(e)
	h.SetRegistry(testRegistry(t))
	h.Readings([]sensors.Reading{{Site: "plant-a", Sensor: "gas-1", Value: 31, Time: t0.Add(time.Minute)}})
	if a, _ := h.Alert("a1"); a.PeakValue != 31 {
		t.Errorf("peak after reload %v, want 31", a.PeakValue)
	}
}

// TestPeakConcurrent feeds readings while alarms open, resolve and are
// read, for the race detector: the peak is shared by the ingest path and
// the alert bookkeeping.
func TestPeakConcurrent(t *testing.T) {
	h := NewHub(testRegistry(t), HubOptions{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			h.Readings([]sensors.Reading{{Site: "plant-a", Sensor: "gas-1", Value: float64(i % 90), Time: t0.Add(time.Duration(i) * time.Second)}})
		}
	}()
	for i := range 200 {
		id := "a" + string(rune('a'+i%26)) + time.Duration(i).String()
		e := ev(id, alerting.EventFired, sensors.LevelOrange, "plant-a", "gas-1", i)
		h.Event(e)
		h.Alerts(AlertFilter{}, 0, 0)
		h.Event(ev(id, alerting.EventResolved, sensors.LevelOrange, "plant-a", "gas-1", i+1))
	}
	<-done
	h.rmu.Lock()
	defer h.rmu.Unlock()
	if n := len(h.latest[0].peaks); n != 0 {
		t.Errorf("%d peaks still fed after every alarm resolved", n)
	}
}
