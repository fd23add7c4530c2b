package app

import (
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// A gateway's skewed clock is a yellow condition alert on the gateway,
// saying which way and by how much, cleared when the clock is right again.
func TestClockSkewAlert(t *testing.T) {
	svc := quietService(t, nil)
	t0 := time.Unix(1764345600, 0)
	svc.GatewayEvent(sensors.GatewayEvent{Site: "hz-01", Gateway: "gw1", Kind: sensors.GatewayClockSkew, Skew: -5*time.Minute - 3*time.Second, At: t0})
	open := worklist(t, svc, "")
	if len(open) != 1 || open[0].Rule != alerting.RuleClockSkew || open[0].Sensor != "gw1" || open[0].Level != sensors.LevelYellow ||
		!strings.Contains(open[0].Message, "5m3s behind") {
		t.Fatalf("open alerts %+v, want one yellow gateway_clock_skew on gw1, 5m3s behind", open)
	}
	svc.GatewayEvent(sensors.GatewayEvent{Site: "hz-01", Gateway: "gw1", Kind: sensors.GatewayClockOK, At: t0.Add(time.Hour)})
	if conditionOpen(svc, alerting.RuleClockSkew, "hz-01", "gw1") {
		t.Fatal("clock skew still open after the clock was set right")
	}
	if rec, _ := record(t, svc, "", open[0].ID); rec.State != alerting.StateClearedUnacked {
		t.Fatalf("lifecycle state %v, want resolved_unacknowledged", rec.State)
	}
}
