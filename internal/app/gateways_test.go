package app

import (
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/ingest"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/sensors"
)

// TestGatewayColumn: the registry's gateway column decides which gateway
// names may raise gateway_offline; a sensor arriving through another
// gateway is flagged once per gateway, and that gateway's offline then
// covers the sensor's silence as its registered one's would.
func TestGatewayColumn(t *testing.T) {
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{
			{ID: "GT-101", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw-1"},
			{ID: "GT-102", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw-1"},
			{ID: "GT-201", Site: "hz-01", Kind: "combustible_gas", Gateway: "gw-2"},
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
	defer svc.Close()
	open := func(rule string) []string {
		var out []string
		for _, a := range svc.RuleStates() {
			if a.Rule == rule {
				out = append(out, a.Sensor)
			}
		}
		return out
	}
	now := time.Now()
	svc.Tick(now)

	// A gateway in no registry says offline: nothing happens.
	svc.GatewayEvent(sensors.GatewayEvent{Site: "hz-01", Gateway: "ghost", Kind: sensors.GatewayOffline, Source: "status", At: now})
	if got := open(alerting.RuleGatewayOffline); len(got) != 0 {
		t.Fatalf("gateway_offline %v for a gateway no sensor is behind", got)
	}

	// GT-101 arrives through gw-9 (ingest accepts and flags it).
	m := ingest.NewMetrics(nil)
	dl, _ := ingest.OpenDeadLetter(ingest.DeadLetterOptions{})
	p := ingest.NewProcessor(reg, ingest.Limits{}, ingest.NewRejecter(m, dl, slog.New(slog.DiscardHandler), time.Minute), m, nil)
	msg := []byte(`{"ts":` + itoa(now.UnixMilli()) + `,"readings":[{"sensor":"GT-101","value":1},{"sensor":"GT-102","value":1}]}`)
	var mismatches int
	for i := range 3 {
		out := p.Process("riskmon/v1/hz-01/gw-9/readings", msg, now.Add(time.Duration(i)*time.Second))
		if len(out.Readings) != 2 {
			t.Fatalf("%d readings accepted through gw-9, want 2: mismatched readings are kept", len(out.Readings))
		}
		for _, ev := range out.Events {
			if ev.Kind == sensors.GatewayMismatch {
				mismatches++
				svc.GatewayEvent(ev)
			}
		}
	}
	if mismatches != 2 {
		t.Fatalf("%d mismatch reports, want 2 (one per sensor, not per reading)", mismatches)
	}
	if got := open(alerting.RuleGatewayMismatch); len(got) != 1 || got[0] != "gw-9" {
		t.Fatalf("gateway_mismatch alerts %v, want one for gw-9", got)
	}
	// gw-9 goes offline: it carries registered sensors, so it counts, and
	// GT-101 and GT-102 do not go stale one by one behind it.
	svc.GatewayEvent(sensors.GatewayEvent{Site: "hz-01", Gateway: "gw-9", Kind: sensors.GatewayOffline, Source: "status", At: now})
	if got := open(alerting.RuleGatewayOffline); len(got) != 1 || got[0] != "gw-9" {
		t.Fatalf("gateway_offline %v, want gw-9", got)
	}
	svc.Tick(now.Add(time.Hour))
	if got := open("sensor_stale"); len(got) != 1 || got[0] != "GT-201" {
		t.Fatalf("stale alerts %v, want GT-201 alone", got)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
