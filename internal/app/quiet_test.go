package app

import (
	"log/slog"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/sensors"
)

// TestQuietGatewayIsOneAlert: when a gateway stops sending without a will
// (a load ending), the silence of its sensors is one gateway_offline
// alert, not a sensor_stale per sensor; a gateway whose other sensors
// still report gets sensor_stale for the one that went silent; readings
// coming again clear the gateway alert.
func TestQuietGatewayIsOneAlert(t *testing.T) {
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{
			{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw1"},
			{ID: "GT-102", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw1"},
			{ID: "H2S-101", Site: "hz-01", Kind: "h2s", Gateway: "gw1"},
			{ID: "TL-101", Site: "hz-01", Kind: "tank_level", Gateway: "gw1"},
			{ID: "GT-201", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw2"},
			{ID: "GT-202", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw2"},
		})
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
	t.Cleanup(func() { _ = svc.Close() })

	t0 := time.Now().Truncate(time.Second)
	read := func(at time.Time, ids ...string) {
		for _, id := range ids {
			s, _ := reg.Lookup("hz-01", id)
			svc.Evaluate([]sensors.Reading{{Site: "hz-01", Sensor: id, Kind: s.Kind, Value: 1, Time: at, Received: at}})
		}
	}
	// Both gateways report every 5 s for a minute; then gw1 stops
	// altogether, while gw2 keeps reporting GT-201 only.
	for d := time.Duration(0); d <= time.Minute; d += 5 * time.Second {
		read(t0.Add(d), "GT-101", "GT-102", "H2S-101", "TL-101", "GT-201", "GT-202")
		svc.Tick(t0.Add(d))
	}
	for d := time.Minute + time.Second; d <= 2*time.Minute; d += time.Second {
		if d%(5*time.Second) == 0 {
			read(t0.Add(d), "GT-201")
		}
		svc.Tick(t0.Add(d))
	}
	count := func(rule, sensor string) int {
		n := 0
		for _, ev := range events(t, svc, "") {
			if ev.Rule == rule && ev.Type == alerting.EventFired && (sensor == "" || ev.Sensor == sensor) {
				n++
			}
		}
		return n
	}
	if n := count(alerting.RuleSensorStale, ""); n != 1 || count(alerting.RuleSensorStale, "GT-202") != 1 {
		t.Errorf("%d sensor_stale alerts, want one, for GT-202 behind the gateway that still reports", n)
	}
	if n := count(alerting.RuleGatewayOffline, ""); n != 1 || !conditionOpen(svc, alerting.RuleGatewayOffline, "hz-01", "gw1") {
		t.Errorf("%d gateway_offline alerts (gw1 open: %v), want one for gw1", n, conditionOpen(svc, alerting.RuleGatewayOffline, "hz-01", "gw1"))
	}
	// gw1 comes back: its alert clears.
	back := t0.Add(2*time.Minute + time.Second)
	read(back, "GT-101")
	svc.Tick(back)
	if conditionOpen(svc, alerting.RuleGatewayOffline, "hz-01", "gw1") {
		t.Error("gateway_offline for gw1 still open after its readings came again")
	}
}
