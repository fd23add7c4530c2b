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
	s := &single{o: o, out: out, log: log, dir: dir, lat: &latencies{sent: map[int64]time.Time{}}}
	defer s.stop()
	if err := s.startServers(ctx); err != nil {
		return err
	}
	if err := s.startService(ctx); err != nil {
		return err
	}
	if err := s.watchAlerts(); err != nil {
		return err
	}
	f, err := s.measure(ctx)
	if err != nil {
		return err
	}
	writeSingle(out, f)
	if lost := f.lost(); lost != 0 {
		return fmt.Errorf("%d readings lost", lost)
	}
	return nil
}

// single is one load run's processes and what it measures with, in the
// order Run starts them.
type single struct {
	o   Options
	out io.Writer
	log *slog.Logger
	dir string

	influx     *influxproc.Server
	influxOpts influxproc.Options
	brokerURL  string
	brokerName string

	fleet     simulator.Fleet // the load's, without the probe
	probeSite string
	sensors   int // with the probe
	svc       *exec.Cmd
	svcExited chan error
	base      string // riskmon's HTTP root
	lat       *latencies

	stops []func() // undone in reverse order by stop
}

func (s *single) stop() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
}

// startServers starts InfluxDB and the broker.
func (s *single) startServers(ctx context.Context) error {
	s.influxOpts = influxproc.Options{Dir: filepath.Join(s.dir, "influxdb"), Database: "riskmon"}
	var err error
	if s.influx, err = influxproc.Start(ctx, s.influxOpts); err != nil {
		return err
	}
	// s.influx, not the one started here: a replay run restarts it, and
	// leaves none when the restart fails.
	s.stops = append(s.stops, func() {
		if s.influx != nil {
			s.influx.Stop()
		}
	})
	s.influxOpts.Port = s.influx.Port()
	url, name, stopBroker, err := benchBroker(s.o.BrokerKind, s.dir, s.o.BrokerSavesOnChange)
	if err != nil {
		return err
	}
	s.brokerURL, s.brokerName = url, name
	s.stops = append(s.stops, stopBroker)
	return nil
}

// startService writes the fleet's registry and a configuration, starts
// 'riskmon serve' on them and waits until it is ready.
func (s *single) startService(ctx context.Context) error {
	// The load fleet, plus one probe detector on its own gateway whose
	// alarms measure latency without disturbing the load's values.
	s.fleet = simulator.SyntheticFleet(s.o.Sites, s.o.PerSite)
	s.probeSite = s.fleet.Sites[0].ID
	reg, err := withProbe(s.fleet).Registry(sensors.DefaultCatalog())
	if err != nil {
		return err
	}
	s.sensors = reg.Len()
	if err := reg.WriteYAMLFile(filepath.Join(s.dir, "fleet.yaml")); err != nil {
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
`, httpPort, s.brokerURL, s.influx.URL)
	confPath := filepath.Join(s.dir, "riskmon.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	svcLog, err := os.Create(filepath.Join(s.dir, "riskmon.log"))
	if err != nil {
		return err
	}
	s.stops = append(s.stops, func() { svcLog.Close() })
	s.svc = exec.Command(s.o.Exe, "serve", "--config", confPath)
	s.svc.Stdout, s.svc.Stderr = svcLog, svcLog
	s.svc.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.svc.Start(); err != nil {
		return err
	}
	s.svcExited = make(chan error, 1)
	go func() { s.svcExited <- s.svc.Wait() }()
	s.stops = append(s.stops, func() {
		_ = s.svc.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.svcExited:
		case <-time.After(30 * time.Second):
			_ = s.svc.Process.Kill()
		}
	})
	s.base = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	return waitHTTP(ctx, s.base+"/readyz", 30*time.Second, s.svcExited)
}

// withProbe is f plus one probe detector at its first site, on a gateway
// of its own, whose alarms measure latency without disturbing the load's
// values.
func withProbe(f simulator.Fleet) simulator.Fleet {
	f.Sensors = append(slices.Clone(f.Sensors), sensors.Sensor{ID: probeSensor, Site: f.Sites[0].ID, Kind: "combustible_gas", Gateway: "probe"})
	return f
}

// watchAlerts subscribes to riskmon's MQTT notifications and takes the
// probe's for the latencies.
func (s *single) watchAlerts() error {
	stop, err := watchProbeAlerts(s.brokerURL, s.lat)
	if err != nil {
		return err
	}
	s.stops = append(s.stops, stop)
	return nil
}

// watchProbeAlerts subscribes to riskmon's MQTT notifications at broker
// and times the probe's into lat until stop is called.
func watchProbeAlerts(broker string, lat *latencies) (stop func(), err error) {
	watcher := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("bench-alert-watcher"))
	if tok := watcher.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("alert watcher: %v", tok.Error())
	}
	if tok := watcher.Subscribe("riskmon/v1/alerts/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		var ev alerting.Event
		if json.Unmarshal(m.Payload(), &ev) == nil && ev.Sensor == probeSensor {
			lat.received(ev.At.UnixMilli(), time.Now())
		}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		watcher.Disconnect(100)
		return nil, fmt.Errorf("alert watcher subscribe: %v", tok.Error())
	}
	return func() { watcher.Disconnect(100) }, nil
}

// measure publishes the load beside the probe, waits until riskmon has
// written it all (after the spool's replay, for a replay run) and
// gathers the figures.
func (s *single) measure(ctx context.Context) (singleFigures, error) {
	var f singleFigures
	load, err := simulator.NewLoad(simulator.LoadOptions{Broker: s.brokerURL, Fleet: s.fleet, Gateways: s.o.Gateways,
		BatchSize: s.o.Batch, MaxInFlight: s.o.MaxInFlight, Readings: s.o.Readings, Seed: 1, Logger: s.log})
	if err != nil {
		return f, err
	}
	pid := s.svc.Process.Pid
	cpu0, err := procstat.CPU(pid)
	if err != nil {
		return f, err
	}
	written0, err := scrapeCounter(s.base+"/metrics", "riskmon_ingest_readings_written_total")
	if err != nil {
		return f, err
	}
	fmt.Fprintf(s.out, "bench: %d readings, %d gateways x batches of %d, broker %s, %d sensors\n", s.o.Readings, s.o.Gateways, s.o.Batch, s.brokerName, s.sensors)
	if s.o.Replay {
		// Everything published now waits in the spool.
		if err := s.influx.Stop(); err != nil {
			return f, err
		}
	}
	probeCtx, stopProbe := context.WithCancel(ctx)
	probeDone := make(chan int64, 1)
	go func() { probeDone <- runProbe(probeCtx, s.brokerURL, s.probeSite, s.o.ProbeEvery, s.lat) }()

	start := time.Now()
	res, lerr := load.Run(ctx)
	f.publishTime = time.Since(start)
	stopProbe()
	f.probes = <-probeDone
	if lerr != nil {
		return f, fmt.Errorf("load: %w", lerr)
	}
	f.published, f.replay = res.Readings, s.o.Replay
	if s.o.Replay {
		if f.replayed, f.replayCPU, err = s.replay(ctx, start, f, res.Messages, written0); err != nil {
			return f, err
		}
	}
	if f.landed, err = s.waitLanded(start, f, written0); err != nil {
		return f, err
	}
	return f, s.finish(ctx, &f, start, cpu0)
}

// replay waits until riskmon has acknowledged everything (it is all in
// the spool), then brings InfluxDB back and times the replay and its CPU.
func (s *single) replay(ctx context.Context, start time.Time, f singleFigures, messages int64, written0 float64) (took, cpu time.Duration, err error) {
	for {
		a, err := scrapeCounter(s.base+"/metrics", "riskmon_ingest_messages_acked_total")
		if err != nil {
			return 0, 0, err
		}
		if a >= float64(messages+f.probes) {
			break
		}
		if time.Since(start) > f.publishTime+2*time.Minute {
			return 0, 0, fmt.Errorf("only %.0f messages acknowledged while InfluxDB was down", a)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cpuIdle, err := procstat.CPU(s.svc.Process.Pid)
	if err != nil {
		return 0, 0, err
	}
	if s.influx, err = influxproc.Start(ctx, s.influxOpts); err != nil {
		return 0, 0, err
	}
	replayStart := time.Now()
	for {
		w, err := scrapeCounter(s.base+"/metrics", "riskmon_ingest_readings_written_total")
		if err != nil {
			return 0, 0, err
		}
		if w-written0 >= f.want() {
			took = time.Since(replayStart)
			break
		}
		if time.Since(replayStart) > 5*time.Minute {
			return 0, 0, fmt.Errorf("replay stalled at %.0f of %.0f readings", w-written0, f.want())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cpuDone, err := procstat.CPU(s.svc.Process.Pid)
	if err != nil {
		return 0, 0, err
	}
	return took, cpuDone - cpuIdle, nil
}

// waitLanded waits until riskmon's written counter reaches everything
// published and returns how long that took from the load's start.
func (s *single) waitLanded(start time.Time, f singleFigures, written0 float64) (time.Duration, error) {
	for {
		w, err := scrapeCounter(s.base+"/metrics", "riskmon_ingest_readings_written_total")
		if err != nil {
			return 0, err
		}
		if w-written0 >= f.want() {
			return time.Since(start), nil
		}
		if time.Since(start) > f.publishTime+2*time.Minute {
			return 0, fmt.Errorf("only %.0f of %.0f readings written two minutes after the load ended", w-written0, f.want())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// finish reads riskmon's CPU and peak memory, the probe latencies and
// what InfluxDB holds into f.
func (s *single) finish(ctx context.Context, f *singleFigures, start time.Time, cpu0 time.Duration) error {
	cpu1, err := procstat.CPU(s.svc.Process.Pid)
	if err != nil {
		return err
	}
	if f.rss, err = procstat.PeakRSS(s.svc.Process.Pid); err != nil {
		return err
	}
	f.cpu = cpu1 - cpu0
	time.Sleep(500 * time.Millisecond) // last probe notifications
	inf := storage.New(storage.Options{URL: s.influx.URL, Bucket: "riskmon"})
	defer inf.Close()
	if f.stored, err = inf.CountReadings(ctx, start.Add(-time.Minute), time.Now().Add(time.Minute)); err != nil {
		return err
	}
	f.p50, f.p99, f.alerts = s.lat.percentiles()
	return nil
}

// singleFigures is what one load run measured.
type singleFigures struct {
	published   int64         // load readings acknowledged by the broker
	probes      int64         // probe readings
	publishTime time.Duration // from the first publish to the last
	landed      time.Duration // from the first publish until all was written
	stored      int64         // readings InfluxDB holds, by query
	cpu         time.Duration // riskmon's, over the whole run
	rss         int64         // riskmon's peak, bytes
	p50, p99    time.Duration // publish to MQTT notification
	alerts      int           // probe alerts timed

	replay              bool
	replayed, replayCPU time.Duration // the spool's replay: time and riskmon's CPU
}

// want is every reading published, the probe's included.
func (f singleFigures) want() float64 { return float64(f.published + f.probes) }

func (f singleFigures) lost() int64 { return int64(f.want()) - f.stored }

// writeSingle prints a load run's figures.
func writeSingle(out io.Writer, f singleFigures) {
	want := f.want()
	fmt.Fprintf(out, `
readings published     %d in %s (%.0f readings/s offered)
readings landed        %d in InfluxDB (counted by query; %d expected incl. %d probe readings)
landed rate            %.0f readings/s
riskmon CPU            %s total, %.2f CPU-µs per reading
riskmon peak RSS       %.1f MiB
alert latency          p50 %s, p99 %s (publish -> MQTT notification, %d probe alerts)
lost                   %d
`, f.published, f.publishTime.Round(time.Millisecond), float64(f.published)/f.publishTime.Seconds(),
		f.stored, int64(want), f.probes, want/f.landed.Seconds(), f.cpu.Round(time.Millisecond),
		float64(f.cpu.Microseconds())/want, float64(f.rss)/(1<<20), f.p50, f.p99, f.alerts, f.lost())
	if f.replay {
		fmt.Fprintf(out, "spool replay           %.0f readings in %s: %.0f readings/s, %.2f CPU-µs per reading\n",
			want, f.replayed.Round(time.Millisecond), want/f.replayed.Seconds(), float64(f.replayCPU.Microseconds())/want)
	}
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

// writeFile writes each timed alert's latency in milliseconds, one a line,
// in the order they arrived: a run's spikes show where in it they fell.
func (l *latencies) writeFile(path string) error {
	l.mu.Lock()
	var b []byte
	for _, d := range l.got {
		b = strconv.AppendFloat(b, float64(d)/float64(time.Millisecond), 'f', 2, 64)
		b = append(b, '\n')
	}
	l.mu.Unlock()
	return os.WriteFile(path, b, 0o644)
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
