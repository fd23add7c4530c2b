package store

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

var t0 = time.Date(2026, 11, 28, 16, 0, 0, 0, time.UTC)

func sampleEvent() alerting.Event {
	return alerting.Event{
		AlertID: "0123456789abcdef", Rule: "combustible_gas_high", Site: "hz-01", Sensor: "GT-101",
		Kind: "combustible_gas", Unit: "%LEL", Type: alerting.EventFired, Level: sensors.LevelOrange,
		Value: 27.3, Setpoint: 25, At: t0.Add(30 * time.Second), StartsAt: t0,
		Message: "combustible_gas GT-101 at hz-01: 27.3 %LEL >= 25 (level 2 orange)",
	}
}
