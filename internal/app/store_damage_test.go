package app

import (
	"bytes"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/sensors"
)

// One damaged record in alerts.db does not keep riskmon from starting:
// the record is set aside, alert_store_damaged is raised, the sound
// alerts are back on the board, and the gas detector is still watched.
func TestDamagedAlertStoreRecord(t *testing.T) {
	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	f := false
	cfg.Alerting.Notify.MQTT, cfg.Alerting.Notify.Log = &f, &f
	reg := gasRegistry(t)
	svc, err := New(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Add(-time.Minute)
	for _, id := range []string{"sound-one", "damaged-one"} {
		svc.lifecycle.Emit(alerting.Event{AlertID: id, Rule: "combustible_gas_high", Site: "hz-01", Sensor: "GT-101", Type: alerting.EventFired,
			Level: sensors.LevelOrange, At: t0, StartsAt: t0, Message: "text-of-" + id})
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	path := cfg.StatePath(cfg.Alerting.Store)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	marker := []byte("text-of-damaged-one")
	if bytes.Count(b, marker) == 0 {
		t.Fatal("record not found in the file")
	}
	for i := bytes.Index(b, marker); i >= 0; {
		b[i] = 0 // not valid inside a JSON string
		j := bytes.Index(b[i:], marker)
		if j < 0 {
			break
		}
		i += j
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}

	svc, err = New(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("a damaged record kept riskmon from starting: %v", err)
	}
	defer svc.Close()
	if !conditionOpen(svc, alerting.RuleStoreDamaged, systemSite, "alert_store") {
		t.Fatal("no alert_store_damaged raised")
	}
	if _, ok := svc.lifecycle.Get("sound-one"); !ok {
		t.Fatal("the sound alert is not back on the board")
	}
	if _, ok := svc.lifecycle.Get("damaged-one"); ok {
		t.Fatal("the damaged alert was loaded")
	}
	if n := gatheredValue(t, svc, "riskmon_alert_store_quarantined_total"); n != 1 {
		t.Fatalf("quarantined metric %v, want 1", n)
	}
	// Monitoring goes on: a gas reading over the setpoint still fires.
	svc.Evaluate([]sensors.Reading{{Site: "hz-01", Sensor: "GT-101", Value: 60, Time: time.Now().UTC(), Received: time.Now().UTC()}})
	fired := false
	for _, a := range svc.engine.Active() {
		fired = fired || (a.Sensor == "GT-101" && a.Level != sensors.LevelNone)
	}
	if !fired {
		t.Fatal("a reading at 60 %LEL raised nothing after the damaged start")
	}
}

// gatheredValue reads one unlabelled counter or gauge of the service.
func gatheredValue(t *testing.T, svc *Service, name string) float64 {
	t.Helper()
	mfs, err := svc.prom.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) == 0 {
			continue
		}
		m := mf.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}
