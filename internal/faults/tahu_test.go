package faults

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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
// client (npm sparkplug-client), configured for riskmon as its Sparkplug
// Primary Host, streams device data by alias, with tag paths that two
// devices share; riskmon serve, its own process, goes away a third of
// the way through: stopped (SIGTERM, it publishes its STATE offline) or
// killed (SIGKILL, the broker publishes its will). The edge sees the
// STATE go offline, holds its data, and replays it by the aliases of its
// first BIRTH once riskmon's STATE is online again. Every value it sent
// must be in InfluxDB, at its own time, with its own value.
func TestSparkplugPrimaryHostRestart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
	}{
		{"stopped", syscall.SIGTERM},
		{"killed", syscall.SIGKILL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sparkplugHostRestart(t, tc.sig)
		})
	}
}

// tahuMetric is one metric of the edge node and the sensor it is.
type tahuMetric struct {
	Device string `json:"device"`
	Name   string `json:"name"`
	Alias  int    `json:"alias"`
	sensor string
}

func sparkplugHostRestart(t *testing.T, sig syscall.Signal) {
	edgeDir := testenv.NodeInstall(t, filepath.Join("testdata", "tahu-edge"), "package.json", "package-lock.json", "edge.js")
	r := newRig(t)
	const site, hostID = "plant-1", "riskmon-primary"
	// Ignition-style tag paths on devices of one template: both gas skids
	// publish Gas/GT-1; the registry tells them apart by address.
	metrics := []tahuMetric{
		{"gas-skid-1", "Gas/GT-1", 1, "GT-101"}, {"gas-skid-1", "Gas/GT-2", 2, "GT-102"},
		{"gas-skid-2", "Gas/GT-1", 3, "GT-201"}, {"tank-farm", "Tank1/Temperature", 4, "TT-301"},
	}
	regFile, sensorOf := tahuRegistry(t, r.dir, site, metrics)
	state := t.TempDir()
	p := startRiskmon(t, state, map[string]any{
		"log_level": "error", "state_dir": state, "registry": regFile,
		"mqtt":     map[string]any{"broker": r.mosq.URL, "client_id": "riskmon-spb-host", "sparkplug_host_id": hostID},
		"influxdb": map[string]any{"url": fmt.Sprintf("http://127.0.0.1:%d", r.influxPort), "bucket": "riskmon"},
		"alerting": map[string]any{"notify": map[string]any{"log": false, "mqtt": false}},
	})

	const rounds = 150
	edge := startTahuEdge(t, edgeDir, r.mosq.URL, site, hostID, metrics, rounds)
	// riskmon goes away a third of the way through the stream.
	edge.waitUntil("the stream to start", 30*time.Second, func() bool { return edge.count() >= rounds*len(metrics)/3 })
	goneAt := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	held := edge.count()
	time.Sleep(time.Second) // the edge holds its readings meanwhile
	if edge.count()-held < 20 {
		t.Fatalf("the edge made only %d readings while riskmon was away", edge.count()-held)
	}
	p.start()
	sent := edge.wait()

	// Every value sent must be stored at its time, once.
	want := map[string]float64{}
	for _, v := range sent {
		want[fmt.Sprintf("%s@%d", sensorOf[v.Device+"/"+v.Name], v.TS)] = v.Value
	}
	influxURL := fmt.Sprintf("http://127.0.0.1:%d", r.influxPort)
	var got map[string]float64
	deadline := time.Now().Add(30 * time.Second)
	for {
		got = storedValues(t, influxURL, site)
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
	msg := fmt.Sprintf("Tahu edge across riskmon %v: sent %d values (%d after riskmon went away), stored %d, %d missing, %d wrong",
		sig, len(want), len(want)-held, len(got), len(missing), len(wrong))
	t.Log(msg)
	fmt.Println(msg)
	// Sparkplug sends DATA at QoS 0, as its specification has it: what
	// the broker had already written to a riskmon that is then killed is
	// gone, and nothing can ask for it again. That is at most the
	// message or two on the wire at that moment; a stop loses nothing.
	lostOnTheWire := 0
	if sig == syscall.SIGKILL {
		lostOnTheWire = 2 * len(metrics)
	}
	var early []string
	for _, k := range missing {
		var ts int64
		if _, err := fmt.Sscanf(k[strings.LastIndex(k, "@")+1:], "%d", &ts); err != nil || time.UnixMilli(ts).Sub(goneAt).Abs() > time.Second {
			early = append(early, k)
		}
	}
	if len(missing) > lostOnTheWire || len(early) > 0 || len(wrong) > 0 || len(got)+len(missing) != len(want) {
		t.Fatalf("%d missing (%d allowed, all within a second of %s), %d of them not near it (e.g. %v), wrong %v\nedge log:\n%s",
			len(missing), lostOnTheWire, goneAt.Format("15:04:05.000"), len(early), head(early), head(wrong), edge.stderr.String())
	}
}

// tahuRegistry writes the registry of the edge's metrics, each sensor at
// its Sparkplug address, and returns its file and the sensor of each
// address.
func tahuRegistry(t *testing.T, dir, site string, metrics []tahuMetric) (string, map[string]string) {
	t.Helper()
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
	path := filepath.Join(dir, "tahu-registry.yaml")
	if err := reg.WriteYAMLFile(path); err != nil {
		t.Fatal(err)
	}
	return path, sensorOf
}

// tahuEdge is the node.js edge node, with the values it reported sending.
type tahuEdge struct {
	t        *testing.T
	cmd      *exec.Cmd
	stderr   bytes.Buffer
	mu       sync.Mutex
	sent     []edgeValue
	done     bool
	readDone chan struct{}
}

func startTahuEdge(t *testing.T, dir, broker, group, hostID string, metrics []tahuMetric, rounds int) *tahuEdge {
	t.Helper()
	mj, _ := json.Marshal(metrics)
	e := &tahuEdge{t: t, readDone: make(chan struct{})}
	e.cmd = exec.Command("node", "edge.js")
	e.cmd.Dir = dir
	e.cmd.Env = append(os.Environ(), "EDGE_BROKER="+strings.Replace(broker, "tcp://", "mqtt://", 1), "EDGE_GROUP="+group,
		"EDGE_NODE=edge-1", "EDGE_HOST="+hostID, "EDGE_METRICS="+string(mj),
		fmt.Sprintf("EDGE_ROUNDS=%d", rounds), "EDGE_INTERVAL=20")
	e.cmd.Stderr = &e.stderr
	out, err := e.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if e.cmd.ProcessState == nil {
			_ = e.cmd.Process.Kill()
			_ = e.cmd.Wait()
		}
	})
	go func() {
		defer close(e.readDone)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var v edgeValue
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Errorf("edge output %q: %v", sc.Text(), err)
				continue
			}
			e.mu.Lock()
			if v.Done {
				e.done = true
			} else {
				e.sent = append(e.sent, v)
			}
			e.mu.Unlock()
		}
	}()
	return e
}

func (e *tahuEdge) count() int { e.mu.Lock(); defer e.mu.Unlock(); return len(e.sent) }

func (e *tahuEdge) waitUntil(what string, d time.Duration, ok func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s; edge log:\n%s", what, e.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wait waits for the edge to finish its stream and returns what it sent;
// it fails the test unless the edge held data for riskmon's STATE and
// replayed it.
func (e *tahuEdge) wait() []edgeValue {
	e.t.Helper()
	sent := e.waitSent()
	if !strings.Contains(e.stderr.String(), "replayed") {
		e.t.Fatalf("the edge never held data for riskmon's STATE:\n%s", e.stderr.String())
	}
	return sent
}

// waitSent waits for the edge to finish its stream and returns what it
// sent.
func (e *tahuEdge) waitSent() []edgeValue {
	e.t.Helper()
	<-e.readDone
	if err := e.cmd.Wait(); err != nil {
		e.t.Fatalf("edge node: %v\n%s", err, e.stderr.String())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.done {
		e.t.Fatalf("edge node did not finish its stream:\n%s", e.stderr.String())
	}
	return e.sent
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
