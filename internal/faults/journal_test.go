package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.yaml.in/yaml/v3"

	"github.com/riskmon/riskmon/internal/influxproc"
	"github.com/riskmon/riskmon/journal"
	"github.com/riskmon/riskmon/sensors"
)

// TestJournalTornTail kills riskmon serve with SIGKILL three times and
// leaves its journal as a crash or a full disk can: an empty newest
// segment, a cut last record, a file cut inside its header. Each time
// riskmon starts again (it failed with "file exists" before), a red gas
// reading is journaled and paged, and at the end `riskmon journal verify`
// passes with the key and lists the three torn tails.
func TestJournalTornTail(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	state := t.TempDir()
	jdir := filepath.Join(state, "journal")
	port, err := influxproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var pagesMu sync.Mutex
	var pages []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		pagesMu.Lock()
		pages = append(pages, string(b))
		pagesMu.Unlock()
	}))
	defer hook.Close()
	cfg := r.config(state)
	conf := map[string]any{
		"log_level": "warn", "state_dir": state, "registry": r.regFile,
		"http":     map[string]any{"listen": addr},
		"mqtt":     map[string]any{"broker": cfg.MQTT.Broker, "client_id": "riskmon-journal"},
		"influxdb": map[string]any{"url": cfg.InfluxDB.URL, "bucket": "riskmon"},
		"alerting": map[string]any{"notify": map[string]any{"log": false, "mqtt": false,
			"webhooks": []map[string]any{{"url": hook.URL}}}},
	}
	b, _ := yaml.Marshal(conf)
	path := filepath.Join(state, "riskmon.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var gas []*sensors.Sensor
	for _, s := range r.reg.Sensors() {
		if s.Kind == "combustible_gas" {
			gas = append(gas, s)
		}
	}
	if len(gas) < 4 {
		t.Fatalf("the fleet has %d combustible-gas sensors, want 4", len(gas))
	}
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(cfg.MQTT.Broker).SetClientID("journal-gw"))
	if tok := pub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)

	var cmd *exec.Cmd
	start := func() {
		t.Helper()
		cmd = exec.Command(riskmonBin, "serve", "--config", path)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		deadline := time.Now().Add(60 * time.Second)
		for {
			select {
			case err := <-exited:
				t.Fatalf("riskmon serve exited at start: %v", err)
			default:
			}
			if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					go func() { <-exited }()
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("riskmon serve never became ready")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	kill := func() {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// alarm publishes a red reading for s and waits until it is journaled
	// and paged.
	alarm := func(s *sensors.Sensor) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"ts": time.Now().UnixMilli(), "readings": []map[string]any{{"sensor": s.ID, "value": 60}}})
		topic := fmt.Sprintf("riskmon/v1/%s/%s/readings", s.Site, s.Gateway)
		if tok := pub.Publish(topic, 1, false, body); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			journaled := journalHas(t, jdir, `"kind":"alarm"`, `"sensor":"`+s.ID+`"`)
			pagesMu.Lock()
			paged := 0
			for _, p := range pages {
				if strings.Contains(p, `"sensor":"`+s.ID+`"`) {
					paged++
				}
			}
			pagesMu.Unlock()
			if journaled && paged > 0 {
				msg := fmt.Sprintf("journal torn tail: sent 1 red reading for %s/%s; journaled; paged %d time(s)", s.Site, s.ID, paged)
				t.Log(msg)
				fmt.Println(msg)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: journaled %v, paged %d after 60 s", s.ID, journaled, paged)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	newest := func() string {
		segs, err := journal.Segments(jdir)
		if err != nil || len(segs) == 0 {
			t.Fatalf("segments: %v %v", segs, err)
		}
		return segs[len(segs)-1]
	}

	start()
	alarm(gas[0])
	for i, damage := range []struct {
		name string
		do   func()
	}{
		{"empty newest segment", func() {
			sum, err := journal.Verify(jdir)
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Join(jdir, fmt.Sprintf("journal-%020d.jsonl", sum.Last+1))
			if err := os.WriteFile(name, nil, 0o640); err != nil {
				t.Fatal(err)
			}
		}},
		{"cut record", func() {
			f := newest()
			data, _ := os.ReadFile(f)
			if err := os.WriteFile(f, data[:len(data)-25], 0o640); err != nil {
				t.Fatal(err)
			}
		}},
		{"file cut inside its header", func() {
			if err := os.Truncate(newest(), 30); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		kill()
		damage.do()
		t.Logf("riskmon killed; journal left with: %s", damage.name)
		start()
		alarm(gas[i+1])
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(2 * time.Second)
	out, err := exec.Command(riskmonBin, "journal", "verify", jdir).CombinedOutput()
	t.Logf("riskmon journal verify:\n%s", out)
	if err != nil || !bytes.Contains(out, []byte("MAC matches")) || bytes.Count(out, []byte("torn tail (crash or full disk, declared")) != 3 {
		t.Fatalf("verify after three torn tails: %v\n%s", err, out)
	}
}

// journalHas reports whether one line of the journal holds every part.
func journalHas(t *testing.T, dir string, parts ...string) bool {
	t.Helper()
	segs, err := journal.Segments(dir)
	if err != nil {
		return false
	}
	for _, s := range segs {
		data, _ := os.ReadFile(s)
	lines:
		for line := range bytes.Lines(data) {
			for _, p := range parts {
				if !bytes.Contains(line, []byte(p)) {
					continue lines
				}
			}
			return true
		}
	}
	return false
}
