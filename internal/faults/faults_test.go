package faults

import (
	"encoding/json"
	"sync"

	"fmt"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/riskmon/riskmon/internal/influxproc"
	"go.yaml.in/yaml/v3"
)

// TestInfluxDBOutage kills InfluxDB for 30 s in the middle of a
// 100,000-reading run: the spool takes the readings and replays them.
func TestInfluxDBOutage(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	svc, _ := r.service(r.config(t.TempDir()))
	ru := r.publish(100_000, 5000, 0)
	time.Sleep(5 * time.Second)
	r.influx.Kill()
	killedAt := time.Now()
	// Readings keep arriving and are acknowledged from the spool.
	acked0 := svc.Stats().Acked
	time.Sleep(30 * time.Second)
	if svc.Stats().Acked <= acked0 {
		t.Error("no message was acknowledged while InfluxDB was down")
	}
	spooled := svc.Stats().Pending
	r.startInflux()
	st := ru.wait(t)
	n := r.landed(ru, st.Readings, 2*time.Minute)
	report(t, "InfluxDB killed for 30 s", st, n, fmt.Sprintf("%d readings waited in the spool at restart, outage %s", spooled, time.Since(killedAt).Round(time.Second)))
	if spooled == 0 {
		t.Error("nothing was spooled during the outage")
	}
	if n != st.Readings {
		t.Fatalf("InfluxDB holds %d readings, published %d", n, st.Readings)
	}
}

// TestMosquittoRestart restarts the broker (persistence on) mid-run.
func TestMosquittoRestart(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	svc, _ := r.service(r.config(t.TempDir()))
	obs := newObserver(t, r.mosq.URL)
	ru := r.publish(60_000, 5000, 0)
	time.Sleep(4 * time.Second)
	port := r.mosq.Port
	r.mosq.Stop()
	time.Sleep(2 * time.Second)
	r.startMosquitto(port)
	st := ru.wait(t)
	n := r.landed(ru, st.Readings, 2*time.Minute)
	time.Sleep(2 * time.Second)
	t.Logf("observer saw %d unique messages", obs.unique())
	report(t, "Mosquitto restarted", st, n, fmt.Sprintf("riskmon received %.0f readings (duplicates included), rejected %.0f, dead letters %d", svc.Stats().Received, svc.Stats().Rejected, svc.Stats().DeadLetters))
	if n != st.Readings {
		r.missing(ru)
		t.Fatalf("InfluxDB holds %d readings, published %d", n, st.Readings)
	}
}

// TestRiskmonKilled kills riskmon with SIGKILL mid-run and starts it again:
// the broker redelivers what was not acknowledged, the spool replays what
// was, and duplicates overwrite themselves.
func TestRiskmonKilled(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	state := t.TempDir()
	cfg := r.config(state)
	port, err := influxproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// waitConnected polls /readyz (riskmon's readiness needs the broker).
	waitConnected := func() {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("riskmon serve never became ready")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	conf := map[string]any{
		"log_level": "warn", "state_dir": state, "registry": r.regFile,
		"http":     map[string]any{"listen": addr},
		"mqtt":     map[string]any{"broker": cfg.MQTT.Broker, "client_id": "riskmon-killed"},
		"influxdb": map[string]any{"url": cfg.InfluxDB.URL, "bucket": "riskmon"},
		"alerting": map[string]any{"notify": map[string]any{"log": false, "mqtt": false}},
	}
	b, _ := yaml.Marshal(conf)
	path := filepath.Join(state, "riskmon.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(riskmonBin, "serve", "--config", path)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	cmd := start()
	waitConnected()
	ru := r.publish(80_000, 5000, 0)
	time.Sleep(6 * time.Second)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	time.Sleep(2 * time.Second)
	cmd = start()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	st := ru.wait(t)
	n := r.landed(ru, st.Readings, 2*time.Minute)
	report(t, "riskmon killed with SIGKILL and restarted", st, n, "")
	if n != st.Readings {
		t.Fatalf("InfluxDB holds %d readings, published %d", n, st.Readings)
	}
}

// TestSpoolCapBackpressure fills a small spool during a long InfluxDB
// outage: riskmon stops acknowledging, reports the backlog, drops nothing,
// and everything lands once InfluxDB is back.
func TestSpoolCapBackpressure(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	cfg := r.config(t.TempDir())
	cfg.Spool.MaxBytes = 1 << 20 // about 9,000 readings
	svc, _ := r.service(cfg)
	r.influx.Kill()
	ru := r.publish(40_000, 5000, 0)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if svc.Stats().SpoolFull {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("spool never reached its cap")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Records appended just before the cap still get their group
	// commit; after that nothing more may be acknowledged.
	time.Sleep(500 * time.Millisecond)
	acked := svc.Stats().Acked
	time.Sleep(3 * time.Second)
	if svc.Stats().Acked != acked {
		t.Errorf("messages acknowledged while the spool was full (%v -> %v)", acked, svc.Stats().Acked)
	}
	readyz := httpStatus(t, svc, "/readyz")
	if readyz != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d while the spool is full, want 503", readyz)
	}
	if !svc.StorageBacklogFiring() {
		t.Error("no storage backlog alert while the spool is full")
	}
	r.startInflux()
	st := ru.wait(t)
	n := r.landed(ru, st.Readings, 3*time.Minute)
	report(t, "spool cap reached during an InfluxDB outage", st, n, fmt.Sprintf("spool cap %d bytes", cfg.Spool.MaxBytes))
	if n != st.Readings {
		t.Fatalf("InfluxDB holds %d readings, published %d", n, st.Readings)
	}
	deadline = time.Now().Add(10 * time.Second)
	for svc.StorageBacklogFiring() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if svc.StorageBacklogFiring() {
		t.Error("storage backlog alert still firing after the backlog drained")
	}
}

func httpStatus(t *testing.T, h interface{ Handler() http.Handler }, path string) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code
}

type observer struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (o *observer) unique() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seen)
}

func newObserver(t *testing.T, url string) *observer {
	o := &observer{seen: map[string]bool{}}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("observer").SetCleanSession(false).
		SetAutoReconnect(true).SetOrderMatters(false).SetOnConnectHandler(func(c mqtt.Client) {
		c.Subscribe("riskmon/v1/+/+/readings", 1, func(_ mqtt.Client, m mqtt.Message) {
			var b struct{ Seq int }
			_ = json.Unmarshal(m.Payload(), &b)
			o.mu.Lock()
			o.seen[fmt.Sprintf("%s/%d", m.Topic(), b.Seq)] = true
			o.mu.Unlock()
		})
	}))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(10) })
	return o
}
