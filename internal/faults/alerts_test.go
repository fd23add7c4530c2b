package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.yaml.in/yaml/v3"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/notify"
	"github.com/riskmon/riskmon/internal/app"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/internal/influxproc"
	"github.com/riskmon/riskmon/journal"
	"github.com/riskmon/riskmon/sensors"
)

// The alert fault tests run `riskmon serve` as a process, with a gateway
// of gas detectors publishing through the rig's Mosquitto and a webhook
// receiver counting pages, and kill riskmon with SIGKILL.

const (
	gasSite      = "hz-refinery-north-tank-farm-07"
	gasGatewayID = "gw-tank-farm-07-east-cabinet"
)

// gasRegistry is one site with n combustible-gas detectors on one
// gateway, written to a file for riskmon serve.
func gasRegistry(t *testing.T, dir string, n int) (*sensors.Registry, string) {
	t.Helper()
	ss := make([]sensors.Sensor, n)
	for i := range ss {
		ss[i] = sensors.Sensor{ID: fmt.Sprintf("GT-%03d-combustible-gas-detector", 101+i), Site: gasSite, Kind: "combustible_gas", Gateway: gasGatewayID}
	}
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(), []sensors.Site{{ID: gasSite, Name: "储罐区 北区 07", Sector: sensors.SectorHazchem}}, ss)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "gas-registry.yaml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := reg.WriteYAML(f); err != nil {
		t.Fatal(err)
	}
	return reg, path
}

// page is one webhook delivery as the receiver decoded it.
type page struct {
	key    string // Idempotency-Key header, unquoted
	bodyID string // idempotency_key of the body
	ev     alerting.Event
}

// pager is a webhook receiver that keeps every delivery.
type pager struct {
	srv   *httptest.Server
	mu    sync.Mutex
	pages []page
}

func newPager(t *testing.T) *pager {
	p := &pager{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body struct {
			Key string `json:"idempotency_key"`
		}
		var ev alerting.Event
		if json.Unmarshal(b, &body) != nil || json.Unmarshal(b, &ev) != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.pages = append(p.pages, page{key: strings.Trim(r.Header.Get(notify.IdempotencyHeader), `"`), bodyID: body.Key, ev: ev})
		p.mu.Unlock()
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pager) all() []page {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.pages)
}

// riskmonProc is `riskmon serve` on a state dir, started and killed as a
// process.
type riskmonProc struct {
	t    *testing.T
	conf string
	addr string
	cmd  *exec.Cmd
}

// newRiskmonProc writes the configuration; edit may change it first.
func (r *rig) newRiskmonProc(t *testing.T, state, regFile, hook string, edit func(map[string]any)) *riskmonProc {
	t.Helper()
	port, err := influxproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	conf := map[string]any{
		"log_level": "warn", "state_dir": state, "registry": regFile,
		"http":     map[string]any{"listen": addr},
		"mqtt":     map[string]any{"broker": r.mosq.URL, "client_id": "riskmon-alerts-under-test"},
		"influxdb": map[string]any{"url": fmt.Sprintf("http://127.0.0.1:%d", r.influxPort), "bucket": "riskmon"},
		"alerting": map[string]any{
			"forecast": false,
			// Every crossing is a transition to page: no holding.
			"flapping": map[string]any{"raises": 1_000_000},
			"repeat":   map[string]any{},
			"notify": map[string]any{"log": false, "mqtt": false,
				"webhooks": []any{map[string]any{"url": hook, "timeout": "5s", "max_elapsed": "2m"}}},
		},
	}
	if edit != nil {
		edit(conf)
	}
	b, err := yaml.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(state, "riskmon.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	p := &riskmonProc{t: t, conf: path, addr: addr}
	t.Cleanup(func() { p.stop() })
	return p
}

// start runs riskmon serve and waits until it is connected to the broker.
func (p *riskmonProc) start() {
	p.t.Helper()
	p.cmd = exec.Command(riskmonBin, "serve", "--config", p.conf)
	p.cmd.Stderr = os.Stderr
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if v, ok := p.metric("riskmon_mqtt_connected"); ok && v == 1 {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatal("riskmon serve did not connect to the broker")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and reaps the process.
func (p *riskmonProc) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	p.cmd = nil
}

// stop ends riskmon in order (SIGTERM), as systemd does.
func (p *riskmonProc) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
	p.cmd = nil
}

// metric reads one unlabelled sample from /metrics, or the sum of a
// labelled one.
func (p *riskmonProc) metric(name string) (float64, bool) {
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sum float64
	found := false
	for line := range bytes.Lines(b) {
		f := strings.Fields(string(line))
		if len(f) != 2 || (f[0] != name && !strings.HasPrefix(f[0], name+"{")) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(f[1], &v); err == nil {
			sum += v
			found = true
		}
	}
	return sum, found
}

// gasGateway publishes JSON messages for the registry's detectors, as a
// gateway does: QoS 1, one message with every detector per tick.
type gasGateway struct {
	t   *testing.T
	c   mqtt.Client
	reg *sensors.Registry
	seq int
	// sent are the readings published, in order, with the time each was
	// published (the reference engine's receive time).
	sent []sensors.Reading
}

func newGasGateway(t *testing.T, broker string, reg *sensors.Registry) *gasGateway {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(broker).SetClientID("gateway-tank-farm-07-east").SetCleanSession(true).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("gateway connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return &gasGateway{t: t, c: c, reg: reg}
}

// publish sends one message with value(i) for the i-th detector, device
// time at.
func (g *gasGateway) publish(at time.Time, value func(i int) float64) {
	g.t.Helper()
	g.seq++
	type item struct {
		Sensor string  `json:"sensor"`
		Value  float64 `json:"value"`
	}
	msg := struct {
		TS       int64  `json:"ts"`
		Seq      int    `json:"seq"`
		Readings []item `json:"readings"`
	}{TS: at.UnixMilli(), Seq: g.seq}
	now := time.Now()
	for i, sn := range g.reg.Sensors() {
		v := value(i)
		msg.Readings = append(msg.Readings, item{sn.ID, v})
		g.sent = append(g.sent, sensors.Reading{Site: sn.Site, Sensor: sn.ID, Value: v, Time: time.UnixMilli(at.UnixMilli()).UTC(), Received: now})
	}
	b, _ := json.Marshal(msg)
	tok := g.c.Publish(fmt.Sprintf("riskmon/v1/%s/%s/readings", gasSite, gasGatewayID), 1, false, b)
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		g.t.Fatalf("publish: %v", tok.Error())
	}
}

// journaled reads the alarm records of the journal in dir.
func journaled(t *testing.T, dir string) []alerting.Event {
	t.Helper()
	var out []alerting.Event
	err := journal.Export(dir, time.Time{}, func(line []byte) error {
		var r journal.Record
		if json.Unmarshal(line, &r) != nil || r.Kind != journal.KindAlarm {
			return nil
		}
		var ev alerting.Event
		if err := json.Unmarshal(r.Data, &ev); err != nil {
			return fmt.Errorf("journal record %d: %w", r.Seq, err)
		}
		out = append(out, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// reference runs the readings the gateway sent, once each and in order,
// through an engine built from the same configuration: the transitions
// riskmon must page.
func reference(t *testing.T, confPath string, reg *sensors.Registry, sent []sensors.Reading, rule string) []alerting.Event {
	t.Helper()
	cfg, err := config.Load(confPath)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := app.EngineOptions(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	var out []alerting.Event
	e, err := alerting.NewEngine(reg, alerting.SinkFunc(func(ev alerting.Event) {
		if ev.Rule == rule {
			out = append(out, ev)
		}
	}), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range sent {
		e.Evaluate(r)
	}
	return out
}

// TestAlertsSurviveKills kills riskmon with SIGKILL at random moments
// while a gateway's gas readings keep crossing both setpoints: every
// transition (fired, escalated, de-escalated, resolved) must be paged and
// journaled at least once, and re-sends must be few and counted.
func TestAlertsSurviveKills(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	state := t.TempDir()
	reg, regFile := gasRegistry(t, r.dir, 16)
	hook := newPager(t)
	proc := r.newRiskmonProc(t, state, regFile, hook.srv.URL, nil)
	proc.start()
	gw := newGasGateway(t, r.mosq.URL, reg)

	// Each detector cycles 3 → 27 → 60 → 27 → 3 %LEL in 4 s, shifted
	// from the others, so about 16 transitions a second happen.
	levels := [...]float64{3, 27, 60, 27}
	const tick = 100 * time.Millisecond
	const run = 40 * time.Second
	rnd := rand.New(rand.NewPCG(7, 12))
	nextKill := time.Now().Add(time.Duration(1500+rnd.IntN(2500)) * time.Millisecond)
	kills := 0
	var resent float64 // summed over the lives
	start := time.Now()
	for n := 0; time.Since(start) < run; n++ {
		gw.publish(time.Now(), func(i int) float64 { return levels[((n+i*7)/10)%len(levels)] })
		if time.Now().After(nextKill) {
			if v, ok := proc.metric("riskmon_notifications_resent_total"); ok {
				resent += v
			}
			proc.kill()
			kills++
			proc.start()
			nextKill = time.Now().Add(time.Duration(1500+rnd.IntN(2500)) * time.Millisecond)
		}
		time.Sleep(tick)
	}
	// Let the last readings be evaluated and paged, then stop in order.
	time.Sleep(3 * time.Second)
	if v, ok := proc.metric("riskmon_notifications_resent_total"); ok {
		resent += v
	}
	proc.stop()

	const rule = "combustible_gas_high"
	want := reference(t, proc.conf, reg, gw.sent, rule)
	paged := map[string]int{}
	keyMismatch := 0
	for _, p := range hook.all() {
		if p.ev.Rule != rule {
			continue
		}
		k := p.ev.Key()
		paged[k]++
		if p.key != p.ev.IdempotencyKey() || p.bodyID != p.key {
			keyMismatch++
		}
	}
	inJournal := map[string]int{}
	for _, ev := range journaled(t, filepath.Join(state, "journal")) {
		if ev.Rule == rule {
			inJournal[ev.Key()]++
		}
	}
	wanted := map[string]bool{}
	var notPaged, notJournaled []string
	for _, ev := range want {
		k := ev.Key()
		wanted[k] = true
		if paged[k] == 0 {
			notPaged = append(notPaged, fmt.Sprintf("%s %s %s at %s", ev.Sensor, ev.Type, ev.Level, ev.At.Format("15:04:05.000")))
		}
		if inJournal[k] == 0 {
			notJournaled = append(notJournaled, fmt.Sprintf("%s %s %s at %s", ev.Sensor, ev.Type, ev.Level, ev.At.Format("15:04:05.000")))
		}
	}
	doubled, extra := 0, 0
	for k, n := range paged {
		if n > 1 {
			doubled += n - 1
		}
		if !wanted[k] {
			extra++
		}
	}
	msg := fmt.Sprintf("riskmon killed %d times: sent %d readings; %d transitions expected; paged %d (%d not paged, %d paged more than once, %d re-sends counted by riskmon, %d not expected); journaled %d (%d not journaled)",
		kills, len(gw.sent), len(want), len(paged), len(notPaged), doubled, int(resent), extra, len(inJournal), len(notJournaled))
	t.Log(msg)
	fmt.Println(msg)
	if kills < 5 || len(want) < 100 {
		t.Fatalf("the run was too small to say anything: %d kills, %d transitions", kills, len(want))
	}
	if len(notPaged) > 0 {
		t.Errorf("transitions never paged: %v", notPaged)
	}
	if len(notJournaled) > 0 {
		t.Errorf("transitions never journaled: %v", notJournaled)
	}
	if keyMismatch > 0 {
		t.Errorf("%d pages without the transition's idempotency key in header and body", keyMismatch)
	}
	if extra > 0 {
		t.Errorf("%d paged transitions the readings do not give", extra)
	}
}

// waitPages waits until pages satisfy done or limit passes.
func (p *pager) waitPages(limit time.Duration, done func([]page) bool) []page {
	deadline := time.Now().Add(limit)
	for {
		got := p.all()
		if done(got) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ofRule(pages []page, rule string) []page {
	var out []page
	for _, p := range pages {
		if p.ev.Rule == rule {
			out = append(out, p)
		}
	}
	return out
}

func describe(pages []page) string {
	var b strings.Builder
	for _, p := range pages {
		fmt.Fprintf(&b, "[%s %s %s %s at %s] ", p.ev.Rule, p.ev.AlertID, p.ev.Type, p.ev.Level, p.ev.At.Format("15:04:05.000"))
	}
	return b.String()
}

// TestAdoptedAlertAfterCrashWithoutInfluxDB: a gas alert fires, riskmon
// is killed before its next state save, and comes back while InfluxDB is
// down (no warm-up). The gateway then replays a reading older than the
// one that fired the alert, and the gas stays high: the open alert holds.
// Paged once, not fired, resolved and fired again under a new id.
func TestAdoptedAlertAfterCrashWithoutInfluxDB(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	state := t.TempDir()
	reg, regFile := gasRegistry(t, r.dir, 1)
	hook := newPager(t)
	proc := r.newRiskmonProc(t, state, regFile, hook.srv.URL, nil)
	proc.start()
	gw := newGasGateway(t, r.mosq.URL, reg)
	const rule = "combustible_gas_high"

	base := time.Now()
	for i := range 5 {
		gw.publish(base.Add(time.Duration(i-10)*time.Second), func(int) float64 { return 3 })
	}
	firedAt := base.Add(-2 * time.Second)
	gw.publish(firedAt, func(int) float64 { return 30 })
	got := hook.waitPages(20*time.Second, func(ps []page) bool { return len(ofRule(ps, rule)) == 1 })
	if len(ofRule(got, rule)) != 1 {
		t.Fatalf("before the crash: pages %s, want the gas alert fired", describe(got))
	}
	// Killed well inside the 30 s between state saves (after the outbox
	// has had a moment to record the page), and InfluxDB is gone for the
	// restart.
	time.Sleep(300 * time.Millisecond)
	proc.kill()
	r.influx.Kill()
	proc.start()
	// The gateway replays its buffer: a reading older than the one that
	// fired, below the setpoint; then the live gas stays at 30 %LEL.
	gw.publish(firedAt.Add(-time.Second), func(int) float64 { return 3 })
	for i := range 5 {
		gw.publish(time.Now().Add(time.Duration(i)*time.Second), func(int) float64 { return 30 })
	}
	time.Sleep(3 * time.Second)
	proc.stop()
	pages := ofRule(hook.all(), rule)
	// A copy under the same idempotency key is the at-least-once re-send
	// a receiver drops; a new key is a new page.
	keys := map[string]bool{}
	for _, p := range pages {
		keys[p.key] = true
	}
	msg := fmt.Sprintf("adopted alert after a crash without InfluxDB: sent %d readings; %d pages under %d idempotency keys for %s: %s",
		len(gw.sent), len(pages), len(keys), rule, describe(pages))
	t.Log(msg)
	fmt.Println(msg)
	if len(keys) != 1 || pages[0].ev.Type != alerting.EventFired {
		t.Fatalf("paged %d changes, want the one fired page", len(keys))
	}
}

// TestClockStepBackPages: the gateway's clock runs 100 s fast for 15 s and
// is then corrected (or runs right and is then set 100 s slow); 4 s later
// its gas climbs to 60 %LEL. The step is reported (gateway_clock_skew)
// and the climb pages at level 1.
func TestClockStepBackPages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		before, then time.Duration // the gateway clock's offset before and after the step
	}{
		{"100 s fast for 15 s, then corrected", 100 * time.Second, 0},
		{"right, then set 100 s slow", 0, -100 * time.Second},
	}
	r := newRig(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := t.TempDir()
			reg, regFile := gasRegistry(t, state, 1)
			hook := newPager(t)
			proc := r.newRiskmonProc(t, state, regFile, hook.srv.URL, nil)
			proc.start()
			gw := newGasGateway(t, r.mosq.URL, reg)
			every := func(d time.Duration, skew time.Duration, value func(step int) float64) {
				end := time.Now().Add(d)
				for n := 0; time.Now().Before(end); n++ {
					gw.publish(time.Now().Add(skew), func(int) float64 { return value(n) })
					time.Sleep(250 * time.Millisecond)
				}
			}
			flat := func(int) float64 { return 3 }
			every(3*time.Second, 0, flat)
			every(15*time.Second, tt.before, flat)
			every(4*time.Second, tt.then, flat)
			every(6*time.Second, tt.then, func(n int) float64 { return min(3+float64(n)*5, 60) })
			got := hook.waitPages(15*time.Second, func(ps []page) bool {
				for _, p := range ofRule(ps, "combustible_gas_high") {
					if p.ev.Level == sensors.LevelRed {
						return true
					}
				}
				return false
			})
			steps, _ := proc.metric("riskmon_alert_clock_steps_total")
			ignored, _ := proc.metric("riskmon_alert_out_of_order_total")
			proc.stop()
			gas := ofRule(got, "combustible_gas_high")
			clock := ofRule(got, alerting.RuleClockSkew)
			msg := fmt.Sprintf("gateway clock %s, then gas to 60 %%LEL: sent %d readings; %v ignored as out of order; %v clock steps; paged %d gas (%s), %d clock (%s)",
				tt.name, len(gw.sent), ignored, steps, len(gas), describe(gas), len(clock), describe(clock))
			t.Log(msg)
			fmt.Println(msg)
			red := false
			for _, p := range gas {
				red = red || p.ev.Level == sensors.LevelRed
			}
			if !red {
				t.Error("the climb to 60 %LEL after the clock step was not paged at level 1")
			}
			if len(clock) == 0 || clock[0].ev.Type != alerting.EventFired {
				t.Error("the clock step raised no gateway_clock_skew page")
			}
		})
	}
}

// TestDamagedAlertStoreAtStart: alerts.db is damaged between two runs,
// one record of it or the whole file. riskmon serve starts anyway, pages
// alert_store_damaged, sets the damage aside (the record into quarantine,
// the unreadable file under another name), and a gas reading at 60 %LEL
// still pages.
func TestDamagedAlertStoreAtStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// damage overwrites b as a bad disk would and says how much.
		damage func(t *testing.T, b []byte) ([]byte, string)
		// quarantined: one record set aside in the file; setAside: the
		// whole file renamed alerts.db.damaged-<time>.
		quarantined, setAside bool
	}{
		{"one record", func(t *testing.T, b []byte) ([]byte, string) {
			// Every copy of the stored alert's message, as a bad sector
			// under the record would.
			marker := []byte("(level 2 orange)")
			n := bytes.Count(b, marker)
			if n == 0 {
				t.Fatal("the alert's record is not in alerts.db")
			}
			return bytes.ReplaceAll(b, marker, []byte("(level 2 \x00range)")), fmt.Sprintf("%d copies of a record's bytes overwritten", n)
		}, true, false},
		{"whole file", func(t *testing.T, b []byte) ([]byte, string) {
			// Both meta pages and more: nothing in the file can be read.
			n := min(len(b), 16<<10)
			for i := range n {
				b[i] = 0xA5
			}
			return b, fmt.Sprintf("the first %d bytes overwritten", n)
		}, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			damagedAlertStoreAtStart(t, tc.damage, tc.quarantined, tc.setAside)
		})
	}
}

func damagedAlertStoreAtStart(t *testing.T, damage func(*testing.T, []byte) ([]byte, string), wantQuarantined, wantSetAside bool) {
	r := newRig(t)
	state := t.TempDir()
	reg, regFile := gasRegistry(t, r.dir, 1)
	hook := newPager(t)
	proc := r.newRiskmonProc(t, state, regFile, hook.srv.URL, nil)
	proc.start()
	gw := newGasGateway(t, r.mosq.URL, reg)
	gw.publish(time.Now(), func(int) float64 { return 30 })
	if got := hook.waitPages(20*time.Second, func(ps []page) bool { return len(ofRule(ps, "combustible_gas_high")) == 1 }); len(ofRule(got, "combustible_gas_high")) != 1 {
		t.Fatalf("pages %s, want the gas alert fired", describe(got))
	}
	proc.stop()

	path := filepath.Join(state, "alerts.db")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, how := damage(t, b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	before := len(hook.all())
	proc.start()
	gw.publish(time.Now(), func(int) float64 { return 60 })
	got := hook.waitPages(20*time.Second, func(ps []page) bool {
		return len(ofRule(ps[before:], alerting.RuleStoreDamaged)) > 0 && len(ofRule(ps[before:], "combustible_gas_high")) > 0
	})[before:]
	quarantined, _ := proc.metric("riskmon_alert_store_quarantined_total")
	proc.stop()
	aside, _ := filepath.Glob(path + ".damaged-*")
	msg := fmt.Sprintf("alerts.db damaged (%s): riskmon started; %v entries set aside, %d files set aside; paged after the start: %s",
		how, quarantined, len(aside), describe(got))
	t.Log(msg)
	fmt.Println(msg)
	if wantQuarantined && quarantined < 1 {
		t.Error("nothing counted as set aside")
	}
	if wantSetAside && len(aside) != 1 {
		t.Errorf("%d damaged files set aside, want the one", len(aside))
	}
	if len(ofRule(got, alerting.RuleStoreDamaged)) == 0 {
		t.Error("no alert_store_damaged page")
	}
	red := false
	for _, p := range ofRule(got, "combustible_gas_high") {
		red = red || p.ev.Level == sensors.LevelRed
	}
	if !red {
		t.Error("a reading at 60 %LEL after the damaged start was not paged at level 1")
	}
}

// TestKillAtNotification kills riskmon with SIGKILL while a page is in
// flight: the receiver has the request and has not answered. The page is
// sent again after the restart under the same idempotency key, riskmon
// counts each such re-send, and no transition is lost.
func TestKillAtNotification(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	state := t.TempDir()
	reg, regFile := gasRegistry(t, r.dir, 4)
	hook := newPager(t)
	// The receiver holds each answer back, and says when a page arrived,
	// so the kill lands while the request is in flight.
	arrived := make(chan struct{}, 1)
	inner := hook.srv.Config.Handler
	hook.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		time.Sleep(300 * time.Millisecond)
		inner.ServeHTTP(w, req)
	})
	proc := r.newRiskmonProc(t, state, regFile, hook.srv.URL, nil)
	proc.start()
	gw := newGasGateway(t, r.mosq.URL, reg)

	levels := [...]float64{3, 27, 60, 27}
	stop := make(chan struct{})
	published := make(chan struct{})
	go func() {
		defer close(published)
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			gw.publish(time.Now(), func(i int) float64 { return levels[((n+i*7)/10)%len(levels)] })
			time.Sleep(100 * time.Millisecond)
		}
	}()
	var resent float64
	kills := 0
	for kills < 8 {
		select {
		case <-arrived:
		case <-time.After(30 * time.Second):
			t.Fatal("no page arrived")
		}
		if v, ok := proc.metric("riskmon_notifications_resent_total"); ok {
			resent += v
		}
		proc.kill()
		kills++
		proc.start()
		// Let the re-send and some new transitions through before the
		// next kill, then wait for a page arriving afresh.
		time.Sleep(1500 * time.Millisecond)
		select {
		case <-arrived:
		default:
		}
	}
	close(stop)
	<-published
	time.Sleep(5 * time.Second)
	if v, ok := proc.metric("riskmon_notifications_resent_total"); ok {
		resent += v
	}
	proc.stop()

	const rule = "combustible_gas_high"
	want := reference(t, proc.conf, reg, gw.sent, rule)
	byKey := map[string]int{}
	for _, p := range hook.all() {
		if p.ev.Rule == rule {
			byKey[p.key]++
		}
	}
	var lost []string
	for _, ev := range want {
		if byKey[ev.IdempotencyKey()] == 0 {
			lost = append(lost, fmt.Sprintf("%s %s %s at %s", ev.Sensor, ev.Type, ev.Level, ev.At.Format("15:04:05.000")))
		}
	}
	copies := 0
	for _, n := range byKey {
		copies += n - 1
	}
	msg := fmt.Sprintf("riskmon killed %d times with a page in flight: sent %d readings; %d transitions expected; %d paged under %d keys; %d copies under a key already paged; %d re-sends counted by riskmon; %d never paged",
		kills, len(gw.sent), len(want), copies+len(byKey), len(byKey), copies, int(resent), len(lost))
	t.Log(msg)
	fmt.Println(msg)
	if len(lost) > 0 {
		t.Errorf("transitions never paged: %v", lost)
	}
	if copies == 0 {
		t.Error("no page was sent twice: the kills missed the in-flight window, so the test shows nothing")
	}
	// Every copy the receiver saw is one riskmon counted (the receiver may
	// see fewer than counted: a request cut before it arrived).
	if int(resent) < copies {
		t.Errorf("riskmon counted %v re-sends, the receiver saw %d copies", resent, copies)
	}
}
