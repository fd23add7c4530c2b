package faults

import (
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
	"sync"
	"testing"
	"time"

	"github.com/riskmon/riskmon/ingest"
	"github.com/riskmon/riskmon/internal/app"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/internal/influxproc"
	"github.com/riskmon/riskmon/internal/mosquittoproc"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/simulator"
	"github.com/riskmon/riskmon/storage"
)

// riskmonBin is the riskmon binary built once for the tests that run it as
// a separate process.
var riskmonBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "riskmon-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	riskmonBin = filepath.Join(dir, "riskmon")
	if !testingShort() {
		// Without the profile (cmd/riskmon/default.pgo): it changes only what
		// the compiler inlines, and the packages then come from the cache the
		// other tests' builds filled instead of being compiled again.
		out, err := exec.Command("go", "build", "-pgo=off", "-o", riskmonBin, "github.com/riskmon/riskmon/cmd/riskmon").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build riskmon: %v\n%s", err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func testingShort() bool {
	for _, a := range os.Args {
		if a == "-test.short=true" || a == "-test.short" {
			return true
		}
	}
	return false
}

// rig is a real InfluxDB and a real Mosquitto that a test may kill and
// restart on the same ports and folders, and a synthetic fleet.
type rig struct {
	t          *testing.T
	dir        string
	influx     *influxproc.Server
	influxPort int
	mosq       *mosquittoproc.Server
	fleet      simulator.Fleet
	reg        *sensors.Registry
	regFile    string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped under -short: runs real servers")
	}
	r := &rig{t: t, dir: t.TempDir()}
	r.startInflux()
	r.startMosquitto(0)
	t.Cleanup(func() {
		r.mosq.Stop()
		_ = r.influx.Stop()
	})
	r.fleet = simulator.SyntheticFleet(5, 100)
	reg, err := r.fleet.Registry(sensors.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	r.reg = reg
	r.regFile = filepath.Join(r.dir, "fleet.yaml")
	f, err := os.Create(r.regFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.WriteYAML(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return r
}

func (r *rig) startInflux() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s, err := influxproc.Start(ctx, influxproc.Options{Dir: filepath.Join(r.dir, "influxdb"), Port: r.influxPort, Database: "riskmon"})
	if err != nil {
		r.t.Fatalf("influxd: %v", err)
	}
	r.influx, r.influxPort = s, s.Port()
}

func (r *rig) startMosquitto(port int) {
	r.t.Helper()
	dir := filepath.Join(r.dir, "mosquitto")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.t.Fatal(err)
	}
	var err error
	if port == 0 {
		r.mosq, err = mosquittoproc.Start(dir, nil)
	} else {
		// The old process may still hold the port for a moment.
		for range 50 {
			if r.mosq, err = mosquittoproc.StartOn(dir, port, nil); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err != nil {
		r.t.Fatalf("mosquitto: %v", err)
	}
}

func (r *rig) config(stateDir string) config.Config {
	cfg := config.Default()
	cfg.StateDir = stateDir
	cfg.Registry = r.regFile
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.MQTT.Broker = r.mosq.URL
	cfg.MQTT.ClientID = "riskmon-faults"
	cfg.InfluxDB.URL = fmt.Sprintf("http://127.0.0.1:%d", r.influxPort)
	cfg.Writer.RetryMax = time.Second
	f := false
	cfg.Alerting.Notify.Log = &f
	cfg.Alerting.Notify.MQTT = &f
	return cfg
}

// service runs riskmon in this process until the returned stop is called.
func (r *rig) service(cfg config.Config) (*app.Service, func()) {
	r.t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	svc, err := app.New(cfg, r.reg, log)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				r.t.Errorf("service: %v", err)
			}
		})
	}
	r.t.Cleanup(stop)
	// Subscribed before anything is published: a message sent before the
	// service's first subscription has no session to wait in.
	deadline := time.Now().Add(30 * time.Second)
	for !svc.Connected() {
		if time.Now().After(deadline) {
			r.t.Fatal("service did not connect to the broker")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return svc, stop
}

// run is one paced publishing run of the rig's fleet.
type run struct {
	start time.Time
	stats simulator.Stats
	err   error
	done  chan struct{}
}

// publish sends total readings at about rate readings a second, with
// device time running in the past so no limit rejects them.
func (r *rig) publish(total, rate int, malformed int) *run {
	speed := float64(rate) / float64(r.reg.Len())
	span := time.Duration(float64(total)/float64(r.reg.Len())) * time.Second
	ru := &run{start: time.Now().Add(-2 * span).Add(-time.Minute).Truncate(time.Second), done: make(chan struct{})}
	pub, err := simulator.NewPublisher(simulator.Options{Broker: r.mosq.URL, Fleet: r.fleet, Interval: time.Second,
		Speed: speed, MaxReadings: total, Malformed: malformed, Seed: 3, Start: ru.start, PublishTimeout: 60 * time.Second})
	if err != nil {
		r.t.Fatal(err)
	}
	go func() {
		defer close(ru.done)
		ru.stats, ru.err = pub.Run(context.Background())
	}()
	return ru
}

func (ru *run) wait(t *testing.T) simulator.Stats {
	t.Helper()
	select {
	case <-ru.done:
	case <-time.After(3 * time.Minute):
		t.Fatal("publisher did not finish")
	}
	if ru.err != nil {
		t.Fatalf("publisher: %v", ru.err)
	}
	return ru.stats
}

// landed counts the readings of a run in InfluxDB, waiting until the
// count reaches want or stops growing for a while.
func (r *rig) landed(ru *run, want int64, limit time.Duration) int64 {
	r.t.Helper()
	inf := storage.New(storage.Options{URL: fmt.Sprintf("http://127.0.0.1:%d", r.influxPort), Bucket: "riskmon"})
	defer inf.Close()
	deadline := time.Now().Add(limit)
	var n, last int64
	still := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		got, err := inf.CountReadings(ctx, ru.start.Add(-time.Minute), time.Now().Add(time.Minute))
		cancel()
		if err == nil {
			n = got
		}
		if n >= want || time.Now().After(deadline) {
			return n
		}
		// Stop waiting once the count has not moved for a while.
		if n == last {
			if still++; still > 30 {
				return n
			}
		} else {
			last, still = n, 0
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// report prints what a fault test sent and what landed.
func report(t *testing.T, name string, st simulator.Stats, landed int64, extra string) {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s: published %d readings in %d messages (+%d malformed, %d publish retries); landed %d; lost %d",
		name, st.Readings, st.Messages, st.Malformed, st.Failed, landed, st.Readings-landed)
	if extra != "" {
		fmt.Fprintf(&b, "; %s", extra)
	}
	t.Log(b.String())
	fmt.Println(b.String())
}

// missing logs the device seconds of a run that hold fewer readings than
// the fleet has sensors, to show which messages were lost.
func (r *rig) missing(ru *run) {
	r.t.Helper()
	q := url.Values{"db": {"riskmon"}, "q": {fmt.Sprintf("SELECT count(value) FROM reading WHERE time >= %dms GROUP BY time(1s), site", ru.start.UnixMilli())}}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/query?%s", r.influxPort, q.Encode()))
	if err != nil {
		r.t.Log(err)
		return
	}
	defer resp.Body.Close()
	var out struct {
		Results []struct {
			Series []struct {
				Tags   map[string]string
				Values [][]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		r.t.Log(err)
		return
	}
	for _, res := range out.Results {
		for _, s := range res.Series {
			for _, v := range s.Values {
				if c, ok := v[1].(float64); ok && c > 0 && c < 100 {
					r.t.Logf("site %s second %v: %v readings", s.Tags["site"], v[0], c)
				}
			}
		}
	}
}

func svcRejected(svc *app.Service, r ingest.Reason) float64 {
	return svc.Stats().RejectedBy[r]
}
