package app

import (
	"bytes"
	"encoding/json"
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
	// Two open alerts: a gas alarm, whose record is damaged below, and a
	// gateway's clock skew, whose record stays sound.
	t0 := time.Now().UTC().Add(-time.Minute)
	svc.Evaluate([]sensors.Reading{{Site: "hz-01", Sensor: "GT-101", Kind: "combustible_gas", Value: 30, Time: t0, Received: t0}})
	svc.GatewayEvent(sensors.GatewayEvent{Site: "hz-01", Gateway: "gw1", Kind: sensors.GatewayClockSkew, Skew: -5 * time.Minute, At: t0})
	var damaged, sound alerting.Record
	for _, r := range worklist(t, svc, "") {
		switch r.Rule {
		case alerting.RuleClockSkew:
			sound = r
		default:
			damaged = r
		}
	}
	if damaged.ID == "" || sound.ID == "" || damaged.Message == sound.Message {
		t.Fatalf("open alerts: gas %+v, clock %+v", damaged, sound)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	path := cfg.StatePath(cfg.Alerting.Store)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The gas alarm's message, as its record holds it.
	quoted, _ := json.Marshal(damaged.Message)
	marker := quoted[1 : len(quoted)-1]
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
	if _, ok := record(t, svc, "", sound.ID); !ok {
		t.Fatal("the sound alert is not back on the board")
	}
	if _, ok := record(t, svc, "", damaged.ID); ok {
		t.Fatal("the damaged alert was loaded")
	}
	if n := scrape(t, svc, "riskmon_alert_store_quarantined_total"); n != 1 {
		t.Fatalf("quarantined metric %v, want 1", n)
	}
	// Monitoring goes on: a gas reading over the setpoint still fires.
	svc.Evaluate([]sensors.Reading{{Site: "hz-01", Sensor: "GT-101", Value: 60, Time: time.Now().UTC(), Received: time.Now().UTC()}})
	fired := false
	for _, a := range svc.RuleStates() {
		fired = fired || (a.Sensor == "GT-101" && a.Level != sensors.LevelNone)
	}
	if !fired {
		t.Fatal("a reading at 60 %LEL raised nothing after the damaged start")
	}
}
