package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/internal/testenv"
	"github.com/riskmon/riskmon/sensors"
)

// edgeValue is one value the edge node published.
type edgeValue struct {
	Device string  `json:"device"`
	Name   string  `json:"name"`
	TS     int64   `json:"ts"`
	Value  float64 `json:"value"`
	Done   bool    `json:"done"`
}

// TestSparkplugPrimaryHostRestart: an edge node on Eclipse Tahu's own
// client, configured for riskmon as its Sparkplug Primary Host, streams
// device data by alias, with tag paths that two devices share; riskmon
// restarts in the middle. The edge sees the
// STATE go offline, holds its data, and replays it by the aliases of its
// first BIRTH once riskmon's STATE is online again. Every value it sent
// must be in InfluxDB, at its own time, with its own value.
func TestSparkplugPrimaryHostRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs real servers")
	}
	edgeDir := testenv.NodeInstall(t, filepath.Join("testdata", "tahu-edge"), "package.json", "package-lock.json", "edge.js")
	influx := testenv.Influx(t)
	b := testenv.Mosquitto(t)

	const site, hostID = "plant-1", "riskmon-primary"
	// Ignition-style tag paths on devices of one template: both gas skids
	// publish Gas/GT-1; the registry tells them apart by address.
	metrics := []struct {
		Device string `json:"device"`
		Name   string `json:"name"`
		Alias  int    `json:"alias"`
		sensor string
	}{
		{"gas-skid-1", "Gas/GT-1", 1, "GT-101"}, {"gas-skid-1", "Gas/GT-2", 2, "GT-102"},
		{"gas-skid-2", "Gas/GT-1", 3, "GT-201"}, {"tank-farm", "Tank1/Temperature", 4, "TT-301"},
	}
	sensorOf := map[string]string{}
	var ss []sensors.Sensor
	for _, m := range metrics {
		kind := sensors.KindID("combustible_gas")
		if strings.HasPrefix(m.sensor, "TT") {
			kind = "tank_temperature"
		}
		ss = append(ss, sensors.Sensor{ID: m.sensor, Site: site, Kind: kind, Gateway: "edge-1", Sparkplug: m.Device + "/" + m.Name})
		sensorOf[m.Device+"/"+m.Name] = m.sensor
	}
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: site, Sector: sensors.SectorHazchem}}, ss)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.MQTT.Broker = b.URL
	cfg.MQTT.ClientID = "riskmon-spb-host"
	cfg.MQTT.SparkplugHostID = hostID
	cfg.InfluxDB = config.InfluxDB{URL: influx.URL, Bucket: "riskmon"}
	f := false
	cfg.Alerting.Notify.MQTT, cfg.Alerting.Notify.Log = &f, &f

	// run starts riskmon and returns a func that stops it cleanly.
	run := func() func() {
		t.Helper()
		svc, err := New(cfg, reg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- svc.Run(ctx) }()
		rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
		defer rcancel()
		for svc.Ready(rctx) != nil {
			if rctx.Err() != nil {
				t.Fatal("riskmon not ready")
			}
			time.Sleep(20 * time.Millisecond)
		}
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("riskmon run: %v", err)
			}
		}
	}
	stop := run()

	mj, _ := json.Marshal(metrics)
	const rounds = 150
	cmd := exec.Command("node", "edge.js")
	cmd.Dir = edgeDir
	cmd.Env = append(os.Environ(), "EDGE_BROKER="+strings.Replace(b.URL, "tcp://", "mqtt://", 1), "EDGE_GROUP="+site,
		"EDGE_NODE=edge-1", "EDGE_HOST="+hostID, "EDGE_METRICS="+string(mj),
		fmt.Sprintf("EDGE_ROUNDS=%d", rounds), "EDGE_INTERVAL=20")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	var (
		mu   sync.Mutex
		sent []edgeValue
		done bool
	)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var v edgeValue
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Errorf("edge output %q: %v", sc.Text(), err)
				continue
			}
			mu.Lock()
			if v.Done {
				done = true
			} else {
				sent = append(sent, v)
			}
			mu.Unlock()
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(sent) }
	waitUntil := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; edge log:\n%s", what, stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Restart riskmon a third of the way through the stream.
	waitUntil("the stream to start", 30*time.Second, func() bool { return count() >= rounds*len(metrics)/3 })
	stop()
	held := count()
	time.Sleep(time.Second) // the edge holds its readings meanwhile
	if count()-held < 20 {
		t.Fatalf("the edge made only %d readings while riskmon was away", count()-held)
	}
	stop = run()
	defer func() { stop() }()
	<-readDone
	if err := cmd.Wait(); err != nil {
		t.Fatalf("edge node: %v\n%s", err, stderr.String())
	}
	if !done {
		t.Fatalf("edge node did not finish its stream:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "replayed") {
		t.Fatalf("the edge never held data for riskmon's STATE:\n%s", stderr.String())
	}

	// Every value sent must be stored at its time, once.
	want := map[string]float64{}
	for _, v := range sent {
		want[fmt.Sprintf("%s@%d", sensorOf[v.Device+"/"+v.Name], v.TS)] = v.Value
	}
	var got map[string]float64
	deadline := time.Now().Add(30 * time.Second)
	for {
		got = storedValues(t, influx.URL, site)
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var missing, wrong []string
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			missing = append(missing, k)
		case g != v:
			wrong = append(wrong, fmt.Sprintf("%s: stored %v, sent %v", k, g, v))
		}
	}
	if len(missing) > 0 || len(wrong) > 0 || len(got) != len(want) {
		t.Fatalf("sent %d values, stored %d; %d missing (e.g. %v), %d wrong (e.g. %v)\nedge log:\n%s",
			len(want), len(got), len(missing), head(missing), len(wrong), head(wrong), stderr.String())
	}
	t.Logf("all %d values sent across the restart are stored (%d made after riskmon first stopped)", len(want), len(want)-held)
}

func head(s []string) []string { return s[:min(len(s), 5)] }

// storedValues reads every reading of site back from InfluxDB 1.8 as
// "sensor@epoch-ms" -> value.
func storedValues(t *testing.T, influxURL, site string) map[string]float64 {
	t.Helper()
	q := url.Values{"db": {"riskmon"}, "epoch": {"ms"},
		"q": {fmt.Sprintf(`SELECT "value" FROM %q WHERE "site" = '%s' GROUP BY "sensor"`, "reading", site)}}
	resp, err := http.Get(influxURL + "/query?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res struct {
		Results []struct {
			Series []struct {
				Tags   map[string]string
				Values [][]json.Number
			}
			Error string
		}
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&res); err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, r := range res.Results {
		if r.Error != "" {
			t.Fatal(r.Error)
		}
		for _, s := range r.Series {
			for _, v := range s.Values {
				ts, _ := v[0].Int64()
				val, _ := v[1].Float64()
				out[fmt.Sprintf("%s@%d", s.Tags["sensor"], ts)] = val
			}
		}
	}
	return out
}
