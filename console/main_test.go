package console

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// t0 is the device time the fixtures start at.
var t0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

// testRegistry is a small fleet: a chemical plant with two gas detectors,
// a coal mine with one methane sensor, and a pipeline station.
func testRegistry(t testing.TB) *sensors.Registry {
	t.Helper()
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(),
		[]sensors.Site{
			{ID: "plant-a", Name: "Plant A", Sector: sensors.SectorHazchem},
			{ID: "mine-b", Name: "Mine B", Sector: sensors.SectorCoal},
			{ID: "station-c", Name: "Station C", Sector: sensors.SectorPipeline},
		},
		[]sensors.Sensor{
			{ID: "gas-1", Site: "plant-a", Kind: "combustible_gas", Location: "tank 1"},
			{ID: "gas-2", Site: "plant-a", Kind: "combustible_gas", Location: "tank 2"},
			{ID: "ch4-1", Site: "mine-b", Kind: "ch4", Role: "T1"},
			{ID: "p-1", Site: "station-c", Kind: "line_pressure", Setpoints: []sensors.Setpoint{
				{Level: sensors.LevelOrange, Direction: sensors.Above, Value: 6.3},
			}},
		})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// ev builds an event of alert id at minute min after t0.
func ev(id string, typ alerting.EventType, lv sensors.Level, site, sensor string, min int) alerting.Event {
	e := alerting.Event{
		AlertID: id, Rule: "combustible_gas_high", Site: site, Sensor: sensor, Kind: "combustible_gas", Unit: "%LEL",
		Type: typ, Level: lv, Value: 30, Setpoint: 25, At: t0.Add(time.Duration(min) * time.Minute),
		StartsAt: t0, Message: "test",
	}
	if typ == alerting.EventResolved {
		e.Level, e.PrevLevel = sensors.LevelNone, lv
	}
	return e
}
