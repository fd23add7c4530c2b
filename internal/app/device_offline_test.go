package app

import (
	"log/slog"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/sensors"
)

// TestDeviceOfflineOneAlert: a Sparkplug DDEATH raises one device_offline
// alert at once, and the device's sensors do not go stale one by one
// behind it; a silent sensor of another device still does. DBIRTH clears it.
func TestDeviceOfflineOneAlert(t *testing.T) {
	var ss []sensors.Sensor
	for _, s := range []struct{ id, addr string }{
		{"GT-101", "skid-1/Gas/GT-101"}, {"GT-102", "skid-1/Gas/GT-102"}, {"GT-201", "skid-2/Gas/GT-201"},
		{"GT-202", "skid-2/Gas/GT-202"},
	} {
		ss = append(ss, sensors.Sensor{ID: s.id, Site: "hz-01", Kind: "combustible_gas", Gateway: "edge-1", Sparkplug: s.addr})
	}
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}}, ss)
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

	now := time.Now()
	svc.Tick(now) // every sensor's silence counts from here
	svc.GatewayEvent(sensors.GatewayEvent{Site: "hz-01", Gateway: "edge-1", Device: "skid-1", Kind: sensors.DeviceOffline, Source: "sparkplug", At: now})
	open := func(rule string) []string {
		var out []string
		for _, a := range svc.RuleStates() {
			if a.Rule == rule {
				out = append(out, a.Sensor)
			}
		}
		return out
	}
	if got := open(alerting.RuleDeviceOffline); len(got) != 1 || got[0] != "edge-1/skid-1" {
		t.Fatalf("device_offline alerts %v, want one for edge-1/skid-1", got)
	}
	// GT-202 keeps reporting, so edge-1 itself is not quiet.
	at := now.Add(time.Hour)
	svc.Evaluate([]sensors.Reading{{Site: "hz-01", Sensor: "GT-202", Kind: "combustible_gas", Value: 1, Time: at, Received: at}})
	svc.Tick(now.Add(time.Hour))
	if got := open("sensor_stale"); len(got) != 1 || got[0] != "GT-201" {
		t.Fatalf("stale alerts %v, want GT-201 alone: skid-1's sensors are covered by its device_offline", got)
	}
	svc.GatewayEvent(sensors.GatewayEvent{Site: "hz-01", Gateway: "edge-1", Device: "skid-1", Kind: sensors.DeviceOnline, Source: "sparkplug", At: now.Add(time.Hour)})
	if got := open(alerting.RuleDeviceOffline); len(got) != 0 {
		t.Fatalf("device_offline alerts %v after DBIRTH, want none", got)
	}
}
