package faults

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/riskmon/riskmon/internal/influxproc"
	"github.com/riskmon/riskmon/internal/testenv"
	"go.yaml.in/yaml/v3"
)

// proc is `riskmon serve` run as its own process, as systemd runs it.
type proc struct {
	t    *testing.T
	addr string
	path string
	cmd  *exec.Cmd
	// exited is closed when the process ends; exits counts them.
	exited chan struct{}
	mu     sync.Mutex
	log    strings.Builder
}

// startRiskmon writes conf (with the HTTP listener filled in) and starts
// riskmon on it.
func startRiskmon(t *testing.T, state string, conf map[string]any) *proc {
	t.Helper()
	port, err := influxproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, addr: fmt.Sprintf("127.0.0.1:%d", port), path: filepath.Join(state, "riskmon.yaml")}
	conf["http"] = map[string]any{"listen": p.addr}
	b, _ := yaml.Marshal(conf)
	if err := os.WriteFile(p.path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *proc) start() {
	p.t.Helper()
	p.cmd = exec.Command(riskmonBin, "serve", "--config", p.path)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func() {
		r := bufio.NewReader(stderr)
		for {
			line, err := r.ReadString('\n')
			p.mu.Lock()
			p.log.WriteString(line)
			p.mu.Unlock()
			if err != nil {
				break
			}
		}
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for p.get("/readyz") != http.StatusOK {
		if time.Now().After(deadline) {
			p.t.Fatalf("riskmon serve never became ready:\n%s", p.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *proc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *proc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func (p *proc) get(path string) int {
	code, _ := p.body(path)
	return code
}

func (p *proc) body(path string) (int, string) {
	resp, err := http.Get("http://" + p.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric is the value of a metric without labels from /metrics.
func (p *proc) metric(name string) string {
	_, body := p.body("/metrics")
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	return ""
}

// topicPager counts the alert events riskmon publishes on its MQTT alert
// topics, by rule and type.
type topicPager struct {
	mu sync.Mutex
	n  map[string]int
}

func newTopicPager(t *testing.T, url string) *topicPager {
	t.Helper()
	pg := &topicPager{n: map[string]int{}}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("topicPager").SetCleanSession(false).
		SetAutoReconnect(true).SetOnConnectHandler(func(c mqtt.Client) {
		c.Subscribe("riskmon/v1/alerts/#", 1, func(_ mqtt.Client, m mqtt.Message) {
			var ev struct {
				Rule string `json:"rule"`
				Type any    `json:"type"`
			}
			_ = json.Unmarshal(m.Payload(), &ev)
			pg.mu.Lock()
			pg.n[fmt.Sprintf("%s %v", ev.Rule, ev.Type)]++
			pg.mu.Unlock()
		})
	}))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(10) })
	return pg
}

// count is the number of events whose "rule type" starts with prefix.
func (pg *topicPager) count(prefix string) int {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	n := 0
	for k, v := range pg.n {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

func (pg *topicPager) String() string {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	return fmt.Sprint(pg.n)
}

// TestSpoolDiskFull fills the spool's filesystem (a small tmpfs) during an
// InfluxDB outage while a gateway fleet publishes 2,000 readings/s:
// riskmon must not exit, must stop acknowledging, say so on /readyz,
// /metrics, its MQTT alert topic and its log, page no stale sensors for
// readings that wait in the broker, and carry on by itself once
// InfluxDB is back and the spool's stored segments free the space, with
// every published reading in InfluxDB.
//
// Two layouts: the spool alone on the small filesystem, and the whole
// state folder (journal, alert store, dead letters) on it, as with the
// shipped systemd unit's StateDirectory.
func TestSpoolDiskFull(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		wholeDir  bool
		sizeBytes int64
	}{
		{"spool alone on a 4 MiB filesystem", false, 4 << 20},
		{"whole state folder on an 8 MiB filesystem", true, 8 << 20},
	} {
		t.Run(c.name, func(t *testing.T) { testDiskFull(t, c.name, c.wholeDir, c.sizeBytes) })
	}
}

func testDiskFull(t *testing.T, name string, wholeDir bool, size int64) {
	r := newRig(t)
	state := t.TempDir()
	spoolDir := testenv.SmallFS(t, size)
	if wholeDir {
		state = spoolDir
		spoolDir = filepath.Join(state, "spool")
	}
	pg := newTopicPager(t, r.mosq.URL)
	conf := map[string]any{
		"log_level": "warn", "state_dir": state, "registry": r.regFile,
		"mqtt":     map[string]any{"broker": r.mosq.URL, "client_id": "riskmon-diskfull"},
		"influxdb": map[string]any{"url": fmt.Sprintf("http://127.0.0.1:%d", r.influxPort), "bucket": "riskmon"},
		"spool":    map[string]any{"dir": spoolDir, "segment_bytes": 256 << 10},
		"writer":   map[string]any{"retry_max": "1s"},
		"alerting": map[string]any{"notify": map[string]any{"log": true, "mqtt": true}},
	}
	p := startRiskmon(t, state, conf)
	if !strings.Contains(p.logText(), "spool.max_bytes is larger than the space its filesystem has left") {
		t.Error("no warning at start that spool.max_bytes exceeds the free space")
	}
	// Leave the run less room than its readings take, whatever the other
	// state files use.
	leaveFree(t, spoolDir, 1<<20)
	r.influx.Kill()
	ru := r.publish(60_000, 2000, 0)

	deadline := time.Now().Add(90 * time.Second)
	for p.metric("riskmon_spool_write_failing") != "1" {
		if !p.alive() {
			t.Fatalf("riskmon exited when the disk filled:\n%s", p.logText())
		}
		if time.Now().After(deadline) {
			t.Fatalf("the spool never reported a failing write; free %s", p.metric("riskmon_spool_filesystem_free_bytes"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	fullAt := time.Now()
	// Records that fitted in the last free bytes are still committed and
	// acknowledged by the first retries; after that nothing may be.
	time.Sleep(3 * time.Second)
	acked := p.metric("riskmon_ingest_messages_acked_total")
	// Held longer than the stale limit of the fleet's 5 s sensors (15 s).
	time.Sleep(22 * time.Second)
	if !p.alive() {
		t.Fatalf("riskmon exited while the disk was full:\n%s", p.logText())
	}
	if now := p.metric("riskmon_ingest_messages_acked_total"); now != acked {
		t.Errorf("messages acknowledged while the disk was full: %s -> %s", acked, now)
	}
	code, ready := p.body("/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(ready, "spool cannot write") {
		t.Errorf("/readyz while the disk is full: %d %q", code, ready)
	}
	if pg.count("storage_backlog fired") != 1 {
		t.Errorf("storage_backlog fired %d times on the MQTT alert topic, want 1 (%s)", pg.count("storage_backlog fired"), pg)
	}
	if !strings.Contains(p.logText(), "spool cannot write") {
		t.Error("no log line about the spool failing to write")
	}
	// The gateways' messages wait in the broker: they are not silent.
	if g := pg.count("gateway_offline"); g != 0 {
		t.Errorf("%d gateway_offline events paged while riskmon itself held intake back", g)
	}

	r.startInflux()
	st := ru.wait(t)
	n := r.landed(ru, st.Readings, 3*time.Minute)
	deadline = time.Now().Add(30 * time.Second)
	for pg.count("storage_backlog resolved") == 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	report(t, "disk full during an InfluxDB outage, "+name, st, n,
		fmt.Sprintf("held %s; riskmon alive %v; paged %s", time.Since(fullAt).Round(time.Second), p.alive(), pg))
	if !p.alive() {
		t.Fatalf("riskmon exited:\n%s", p.logText())
	}
	if n != st.Readings {
		t.Errorf("InfluxDB holds %d readings, published %d", n, st.Readings)
	}
	if p.metric("riskmon_spool_write_failing") != "0" {
		t.Error("riskmon_spool_write_failing still 1 after space returned")
	}
	if pg.count("storage_backlog resolved") != 1 {
		t.Error("storage_backlog not resolved after intake resumed")
	}
	if s := pg.count("sensor_stale"); s != 0 {
		t.Errorf("%d sensor_stale events paged for sensors whose readings waited in the broker", s)
	}
}

// leaveFree writes a filler file into dir until at most free bytes are
// left on its filesystem.
func leaveFree(t *testing.T, dir string, free uint64) {
	t.Helper()
	f, err := os.CreateTemp(dir, "filler-")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			t.Fatal(err)
		}
		left := st.Bavail * uint64(st.Bsize)
		if left <= free {
			return
		}
		n := min(uint64(len(buf)), left-free)
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatalf("filling %s: %v", dir, err)
		}
	}
}

// TestSpoolCapNoStaleFlood holds intake at the spool cap for longer than
// the fleet's stale limit (15 s for its 5 s sensors): the readings wait in
// the broker, so the operator gets one storage_backlog alert and no
// sensor_stale for the healthy sensors behind it.
func TestSpoolCapNoStaleFlood(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	state := t.TempDir()
	pg := newTopicPager(t, r.mosq.URL)
	conf := map[string]any{
		"log_level": "warn", "state_dir": state, "registry": r.regFile,
		"mqtt":     map[string]any{"broker": r.mosq.URL, "client_id": "riskmon-capstale"},
		"influxdb": map[string]any{"url": fmt.Sprintf("http://127.0.0.1:%d", r.influxPort), "bucket": "riskmon"},
		"spool":    map[string]any{"max_bytes": 1 << 20},
		"writer":   map[string]any{"retry_max": "1s"},
		"alerting": map[string]any{"notify": map[string]any{"log": false, "mqtt": true}},
	}
	p := startRiskmon(t, state, conf)
	r.influx.Kill()
	ru := r.publish(60_000, 2000, 0)
	deadline := time.Now().Add(60 * time.Second)
	for p.metric("riskmon_spool_full") != "1" {
		if time.Now().After(deadline) {
			t.Fatal("spool never reached its cap")
		}
		time.Sleep(100 * time.Millisecond)
	}
	heldAt := time.Now()
	time.Sleep(25 * time.Second)
	if g := pg.count("gateway_offline"); g != 0 {
		t.Errorf("%d gateway_offline events paged while riskmon itself held intake back (%s)", g, pg)
	}
	r.startInflux()
	st := ru.wait(t)
	n := r.landed(ru, st.Readings, 3*time.Minute)
	time.Sleep(10 * time.Second) // past the storage_backlog clear delay
	report(t, "spool cap held for 25 s", st, n, fmt.Sprintf("held %s; paged %s", time.Since(heldAt).Round(time.Second), pg))
	if n != st.Readings {
		t.Errorf("InfluxDB holds %d readings, published %d", n, st.Readings)
	}
	if f := pg.count("storage_backlog fired"); f != 1 {
		t.Errorf("storage_backlog fired %d times, want 1", f)
	}
	if s := pg.count("sensor_stale"); s != 0 {
		t.Errorf("%d sensor_stale events paged while intake was held at the cap", s)
	}
}

// TestSpoolFlippedByte damages one byte in the middle of a stopped
// riskmon's spool, which holds a whole run's readings while InfluxDB is
// down: on restart exactly the damaged record's readings are missing, and
// riskmon says which and how many on its alert topic and metrics.
func TestSpoolFlippedByte(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	state := t.TempDir()
	pg := newTopicPager(t, r.mosq.URL)
	conf := map[string]any{
		"log_level": "warn", "state_dir": state, "registry": r.regFile,
		"mqtt":     map[string]any{"broker": r.mosq.URL, "client_id": "riskmon-flip"},
		"influxdb": map[string]any{"url": fmt.Sprintf("http://127.0.0.1:%d", r.influxPort), "bucket": "riskmon"},
		"writer":   map[string]any{"retry_max": "1s", "shutdown_timeout": "1s"},
		"alerting": map[string]any{"notify": map[string]any{"log": false, "mqtt": true}},
	}
	p := startRiskmon(t, state, conf)
	r.influx.Kill()
	ru := r.publish(20_000, 2000, 0)
	st := ru.wait(t)
	deadline := time.Now().Add(60 * time.Second)
	for p.metric("riskmon_spool_readings") != fmt.Sprint(st.Readings) {
		if time.Now().After(deadline) {
			t.Fatalf("spool holds %s readings, published %d", p.metric("riskmon_spool_readings"), st.Readings)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.stop()
	segs, _ := filepath.Glob(filepath.Join(state, "spool", "*.seg"))
	if len(segs) == 0 {
		t.Fatal("no spool segment")
	}
	seg := segs[len(segs)-1]
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x10
	if err := os.WriteFile(seg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r.startInflux()
	p.start()
	n := r.landed(ru, st.Readings, 2*time.Minute)
	lost := p.metric("riskmon_spool_lost_readings_total")
	deadline = time.Now().Add(10 * time.Second)
	for pg.count("data_loss fired") == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	report(t, "one byte flipped in the newest spool segment", st, n, fmt.Sprintf("riskmon reports %s readings lost; paged %s", lost, pg))
	if lost == "" || lost == "0" || fmt.Sprint(st.Readings-n) != lost {
		t.Errorf("%d readings missing from InfluxDB, riskmon reports %q lost", st.Readings-n, lost)
	}
	// A gateway message is 20 readings; one spool record is one message.
	if st.Readings-n > 20 {
		t.Errorf("one flipped byte lost %d readings", st.Readings-n)
	}
	if pg.count("data_loss fired") != 1 {
		t.Errorf("data_loss fired %d times on the alert topic, want 1", pg.count("data_loss fired"))
	}
}
