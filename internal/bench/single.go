// Package bench runs riskmon end to end under load, on real processes:
// InfluxDB 1.8, Mosquitto and 'riskmon serve' as children, driven by the
// simulator, and measures what lands, what each process costs and how
// long an alarm takes to page. Compare runs Telegraf beside it on the
// same load.
package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/internal/broker"
	"github.com/riskmon/riskmon/internal/influxproc"
	"github.com/riskmon/riskmon/internal/mosquittoproc"
	"github.com/riskmon/riskmon/internal/procstat"
	"github.com/riskmon/riskmon/protocol"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/simulator"
	"github.com/riskmon/riskmon/storage"
)

// Options configure one load run of riskmon alone.
type Options struct {
	// Exe is the riskmon binary started as 'riskmon serve'.
	Exe         string
	StateDir    string
	Readings    int64
	BrokerKind  string
	Sites       int
	PerSite     int
	Gateways    int
	Batch       int
	MaxInFlight int
	ProbeEvery  time.Duration
	Replay      bool
	// BrokerSavesOnChange: see CompareOptions.
	BrokerSavesOnChange bool
}

const probeSensor = "PROBE-1"

// Run is one load run: riskmon's landed rate, its CPU per reading and
// peak memory, and the probe alarms' publish-to-notification latency.
func Run(ctx context.Context, out io.Writer, log *slog.Logger, o Options) error {
	dir, err := filepath.Abs(o.StateDir)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}

	influxOpts := influxproc.Options{Dir: filepath.Join(dir, "influxdb"), Database: "riskmon"}
	influx, err := influxproc.Start(ctx, influxOpts)
	if err != nil {
		return err
	}
	defer func() { influx.Stop() }()
	influxOpts.Port = influx.Port()

	brokerURL, brokerName, stopBroker, err := benchBroker(o.BrokerKind, dir, o.BrokerSavesOnChange)
	if err != nil {
		return err
	}
	defer stopBroker()

	// The load fleet, plus one probe detector on its own gateway whose
	// alarms measure latency without disturbing the load's values.
	fleet := simulator.SyntheticFleet(o.Sites, o.PerSite)
	probeSite := fleet.Sites[0].ID
	withProbe := fleet
	withProbe.Sensors = append(slices.Clone(fleet.Sensors), sensors.Sensor{ID: probeSensor, Site: probeSite, Kind: "combustible_gas", Gateway: "probe"})
	reg, err := withProbe.Registry(sensors.DefaultCatalog())
	if err != nil {
		return err
	}
	if err := reg.WriteYAMLFile(filepath.Join(dir, "fleet.yaml")); err != nil {
		return err
	}
	httpPort, err := influxproc.FreePort()
	if err != nil {
		return err
	}
	conf := fmt.Sprintf(`log_level: warn
state_dir: state
registry: fleet.yaml
http: {listen: "127.0.0.1:%d"}
mqtt: {broker: %q, client_id: riskmon-bench}
influxdb: {url: %q, bucket: riskmon}
alerting: {notify: {log: false, mqtt: true}}
`, httpPort, brokerURL, influx.URL)
	confPath := filepath.Join(dir, "riskmon.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}

	svcLog, err := os.Create(filepath.Join(dir, "riskmon.log"))
	if err != nil {
		return err
	}
	defer svcLog.Close()
	svc := exec.Command(o.Exe, "serve", "--config", confPath)
	svc.Stdout, svc.Stderr = svcLog, svcLog
	svc.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := svc.Start(); err != nil {
		return err
	}
	svcExited := make(chan error, 1)
	go func() { svcExited <- svc.Wait() }()
	defer func() {
		_ = svc.Process.Signal(syscall.SIGTERM)
		select {
		case <-svcExited:
		case <-time.After(30 * time.Second):
			_ = svc.Process.Kill()
		}
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	if err := waitHTTP(ctx, base+"/readyz", 30*time.Second, svcExited); err != nil {
		return err
	}

	// Alert receiver: probe notifications over MQTT.
	lat := &latencies{sent: map[int64]time.Time{}}
	watcher := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID("bench-alert-watcher"))
	if tok := watcher.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fmt.Errorf("alert watcher: %v", tok.Error())
	}
	defer watcher.Disconnect(100)
	if tok := watcher.Subscribe("riskmon/v1/alerts/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		var ev alerting.Event
		if json.Unmarshal(m.Payload(), &ev) == nil && ev.Sensor == probeSensor {
			lat.received(ev.At.UnixMilli(), time.Now())
		}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fmt.Errorf("alert watcher subscribe: %v", tok.Error())
	}

	load, err := simulator.NewLoad(simulator.LoadOptions{Broker: brokerURL, Fleet: fleet, Gateways: o.Gateways,
		BatchSize: o.Batch, MaxInFlight: o.MaxInFlight, Readings: o.Readings, Seed: 1, Logger: log})
	if err != nil {
		return err
	}
	cpu0, err := procstat.CPU(svc.Process.Pid)
	if err != nil {
		return err
	}
	written0, err := scrapeCounter(base+"/metrics", "riskmon_ingest_readings_written_total")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "bench: %d readings, %d gateways x batches of %d, broker %s, %d sensors\n", o.Readings, o.Gateways, o.Batch, brokerName, reg.Len())

	if o.Replay {
		// Everything published now waits in the spool.
		if err := influx.Stop(); err != nil {
			return err
		}
	}
	probeCtx, stopProbe := context.WithCancel(ctx)
	probeDone := make(chan int64, 1)
	go func() { probeDone <- runProbe(probeCtx, brokerURL, probeSite, o.ProbeEvery, lat) }()

	start := time.Now()
	res, lerr := load.Run(ctx)
	published := time.Since(start)
	stopProbe()
	probes := <-probeDone
	if lerr != nil {
		return fmt.Errorf("load: %w", lerr)
	}

	want := float64(res.Readings + probes)
	var replayed time.Duration
	var replayCPU time.Duration
	if o.Replay {
		// Wait until riskmon has acknowledged everything (it is all in
		// the spool), then bring InfluxDB back and time the replay.
		for {
			a, err := scrapeCounter(base+"/metrics", "riskmon_ingest_messages_acked_total")
			if err != nil {
				return err
			}
			if a >= float64(res.Messages+probes) {
				break
			}
			if time.Since(start) > published+2*time.Minute {
				return fmt.Errorf("only %.0f messages acknowledged while InfluxDB was down", a)
			}
			time.Sleep(20 * time.Millisecond)
		}
		cpuIdle, err := procstat.CPU(svc.Process.Pid)
		if err != nil {
			return err
		}
		if influx, err = influxproc.Start(ctx, influxOpts); err != nil {
			return err
		}
		replayStart := time.Now()
		for {
			w, err := scrapeCounter(base+"/metrics", "riskmon_ingest_readings_written_total")
			if err != nil {
				return err
			}
			if w-written0 >= want {
				replayed = time.Since(replayStart)
				break
			}
			if time.Since(replayStart) > 5*time.Minute {
				return fmt.Errorf("replay stalled at %.0f of %.0f readings", w-written0, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
		cpuDone, err := procstat.CPU(svc.Process.Pid)
		if err != nil {
			return err
		}
		replayCPU = cpuDone - cpuIdle
	}

	// Landed: riskmon's written counter reaches everything published.
	var landed time.Duration
	for {
		w, err := scrapeCounter(base+"/metrics", "riskmon_ingest_readings_written_total")
		if err != nil {
			return err
		}
		if w-written0 >= want {
			landed = time.Since(start)
			break
		}
		if time.Since(start) > published+2*time.Minute {
			return fmt.Errorf("only %.0f of %.0f readings written two minutes after the load ended", w-written0, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cpu1, err := procstat.CPU(svc.Process.Pid)
	if err != nil {
		return err
	}
	rss, err := procstat.PeakRSS(svc.Process.Pid)
	if err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond) // last probe notifications
	inf := storage.New(storage.Options{URL: influx.URL, Bucket: "riskmon"})
	defer inf.Close()
	stored, err := inf.CountReadings(ctx, start.Add(-time.Minute), time.Now().Add(time.Minute))
	if err != nil {
		return err
	}
	p50, p99, n := lat.percentiles()
	cpu := cpu1 - cpu0
	fmt.Fprintf(out, `
readings published     %d in %s (%.0f readings/s offered)
readings landed        %d in InfluxDB (counted by query; %d expected incl. %d probe readings)
landed rate            %.0f readings/s
riskmon CPU            %s total, %.2f CPU-µs per reading
riskmon peak RSS       %.1f MiB
alert latency          p50 %s, p99 %s (publish -> MQTT notification, %d probe alerts)
lost                   %d
`, res.Readings, published.Round(time.Millisecond), float64(res.Readings)/published.Seconds(),
		stored, int64(want), probes, want/landed.Seconds(), cpu.Round(time.Millisecond),
		float64(cpu.Microseconds())/want, float64(rss)/(1<<20), p50, p99, n, int64(want)-stored)
	if o.Replay {
		fmt.Fprintf(out, "spool replay           %.0f readings in %s: %.0f readings/s, %.2f CPU-µs per reading\n",
			want, replayed.Round(time.Millisecond), want/replayed.Seconds(), float64(replayCPU.Microseconds())/want)
	}
	if stored != int64(want) {
		return fmt.Errorf("%d readings lost", int64(want)-stored)
	}
	return nil
}

func benchBroker(kind, dir string, saveOnChange bool) (url, name string, stop func(), err error) {
	if kind == "auto" {
		kind = "embedded"
		if _, err := mosquittoproc.FindBinary(); err == nil {
			kind = "mosquitto"
		}
	}
	switch kind {
	case "mosquitto":
		d := filepath.Join(dir, "mosquitto")
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", "", nil, err
		}
		autosave, saves := brokerSave(saveOnChange)
		s, err := mosquittoproc.StartWith(d, 0, autosave, nil)
		if err != nil {
			return "", "", nil, err
		}
		return s.URL, "mosquitto (tuned, " + saves + ")", s.Stop, nil
	case "embedded":
		b, err := broker.Start(broker.Options{})
		if err != nil {
			return "", "", nil, err
		}
		return b.URL(), "embedded", func() { b.Close() }, nil
	}
	return "", "", nil, fmt.Errorf("--broker %q: want mosquitto, embedded or auto", kind)
}

// runProbe alternates the probe detector between alarm (30 %LEL) and
// normal (2 %LEL) so each message raises or resolves an alert; the device
// time of each message identifies it in the notification.
func runProbe(ctx context.Context, brokerURL, site string, every time.Duration, lat *latencies) int64 {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID("bench-probe"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return 0
	}
	defer c.Disconnect(100)
	topic := protocol.ReadingsTopic(site, "probe")
	t := time.NewTicker(every)
	defer t.Stop()
	var n int64
	last := int64(0)
	for {
		select {
		case <-ctx.Done():
			return n
		case <-t.C:
		}
		now := time.Now()
		ms := max(now.UnixMilli(), last+1)
		last = ms
		v := 2.0
		if n%2 == 0 {
			v = 30
		}
		payload := fmt.Sprintf(`{"ts":%d,"seq":%d,"readings":[{"sensor":%q,"value":%g}]}`, ms, n+1, probeSensor, v)
		lat.sentAt(ms, now)
		tok := c.Publish(topic, 1, false, payload)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			continue
		}
		n++
	}
}

type latencies struct {
	mu   sync.Mutex
	sent map[int64]time.Time
	got  []time.Duration
}

func (l *latencies) sentAt(ms int64, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent[ms] = t
}

func (l *latencies) received(ms int64, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.sent[ms]; ok {
		l.got = append(l.got, t.Sub(s))
		delete(l.sent, ms)
	}
}

func (l *latencies) percentiles() (p50, p99 time.Duration, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.got) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(l.got)
	slices.Sort(s)
	at := func(q float64) time.Duration {
		return s[min(len(s)-1, int(q*float64(len(s))))].Round(10 * time.Microsecond)
	}
	return at(0.50), at(0.99), len(s)
}

func waitHTTP(ctx context.Context, url string, limit time.Duration, exited <-chan error) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("riskmon serve exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("riskmon serve not ready at " + url)
}

// scrapeCounter reads one unlabelled counter from a Prometheus text page.
func scrapeCounter(url, name string) (float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found at %s", name, url)
}
