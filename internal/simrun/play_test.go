package simrun

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/riskmon/riskmon/internal/app"
	"github.com/riskmon/riskmon/internal/broker"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/internal/influxproc"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/simulator"
)

// TestScenarioIntegration plays gas-leak.yaml at 30 times real time
// against the real service (embedded broker, local influxd) and scores the
// alerts it raised: the leak must be detected within its target.
func TestScenarioIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs real servers")
	}
	score, out := playScenario(t, "../../simulator/scenarios/gas-leak.yaml", 30)
	if len(score.Incidents) != 1 || !score.Incidents[0].Detected || score.Missed != 0 {
		t.Fatalf("leak not detected in time:\n%s", out)
	}
	if score.FalseAlerts != 0 {
		t.Errorf("%d false alerts:\n%s", score.FalseAlerts, out)
	}
}

// TestAllScenarios plays every shipped scenario and logs its score. It
// runs only with RISKMON_ALL_SCENARIOS=1: it takes minutes, and whether
// a target is met is a finding about the alerting, not a simulator bug.
func TestAllScenarios(t *testing.T) {
	if testing.Short() || os.Getenv("RISKMON_ALL_SCENARIOS") == "" {
		t.Skip("opt-in, not a dependency (also skipped under -short): set RISKMON_ALL_SCENARIOS=1 to play every scenario; make test plays gas-leak and mixed-formats")
	}
	files, err := filepath.Glob("../../simulator/scenarios/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			sc, err := simulator.LoadScenario(f)
			if err != nil {
				t.Fatal(err)
			}
			// About 20 s of wall time each, slower where a targeted
			// outage needs riskmon's wall clock to see it.
			speed := math.Min(max(1, sc.Duration.Seconds()/20), sc.MaxSpeed())
			score, out := playScenario(t, f, speed)
			t.Logf("speed %g\n%s", speed, out)
			if score.Missed > 0 {
				t.Errorf("%d targets missed", score.Missed)
			}
		})
	}
	// A scenario on a regional fleet file: 164 sensors, gateways at
	// their kinds' reporting intervals, a site model of its own.
	t.Run("gas-leak.yaml on zhejiang-coast.yaml", func(t *testing.T) {
		score, out := playScenarioOn(t, "../../simulator/scenarios/gas-leak.yaml", "../../simulator/fleets/zhejiang-coast.yaml", 15)
		t.Logf("\n%s", out)
		if score.Missed > 0 || score.FalseAlerts > 0 {
			t.Errorf("%d targets missed, %d false alerts", score.Missed, score.FalseAlerts)
		}
	})
}

// playScenario runs the service on an embedded broker and a local influxd,
// plays the scenario at speed and scores it through the HTTP API.
func playScenario(t *testing.T, file string, speed float64) (simulator.Score, string) {
	t.Helper()
	return playScenarioOn(t, file, "", speed)
}

// playScenarioOn is playScenario on the fleet of a fleet file, when one
// is given.
func playScenarioOn(t *testing.T, file, fleetFile string, speed float64) (simulator.Score, string) {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	fleet, err := BuildFleet(fleetFile, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := simulator.LoadScenarioWith(file, simulator.ScenarioOptions{Fleet: fleet})
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

	reg, err := sc.Fleet.Registry(sensors.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.StateDir = dir
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.MQTT.Broker = brk.URL()
	cfg.MQTT.ClientID = "riskmon-scenario-test"
	cfg.InfluxDB.URL = influx.URL
	svc, err := app.New(cfg, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	httpAddr, err := svc.Listen()
	if err != nil {
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

	var out bytes.Buffer
	truthFile := filepath.Join(dir, "truth.jsonl")
	_, st, err := Play(ctx, &out, log, PlayOptions{Scenario: file, Fleet: fleetFile, Broker: brk.URL(), Speed: speed, Truth: truthFile})
	if err != nil {
		t.Fatalf("sim run: %v\n%s", err, out.String())
	}
	// Every batch must have been taken in and evaluated before scoring.
	deadline := time.Now().Add(30 * time.Second)
	for svc.Stats().Acked < float64(st.Messages) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	score, err := Score(ctx, &out, ScoreOptions{Truth: truthFile, API: "http://" + httpAddr, Grace: time.Minute})
	if err != nil && !errors.Is(err, ErrTargetsMissed) {
		t.Fatalf("sim score: %v\n%s", err, out.String())
	}
	return score, out.String()
}

func TestSimLoad(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	brk, err := broker.Start(broker.Options{Addr: "127.0.0.1:0", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer brk.Close()
	// Where each format's batches go.
	topics := map[string]*regexp.Regexp{
		"json":      regexp.MustCompile(`^riskmon/v1/[^/]+/gw1/readings$`),
		"lp":        regexp.MustCompile(`^riskmon/v1/[^/]+/gw1/lp$`),
		"sparkplug": regexp.MustCompile(`^spBv1\.0/[^/]+/N(BIRTH|DATA)/gw1$`),
	}
	for _, format := range []string{"json", "lp", "sparkplug"} {
		t.Run(format, func(t *testing.T) {
			var mu sync.Mutex
			seen := map[string]int{}
			sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brk.URL()).SetClientID("load-watch-" + format))
			if tok := sub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatalf("subscriber: %v", tok.Error())
			}
			defer sub.Disconnect(100)
			if tok := sub.Subscribe("#", 0, func(_ mqtt.Client, m mqtt.Message) {
				mu.Lock()
				defer mu.Unlock()
				for f, re := range topics {
					if re.MatchString(m.Topic()) {
						seen[f]++
					}
				}
			}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatalf("subscribe: %v", tok.Error())
			}
			var out, bar bytes.Buffer
			st, err := Load(context.Background(), &out, &bar, log, LoadOptions{Broker: brk.URL(), Gateways: 3, SensorsPerGateway: 5,
				Rate: 300, Duration: time.Second, Progress: true, Format: format})
			if err != nil {
				t.Fatalf("load: %v\n%s", err, out.String())
			}
			// A batch every 50 ms from each gateway for one second (a
			// Sparkplug node's first is its NBIRTH).
			if st.Readings != 300 || st.Messages != 60 {
				t.Errorf("%d readings in %d messages, want 300 in 60", st.Readings, st.Messages)
			}
			if !strings.Contains(out.String(), "readings       300 of 300") || !strings.Contains(out.String(), "("+format+")") {
				t.Errorf("summary:\n%s", out.String())
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				mu.Lock()
				n, all := seen[format], len(seen)
				mu.Unlock()
				if n == 60 && all == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("batches seen per format %v, want 60 on %s topics only", seen, format)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	if _, err := Load(context.Background(), io.Discard, io.Discard, log, LoadOptions{Broker: brk.URL(), Gateways: 1, SensorsPerGateway: 1,
		Rate: 10, Duration: time.Second, Format: "csv"}); err == nil || !strings.Contains(err.Error(), "--format") {
		t.Errorf("--format csv: %v", err)
	}
}

func TestLoadInterval(t *testing.T) {
	tests := []struct {
		gateways, perGateway int
		rate                 float64
		want                 time.Duration
		wantErr              bool
	}{
		{10, 20, 1000, 200 * time.Millisecond, false},
		{1, 1, 1, time.Second, false},
		{1, 10, 100000, 0, true}, // 0.1 ms batches
		{0, 10, 10, 0, true},
		{1, 10, 0, 0, true},
	}
	for _, tt := range tests {
		got, err := LoadInterval(tt.gateways, tt.perGateway, tt.rate)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("LoadInterval(%d, %d, %g) = %s, %v; want %s, error %v", tt.gateways, tt.perGateway, tt.rate, got, err, tt.want, tt.wantErr)
		}
	}
}
