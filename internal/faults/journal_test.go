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

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/internal/influxproc"
	"github.com/riskmon/riskmon/internal/testenv"
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

// TestJournalDiskFull: the journal's filesystem (a small tmpfs) fills while
// riskmon serve runs as its own process. An alarm raised meanwhile is
// still paged, journal_write_failed is paged, riskmon stays up; once the
// space is back, the next alarm is journaled after a "lost" record that
// counts what could not be written, and the journal still verifies.
func TestJournalDiskFull(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	state := t.TempDir()
	jdir := filepath.Join(testenv.SmallFS(t, 2<<20), "journal")
	reg, regFile := gasRegistry(t, r.dir, 2)
	hook := newPager(t)
	proc := r.newRiskmonProc(t, state, regFile, hook.srv.URL, func(conf map[string]any) {
		conf["journal"] = map[string]any{"dir": jdir}
	})
	proc.start()
	gw := newGasGateway(t, r.mosq.URL, reg)
	second := reg.Sensors()[1].ID
	// Alive: it still answers /metrics.
	alive := func() bool { _, ok := proc.metric("riskmon_mqtt_connected"); return ok }

	leaveFree(t, jdir, 0)
	// The journal's open segment may still have room in its last page:
	// the first sensor's alarm comes and goes until a write fails.
	var failedAt int
	deadline := time.Now().Add(60 * time.Second)
	v := 30.0 // the first sensor's value, toggled over and under 25 %LEL
	for ; ; v = 33 - v {
		gw.publish(time.Now(), func(i int) float64 { return []float64{v, 3}[i] })
		time.Sleep(300 * time.Millisecond)
		ps := hook.all()
		if failed := ofRule(ps, alerting.RuleJournalFailed); len(failed) > 0 {
			failedAt = len(ps)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no journal_write_failed page after a minute of alarms on a full disk: %s", describe(ps))
		}
	}
	// Alarms go on being paged while the journal cannot write.
	before := len(ofRule(hook.all(), "combustible_gas_high"))
	for n := 0; n < 4; n++ {
		v = 33 - v
		gw.publish(time.Now(), func(i int) float64 { return []float64{v, 3}[i] })
		time.Sleep(300 * time.Millisecond)
	}
	got := hook.waitPages(20*time.Second, func(ps []page) bool { return len(ofRule(ps, "combustible_gas_high")) >= before+4 })
	if !alive() {
		t.Fatal("riskmon exited when the journal's disk filled")
	}
	if n := len(ofRule(got, "combustible_gas_high")) - before; n < 4 {
		t.Fatalf("%d of 4 alarm changes paged while the journal could not write: %s", n, describe(got[failedAt-1:]))
	}
	if journalHas(t, jdir, `"kind":"alarm"`, `"sensor":"`+second+`"`) {
		t.Fatal("the second sensor alarmed before the test raised it")
	}

	// Space back: the next change is journaled, after the record of what
	// was lost.
	fillers, _ := filepath.Glob(filepath.Join(jdir, "filler-*"))
	for _, f := range fillers {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	deadline = time.Now().Add(30 * time.Second)
	for !journalHas(t, jdir, `"kind":"alarm"`, `"sensor":"`+second+`"`) {
		if time.Now().After(deadline) {
			t.Fatal("no alarm journaled after the space came back")
		}
		gw.publish(time.Now(), func(i int) float64 { return []float64{30, 30}[i] })
		time.Sleep(500 * time.Millisecond)
	}
	lost := journalHas(t, jdir, `"kind":"lost"`)
	healed := hook.waitPages(20*time.Second, func(ps []page) bool {
		for _, p := range ofRule(ps, alerting.RuleJournalFailed) {
			if p.ev.Type == alerting.EventResolved {
				return true
			}
		}
		return false
	})
	if n := len(ofRule(healed, alerting.RuleJournalFailed)); n != 2 {
		t.Errorf("journal_write_failed paged %d times, want fired once and resolved once the space came back", n)
	}
	out, err := exec.Command(riskmonBin, "journal", "verify", jdir).CombinedOutput()
	msg := fmt.Sprintf("journal on a full 2 MiB filesystem: riskmon alive %v; paged %s; lost record %v; journal verify: %v",
		alive(), describe(hook.all()), lost, err)
	t.Log(msg)
	fmt.Println(msg)
	if !lost {
		t.Error("no lost record journaled once the space came back")
	}
	if err != nil {
		t.Errorf("riskmon journal verify: %v\n%s", err, out)
	}
}
