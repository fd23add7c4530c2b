package main

import (
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// TestPPMSensorAlarms: a CO detector registered in ppm raises co_high at
// the ppm equal to the mg/m3 setpoints (20 and 40 mg/m3 are 17.17 and
// 34.33 ppm at 24.04 L/mol), at the same readings as an mg/m3 detector in
// the same air.
func TestPPMSensorAlarms(t *testing.T) {
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "s-1", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{{ID: "CO-PPM", Site: "s-1", Kind: "co", Unit: "ppm"}, {ID: "CO-MG", Site: "s-1", Kind: "co"}})
	if err != nil {
		t.Fatal(err)
	}
	// first[sensor][level] is the first reading at which co_high reached
	// the level, in ppm for both sensors.
	first := map[string]map[sensors.Level]float64{"CO-PPM": {}, "CO-MG": {}}
	var ppm float64
	sink := alerting.SinkFunc(func(ev alerting.Event) {
		if ev.Rule != "co_high" || ev.Type == alerting.EventResolved {
			return
		}
		if _, seen := first[ev.Sensor][ev.Level]; !seen {
			first[ev.Sensor][ev.Level] = ppm
		}
	})
	e, err := alerting.NewEngine(reg, sink, alerting.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ppmSensor, _ := reg.Lookup("s-1", "CO-PPM")
	mgSensor, _ := reg.Lookup("s-1", "CO-MG")
	at := time.Now().Add(-time.Hour)
	for i := range 300 { // 10.05 to 39.95 ppm, off the setpoints
		ppm = 10.05 + 0.1*float64(i)
		at = at.Add(5 * time.Second)
		for _, r := range []struct {
			s *sensors.Sensor
			v float64
		}{{ppmSensor, ppm}, {mgSensor, ppm * 28.01 / 24.04}} {
			e.Evaluate(sensors.Reading{Site: "s-1", Sensor: r.s.ID, Kind: "co", Value: r.v, Time: at, Received: at, Ref: r.s})
		}
	}
	want := map[sensors.Level]float64{sensors.LevelOrange: 17.25, sensors.LevelRed: 34.35}
	for sensor, got := range first {
		for lv, v := range want {
			if d := got[lv] - v; d > 1e-9 || d < -1e-9 {
				t.Errorf("%s: co_high level %s first at %g ppm, want %g", sensor, lv, got[lv], v)
			}
		}
	}
}
