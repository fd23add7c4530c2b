package simulator

import (
	"fmt"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// everyKindFleet is the demo fleet (design setpoints and values) plus one
// sensor of every catalog kind on its kind's default setpoints.
func everyKindFleet() Fleet {
	f := DemoFleet(1)
	sites := map[sensors.Sector]string{}
	for _, s := range f.Sites {
		if _, ok := sites[s.Sector]; !ok {
			sites[s.Sector] = s.ID
		}
	}
	for i, k := range sensors.DefaultCatalog().Kinds() {
		if len(k.Sectors) == 0 {
			continue
		}
		f.Sensors = append(f.Sensors, sensors.Sensor{ID: fmt.Sprintf("K-%d", 901+i), Site: sites[k.Sectors[0]], Kind: k.ID, Gateway: "gw9"})
	}
	return f
}

// TestDefaultModelsRaiseNoAlert plays three days of every kind's default
// signal model, at the kind's reporting interval, through riskmon's
// alerting engine with its default rules: no setpoint, forecast, rate,
// stuck or jump rule may fire on normal operation.
func TestDefaultModelsRaiseNoAlert(t *testing.T) {
	hours := 72
	if testing.Short() {
		hours = 12
	}
	f := everyKindFleet()
	reg, err := f.Registry(sensors.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	var events []alerting.Event
	eng, err := alerting.NewEngine(reg, alerting.SinkFunc(func(ev alerting.Event) { events = append(events, ev) }), alerting.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	kinds := map[sensors.KindID]bool{}
	for _, s := range reg.Sensors() {
		sig, err := f.Signal(s, 9)
		if err != nil {
			t.Fatal(err)
		}
		sig.SetStart(start)
		k := s.KindInfo()
		kinds[k.ID] = true
		n := 0
		for at := time.Duration(0); at < time.Duration(hours)*time.Hour; at += k.Interval {
			v := sig.Sample(at)
			for _, sp := range s.EffectiveSetpoints() {
				if sp.Trips(v) {
					t.Fatalf("%s/%s at %s: %g trips %+v", s.Site, s.ID, at, v, sp)
				}
			}
			eng.Evaluate(sensors.Reading{Site: s.Site, Sensor: s.ID, Kind: s.Kind, Value: v, Time: start.Add(at), Received: start.Add(at)})
			n++
		}
		if len(events) > 0 {
			t.Fatalf("%s/%s (%s, model %+v): %d readings raised %+v", s.Site, s.ID, s.Kind, sig.Model(), n, events[0])
		}
	}
	if got, want := len(kinds), len(sensors.DefaultCatalog().Kinds()); got != want {
		t.Errorf("played %d kinds, the catalog has %d", got, want)
	}
}
