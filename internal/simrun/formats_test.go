package simrun

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/riskmon/riskmon/internal/app"
	"github.com/riskmon/riskmon/internal/broker"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/internal/influxproc"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/simulator"
)

// TestMixedFormatsIntegration plays a fleet whose gateways speak JSON,
// line protocol and Sparkplug B against the real service (embedded
// broker, local influxd): exactly the readings the simulator published
// must land in InfluxDB, none lost to a decoder and none extra, while
// the malformed messages of every format are rejected.
func TestMixedFormatsIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs real servers")
	}
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()

	fleet := simulator.DemoFleet(1)
	fleet.Formats = map[string]simulator.Format{
		"gas-01":    simulator.FormatSparkplug,
		"hz-01/gw2": simulator.FormatSparkplug,
		"pipe-01":   simulator.FormatLP,
		"coal-01":   simulator.FormatLP,
	}
	reg, err := fleet.Registry(sensors.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}

	brk, err := broker.Start(broker.Options{Addr: "127.0.0.1:0", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer brk.Close()
	influx, err := influxproc.Start(ctx, influxproc.Options{Dir: filepath.Join(dir, "influxdb"), Database: "riskmon", Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer influx.Stop()

	cfg := config.Default()
	cfg.StateDir = dir
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.MQTT.Broker = brk.URL()
	cfg.MQTT.ClientID = "riskmon-formats-test"
	cfg.InfluxDB.URL = influx.URL
	svc, err := app.New(cfg, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Listen(); err != nil {
		t.Fatal(err)
	}
	svcCtx, stopSvc := context.WithCancel(ctx)
	svcDone := make(chan error, 1)
	go func() { svcDone <- svc.Run(svcCtx) }()
	defer func() {
		stopSvc()
		if err := <-svcDone; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("service: %v", err)
		}
	}()
	if err := svc.WaitReady(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	// Device time lies in the recent past so that playing it as fast as
	// the broker acknowledges puts no reading in the future.
	start := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	const rounds, malformed = 30, 10
	pub, err := simulator.NewPublisher(simulator.Options{
		Broker: brk.URL(), Fleet: fleet, Interval: time.Second, Speed: math.Inf(1),
		MaxReadings: rounds * reg.Len(), Malformed: malformed, Seed: 5, Start: start, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, err := pub.Run(runCtx)
	if err != nil {
		t.Fatalf("simulator: %v", err)
	}
	if st.Readings != int64(rounds*reg.Len()) || st.Malformed != malformed {
		t.Fatalf("simulator stats %+v", st)
	}

	// Wait until InfluxDB holds every reading, then a little longer to
	// see that nothing more comes.
	count := func() int64 {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		n, err := svc.ReadingsStored(cctx, start.Add(-time.Minute), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatalf("count: %v", err)
		}
		return n
	}
	var stored int64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if stored = count(); stored >= st.Readings {
			break
		}
	}
	time.Sleep(time.Second)
	if stored = count(); stored != st.Readings {
		t.Fatalf("InfluxDB holds %d readings, the simulator published %d", stored, st.Readings)
	}
	if rej := svc.Stats().Rejected; rej < malformed {
		t.Errorf("riskmon rejected %v messages or readings, want at least the %d malformed", rej, malformed)
	}
}

// TestMixedFormatsScenario plays mixed-formats.yaml: the leak reported
// by a Sparkplug edge node must be detected within its target.
func TestMixedFormatsScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs real servers")
	}
	score, out := playScenario(t, "../../simulator/scenarios/mixed-formats.yaml", 30)
	if len(score.Incidents) != 1 || !score.Incidents[0].Detected || score.Missed != 0 {
		t.Fatalf("leak not detected in time:\n%s", out)
	}
	if score.FalseAlerts != 0 {
		t.Errorf("%d false alerts:\n%s", score.FalseAlerts, out)
	}
}

func TestSetFormats(t *testing.T) {
	fleet := simulator.DemoFleet(1)
	if err := SetFormats(&fleet, "lp", []string{"gas-01=sparkplug", "gas-01/gw2=json"}); err != nil {
		t.Fatal(err)
	}
	for gw, want := range map[[2]string]simulator.Format{
		{"hz-01", "gw1"}: simulator.FormatLP, {"gas-01", "gw1"}: simulator.FormatSparkplug, {"gas-01", "gw2"}: simulator.FormatJSON,
	} {
		if got := fleet.FormatOf(gw[0], gw[1]); got != want {
			t.Errorf("%s/%s: %s, want %s", gw[0], gw[1], got, want)
		}
	}
	for _, bad := range [][]string{{"gas-01"}, {"gas-01=xml"}} {
		if err := SetFormats(&fleet, "json", bad); err == nil {
			t.Errorf("--formats %v accepted", bad)
		}
	}
	if err := SetFormats(&fleet, "csv", nil); err == nil {
		t.Error("--format csv accepted")
	}
}

func TestFormatSummary(t *testing.T) {
	sc, err := simulator.LoadScenario("../../simulator/scenarios/mixed-formats.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := FormatSummary(sc.Fleet), "json 5, lp 2, sparkplug 2"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	if got := FormatSummary(simulator.DemoFleet(1)); got != "" {
		t.Errorf("all-JSON summary %q, want none", got)
	}
}
