package dispatch

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riskmon/riskmon/sensors"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// metricValue reads one counter or gauge from g; labels must match exactly
// the series' labels. It fails the test when the series does not exist.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

// testRegistry is one site with one combustible-gas sensor.
func testRegistry(t testing.TB) *sensors.Registry {
	t.Helper()
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(),
		[]sensors.Site{{ID: "hz-01", Name: "Tank farm", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas"}})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// reading is a reading of sensor sec seconds after t0.
func reading(site, sensor string, sec int, v float64) sensors.Reading {
	return sensors.Reading{Site: site, Sensor: sensor, Value: v, Time: t0.Add(time.Duration(sec) * time.Second)}
}
