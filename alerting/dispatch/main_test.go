package dispatch

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/riskmon/riskmon/internal/metrictest"
	"github.com/riskmon/riskmon/sensors"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// metricValue reads one series of g (metrictest.Value).
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	return metrictest.Value(t, g, name, labels)
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
