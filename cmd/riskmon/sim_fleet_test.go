package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskmon/riskmon/internal/testenv"
	"github.com/riskmon/riskmon/simulator"
	"github.com/riskmon/riskmon/storage"
)

func TestSimRunFleetFlags(t *testing.T) {
	const scenario = "../../simulator/scenarios/gas-leak.yaml"
	tests := []struct {
		name    string
		args    []string
		want    string
		wantErr string
	}{
		{"scenario fleet", nil, "40 sensors: ok", ""},
		{"sites", []string{"--sites", "12"}, "100 sensors: ok", ""},
		{"sites and sensors", []string{"--sites", "100", "--sensors", "5000"}, "5000 sensors: ok", ""},
		{"fleet file", []string{"--fleet", "../../simulator/fleets/zhejiang-coast.yaml"}, "164 sensors: ok", ""},
		{"fleet without the leak's sensor", []string{"--sensors", "3"}, "", "no sensor hz-01/GT-201"},
		{"both", []string{"--sites", "3", "--fleet", "x.yaml"}, "", "not both"},
		{"bad sizes", []string{"--sites", "5", "--sensors", "2"}, "", "2 sensors cannot fill 5 sites"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"sim", "run", "--scenario", scenario, "--dry-run"}, tt.args...)
			out, err := run(t, args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one with %q\n%s", err, tt.wantErr, out)
				}
				return
			}
			if err != nil || !strings.Contains(out, tt.want) {
				t.Fatalf("err = %v, output lacks %q:\n%s", err, tt.want, out)
			}
		})
	}
}

// TestSimScoreFromInfluxIntegration stores the hand-made alert events in
// influxd as riskmon does and scores them with --from-influx: the table
// must be the one --events prints for the same events.
func TestSimScoreFromInfluxIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs influxd")
	}
	srv := testenv.Influx(t)
	f, err := os.Open("testdata/events-detected.json")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := simulator.ReadAlertEvents(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var lines []byte
	for _, e := range evs {
		lines = storage.AppendAlertEvent(lines, &storage.AlertEvent{Rule: e.Rule, Site: e.Site, Sensor: e.Sensor, Type: e.Type,
			AlertID: e.AlertID, Level: uint8(e.Level), At: e.At})
	}
	w := storage.New(storage.Options{URL: srv.URL, Bucket: srv.Database})
	defer w.Close()
	if err := w.WriteLines(context.Background(), string(lines)); err != nil {
		t.Fatal(err)
	}
	fromFile, err := run(t, "sim", "score", "--truth", "testdata/truth.jsonl", "--events", "testdata/events-detected.json")
	if err != nil {
		t.Fatalf("--events: %v\n%s", err, fromFile)
	}
	fromInflux, err := run(t, "sim", "score", "--truth", "testdata/truth.jsonl", "--from-influx", srv.URL, "--bucket", srv.Database)
	if err != nil {
		t.Fatalf("--from-influx: %v\n%s", err, fromInflux)
	}
	// The header counts the events read: the query starts a grace
	// period before the run, so the one an hour earlier is not read.
	table := func(s string) string { _, rest, _ := strings.Cut(s, "\n\n"); return rest }
	if !strings.Contains(fromInflux, "6 alert events read") || table(fromInflux) != table(fromFile) {
		t.Errorf("from InfluxDB:\n%s\nfrom the file:\n%s", fromInflux, fromFile)
	}
	for _, want := range []string{"detected  hz-01/GT-201 combustible_gas_high  2-orange  1-red", "-2s", "false alerts: 1 in 3.3 sensor-hours (300.00 per 1,000 sensor-hours)"} {
		if !strings.Contains(fromInflux, want) {
			t.Errorf("output lacks %q:\n%s", want, fromInflux)
		}
	}
	if _, err := run(t, "sim", "score", "--truth", "testdata/truth.jsonl", "--from-influx", srv.URL); err == nil || !strings.Contains(err.Error(), "--bucket") {
		t.Errorf("without --bucket: %v", err)
	}
	if _, err := run(t, "sim", "score", "--truth", "testdata/truth.jsonl", "--from-influx", srv.URL, "--bucket", "riskmon",
		"--events", filepath.Join("testdata", "events-none.json")); err == nil || !strings.Contains(err.Error(), "one of") {
		t.Errorf("two sources: %v", err)
	}
}

// TestSimRunRefusesTooFast: a targeted sensor outage is seen on riskmon's
// wall clock, so sim run refuses a speed that would hide it.
func TestSimRunRefusesTooFast(t *testing.T) {
	out, err := run(t, "sim", "run", "--scenario", "../../simulator/scenarios/sensor-faults.yaml", "--speed", "60", "--broker", "tcp://127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "at most 14.5 times real time") {
		t.Fatalf("err = %v, want a refusal naming 14.5\n%s", err, out)
	}
}

func TestSimFleetFlags(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "fleet.yaml")
	// --registry-out is written before publishing; the broker does not
	// exist, so the run stops right after.
	out, err := run(t, "sim", "--sites", "7", "--registry-out", reg, "--broker", "tcp://127.0.0.1:1", "--for", "1s")
	if err == nil {
		t.Fatalf("no error publishing to a closed port\n%s", out)
	}
	b, rerr := os.ReadFile(reg)
	if rerr != nil {
		t.Fatalf("registry not written: %v (%v)\n%s", rerr, err, out)
	}
	if n := strings.Count(string(b), "  - id: ") - strings.Count(string(b), "      - id: "); n != 7 {
		t.Errorf("%d sites in the registry, want 7", n)
	}
	if _, err := run(t, "sim", "--sites", "7", "--sites-per-sector", "2"); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("--sites with --sites-per-sector: %v", err)
	}
}
