package app

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/ingest"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/sensors"
)

// A gateway's skewed clock is a yellow condition alert on the gateway,
// saying which way and by how much, cleared when the clock is right again.
func TestClockSkewAlert(t *testing.T) {
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw1"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	f := false
	cfg.Alerting.Notify.MQTT, cfg.Alerting.Notify.Log = &f, &f
	svc, err := New(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	t0 := time.Unix(1764345600, 0)
	svc.gatewayEvent(ingest.GatewayEvent{Site: "hz-01", Gateway: "gw1", Kind: ingest.GatewayClockSkew, Skew: -5*time.Minute - 3*time.Second, At: t0})
	open := svc.Lifecycle.Open()
	if len(open) != 1 || open[0].Rule != alerting.RuleClockSkew || open[0].Sensor != "gw1" || open[0].Level != sensors.LevelYellow ||
		!strings.Contains(open[0].Message, "5m3s behind") {
		t.Fatalf("open alerts %+v, want one yellow gateway_clock_skew on gw1, 5m3s behind", open)
	}
	svc.gatewayEvent(ingest.GatewayEvent{Site: "hz-01", Gateway: "gw1", Kind: ingest.GatewayClockOK, At: t0.Add(time.Hour)})
	if svc.Conditions.IsOpen(alerting.RuleClockSkew, "hz-01", "gw1") {
		t.Fatal("clock skew still open after the clock was set right")
	}
	if rec, _ := svc.Lifecycle.Get(open[0].ID); rec.State != alerting.StateClearedUnacked {
		t.Fatalf("lifecycle state %v, want resolved_unacknowledged", rec.State)
	}
}
