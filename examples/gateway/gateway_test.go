// Package gateway holds the test of the example Node.js gateway beside
// it: the gateway is meant to be copied, so the test runs it as it is
// against real servers.
package gateway

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/ingest"
	"github.com/riskmon/riskmon/internal/app"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/internal/testenv"
	"github.com/riskmon/riskmon/sensors"
)

// TestExampleGateway publishes readings through gateway.js into riskmon
// and counts what lands in InfluxDB and what is rejected; when its input
// ends the gateway says goodbye, and riskmon raises its gateway_offline
// alert and no stale alert for its sensors.
func TestExampleGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs real servers")
	}
	dir := testenv.NodeInstall(t, ".", "package.json", "package-lock.json", "gateway.js")
	influx := testenv.Influx(t)
	b := testenv.Mosquitto(t)

	const site, gw = "hz-example", "gw-example"
	ids := []string{"GT-101", "GT-102", "PT-201"}
	var ss []sensors.Sensor
	for _, id := range ids {
		kind := sensors.KindID("combustible_gas")
		if strings.HasPrefix(id, "PT") {
			kind = "pressure"
		}
		ss = append(ss, sensors.Sensor{ID: id, Site: site, Kind: kind, Gateway: gw})
	}
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: site, Sector: sensors.SectorHazchem}}, ss)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.MQTT.Broker = b.URL
	cfg.InfluxDB = config.InfluxDB{URL: influx.URL, Bucket: "riskmon"}
	f := false
	cfg.Alerting.Notify.MQTT, cfg.Alerting.Notify.Log = &f, &f
	svc, err := app.New(cfg, reg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
	defer rcancel()
	for svc.Ready(rctx) != nil {
		if rctx.Err() != nil {
			t.Fatal("riskmon not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// 600 readings, one a millisecond of device time per sensor, with 6
	// for a sensor the registry does not know and 4 out of range.
	start := time.Now().Add(-time.Minute).Truncate(time.Second)
	var in bytes.Buffer
	valid := 0
	for i := range 600 {
		id, v := ids[i%len(ids)], float64(i%50)/2
		switch {
		case i%100 == 7:
			id = "NOT-REGISTERED"
		case i%150 == 11:
			v = 1e6
		default:
			valid++
		}
		fmt.Fprintf(&in, `{"sensor":%q,"value":%g,"ts":%d}`+"\n", id, v, start.Add(time.Duration(i)*time.Millisecond).UnixMilli())
	}
	cmd := exec.Command("node", "gateway.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "RISKMON_BROKER="+strings.Replace(b.URL, "tcp://", "mqtt://", 1),
		"RISKMON_SITE="+site, "RISKMON_GATEWAY="+gw, "BATCH_MS=50", "BATCH_MAX=100")
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gateway.js: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "published 600 readings") {
		t.Fatalf("gateway.js did not publish all 600 readings:\n%s", stderr.String())
	}

	var stored int
	deadline := time.Now().Add(30 * time.Second)
	for {
		stored = countStored(t, influx.URL, site)
		if stored >= valid || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	rejected := svc.Stats().RejectedBy
	unknown, outOfRange := rejected[ingest.ReasonUnknownSensor], rejected[ingest.ReasonOutOfRange]
	t.Logf("published 600 readings: %d stored, %v unknown_sensor, %v out_of_range", stored, unknown, outOfRange)
	if stored != valid || unknown != 6 || outOfRange != 4 {
		t.Fatalf("stored %d (want %d), rejected %v unknown_sensor (want 6) and %v out_of_range (want 4)", stored, valid, unknown, outOfRange)
	}
	// The goodbye: one gateway alert.
	deadline = time.Now().Add(10 * time.Second)
	for !gatewayOffline(svc, site, gw) {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway said goodbye but no gateway_offline alert is open: alerts %+v, dead letters %d", svc.RuleStates(), svc.Stats().DeadLetters)
		}
		time.Sleep(20 * time.Millisecond)
	}
	svc.Tick(time.Now().Add(time.Hour))
	for _, a := range svc.RuleStates() {
		if a.Rule == alerting.RuleSensorStale {
			t.Errorf("stale alert for %s behind a gateway that said goodbye", a.Sensor)
		}
	}
}

// gatewayOffline reports whether gateway_offline is open for gw at site.
func gatewayOffline(svc *app.Service, site, gw string) bool {
	for _, a := range svc.RuleStates() {
		if a.Rule == alerting.RuleGatewayOffline && a.Site == site && a.Sensor == gw {
			return true
		}
	}
	return false
}

// countStored counts the readings of site in InfluxDB 1.8.
func countStored(t *testing.T, influxURL, site string) int {
	t.Helper()
	n, err := testenv.InfluxCount(influxURL, "riskmon", fmt.Sprintf(`SELECT count("value") FROM "reading" WHERE "site" = '%s'`, site))
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}
