package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/internal/testenv"
)

// TestRunSavesStateIntegration: readings arrive over MQTT into a running
// service until a for: 10m alert is pending; the service is stopped the
// way SIGTERM stops it, and a service started on the same state dir has
// the same alert pending before any reading arrives.
func TestRunSavesStateIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs real servers")
	}
	influx := testenv.Influx(t)
	b := testenv.Embedded(t)
	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.MQTT.Broker, cfg.MQTT.ClientID = b.URL, "riskmon-state"
	cfg.InfluxDB = config.InfluxDB{URL: influx.URL, Bucket: influx.Database}
	f := false
	cfg.Alerting.Notify.MQTT, cfg.Alerting.Notify.Log = &f, &f
	cfg.Alerting.For = 10 * time.Minute
	reg := gasRegistry(t)

	svc, err := New(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	waitUntil(t, "the collector connects", svc.Connected)

	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL).SetClientID("gateway-gw1"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	start := time.Now().Add(-8 * time.Minute).Truncate(time.Second)
	for i := range 15 { // 27 %LEL every 30 s for 7 minutes
		msg := fmt.Sprintf(`{"ts":%d,"seq":%d,"readings":[{"sensor":"GT-101","value":27}]}`,
			start.Add(time.Duration(i)*30*time.Second).UnixMilli(), i+1)
		if tok := pub.Publish("riskmon/v1/hz-01/gw1/readings", 1, false, msg); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	var pending []alerting.Alert
	waitUntil(t, "the alert is pending at minute 7", func() bool {
		pending = svc.RuleStates()
		return len(pending) == 1 && pending[0].State == alerting.StatePending && pending[0].LastAt.Equal(start.Add(7*time.Minute))
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, stateFile)); err != nil {
		t.Fatalf("no state saved at shutdown: %v", err)
	}

	svc, err = New(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	a := svc.RuleStates()
	if len(a) != 1 || a[0].ID != pending[0].ID || a[0].State != alerting.StatePending || !a[0].Since.Equal(start) {
		t.Fatalf("after restart: active %+v, want %s pending since %s", a, pending[0].ID, start)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
