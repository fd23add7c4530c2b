package bench

import (
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
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/riskmon/riskmon/internal/influxproc"
	"github.com/riskmon/riskmon/internal/mosquittoproc"
	"github.com/riskmon/riskmon/internal/procstat"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/simulator"
	"github.com/riskmon/riskmon/storage"
)

// Collector names.
const (
	Riskmon  = "riskmon"
	Telegraf = "telegraf"
)

// CompareOptions configure a comparison of riskmon and Telegraf on the
// same load.
type CompareOptions struct {
	RiskmonExe, TelegrafExe string
	StateDir                string
	// Sites and PerSite size the fleet: every sensor a series.
	Sites, PerSite int
	// Publishers is the number of publishing connections, each carrying
	// a share of the gateways; Batch readings per message; MaxInFlight
	// unacknowledged publishes per connection.
	Publishers, Batch, MaxInFlight int
	// Readings per saturating run, and Pairs of runs (riskmon, then
	// Telegraf) whose medians are reported.
	Readings int64
	Pairs    int
	// Rate, when positive, adds a run per collector at this fixed
	// offered rate of Readings readings.
	Rate float64
	// OutageRate readings/s for OutageLoad while InfluxDB is killed for
	// Outage; zero Outage leaves the outage runs out.
	OutageRate float64
	OutageLoad time.Duration
	Outage     time.Duration
	// Idle is how long idle and low-rate CPU are sampled; LowRate is
	// the low rate (readings/s). Zero Idle leaves them out.
	Idle    time.Duration
	LowRate float64
	// BrokerSavesOnChange runs Mosquitto with the shipped persistence
	// schedule, saving its database in every loop pass that queued a
	// message; otherwise it saves on a timer (see brokerSave).
	BrokerSavesOnChange bool
	// ProfileDir, when set, receives a CPU profile of ProfileFor and then
	// a heap profile of every riskmon run at saturation and at the fixed
	// rate, taken one second into the load through 'riskmon serve
	// --pprof', and a CPU profile of the low-rate run's load. A profiled
	// fixed-rate run's publish → page latency includes the profiler's cost.
	ProfileDir string
	ProfileFor time.Duration
}

// runResult is what one run measured.
type runResult struct {
	landedRate             float64 // readings/s from the first publish to the last point stored
	lost                   int64
	collCPU, influxCPU     float64 // CPU-µs per reading
	brokerCPU, allCPU      float64
	collRSS, influxRSS     float64 // MiB, peak
	outageLost             int64
	offered                float64 // readings/s the publisher sent, from its first publish to the broker's last acknowledgement
	p50, p99               time.Duration
	alerts                 int     // probe alerts timed (riskmon's fixed-rate run)
	outageCPU, outageTotal float64 // collector CPU ms per s while InfluxDB is down; CPU-s of the whole outage run
	loadCPU                float64 // collector CPU ms per s at the outage run's rate before the outage
	idleCPU, lowCPU        float64 // collector CPU ms per s, idle and at LowRate
}

// Compare runs riskmon and Telegraf alternately on the same load through
// Mosquitto into InfluxDB 1.8 and prints one table: medians of each
// collector's runs and their ratio.
func Compare(ctx context.Context, out io.Writer, log *slog.Logger, o CompareOptions) error {
	dir, err := filepath.Abs(o.StateDir)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	fleet := simulator.SyntheticFleet(o.Sites, o.PerSite)
	srcs, err := newPubSources(fleet)
	if err != nil {
		return err
	}
	nSensors := 0
	for _, s := range srcs {
		nSensors += len(s.sensors)
	}
	_, saves := brokerSave(o.BrokerSavesOnChange)
	fmt.Fprintf(out, "compare: %d sensors at %d gateways, JSON batches of %d at QoS 1 over %d connections; Mosquitto (tuned, %s) and InfluxDB 1.8 started afresh for every run\n",
		nSensors, len(srcs), o.Batch, o.Publishers, saves)
	res, err := compareAll(ctx, out, log, o, dir, fleet, srcs)
	if err != nil {
		return err
	}
	return writeCompareTable(out, o, res)
}

// compareResults is what every run of a comparison measured, by
// collector.
type compareResults struct {
	saturating         map[string][]runResult // Pairs runs each
	fixed, outage, low map[string]runResult   // one run each, or none
}

// compareKinds are the collectors compared, in the order they run.
var compareKinds = []string{Riskmon, Telegraf}

// compareAll runs the saturating pairs, then the fixed-rate, outage and
// idle runs o asks for, each in a folder of its own under dir, printing
// a line per run as it ends.
func compareAll(ctx context.Context, out io.Writer, log *slog.Logger, o CompareOptions, dir string, fleet simulator.Fleet, srcs []pubSource) (compareResults, error) {
	res := compareResults{saturating: map[string][]runResult{}, fixed: map[string]runResult{},
		outage: map[string]runResult{}, low: map[string]runResult{}}
	run := 0
	runDir := func(kind, suffix string) string {
		run++
		return filepath.Join(dir, fmt.Sprintf("%02d-%s%s", run, kind, suffix))
	}
	for pair := range o.Pairs {
		for _, kind := range compareKinds {
			r, err := compareRun(ctx, log, o, runDir(kind, ""), kind, fleet, srcs, o.Readings, 0)
			if err != nil {
				return res, fmt.Errorf("%s saturating run %d: %w", kind, pair+1, err)
			}
			fmt.Fprintf(out, "  run %d %-8s saturating: %.0f readings/s offered, %.0f landed, %d lost, collector %.2f µs/reading, influxd %.2f µs/point\n",
				run, kind, r.offered, r.landedRate, r.lost, r.collCPU, r.influxCPU)
			res.saturating[kind] = append(res.saturating[kind], r)
		}
	}
	for _, kind := range compareKinds {
		if o.Rate <= 0 {
			break
		}
		r, err := compareRun(ctx, log, o, runDir(kind, "-fixed"), kind, fleet, srcs, o.Readings, o.Rate)
		if err != nil {
			return res, fmt.Errorf("%s fixed-rate run: %w", kind, err)
		}
		fmt.Fprintf(out, "  run %d %-8s at %.0f/s asked: %.0f readings/s offered, %.0f landed, %d lost, collector %.2f µs/reading%s\n",
			run, kind, o.Rate, r.offered, r.landedRate, r.lost, r.collCPU, latencyNote(r))
		res.fixed[kind] = r
	}
	for _, kind := range compareKinds {
		if o.Outage <= 0 {
			break
		}
		r, err := outageRun(ctx, log, o, runDir(kind, "-outage"), kind)
		if err != nil {
			return res, fmt.Errorf("%s outage run: %w", kind, err)
		}
		fmt.Fprintf(out, "  run %d %-8s InfluxDB killed %s at %.0f/s: %d lost\n", run, kind, o.Outage, o.OutageRate, r.outageLost)
		res.outage[kind] = r
	}
	for _, kind := range compareKinds {
		if o.Idle <= 0 {
			break
		}
		r, err := lowRun(ctx, log, o, runDir(kind, "-low"), kind)
		if err != nil {
			return res, fmt.Errorf("%s idle run: %w", kind, err)
		}
		res.low[kind] = r
	}
	return res, nil
}

// writeCompareTable prints the medians of the saturating runs and the
// figures of the single runs, riskmon beside Telegraf with their ratio.
func writeCompareTable(out io.Writer, o CompareOptions, res compareResults) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(out, "\nmedians of %d runs each, alternating; compare within this table, not across machines\n", o.Pairs)
	fmt.Fprintln(tw, "\triskmon\tTelegraf\triskmon / Telegraf\t")
	line := func(name, unit string, r, t float64, dec int) {
		fmt.Fprintf(tw, "%s\t%.*f %s\t%.*f %s\t%s\t\n", name, dec, r, unit, dec, t, unit, ratio(r, t))
	}
	row := func(name, unit string, f func(runResult) float64, dec int) {
		if o.Pairs > 0 {
			line(name, unit, median(res.saturating[Riskmon], f), median(res.saturating[Telegraf], f), dec)
		}
	}
	row("landed, saturating", "readings/s", func(r runResult) float64 { return r.landedRate }, 0)
	row("lost, saturating", "", func(r runResult) float64 { return float64(r.lost) }, 0)
	row("collector CPU per reading", "µs", func(r runResult) float64 { return r.collCPU }, 2)
	row("influxd CPU per point", "µs", func(r runResult) float64 { return r.influxCPU }, 2)
	row("mosquitto CPU per reading", "µs", func(r runResult) float64 { return r.brokerCPU }, 2)
	row("all processes CPU per reading", "µs", func(r runResult) float64 { return r.allCPU }, 2)
	row("collector peak RSS", "MiB", func(r runResult) float64 { return r.collRSS }, 0)
	row("influxd peak RSS", "MiB", func(r runResult) float64 { return r.influxRSS }, 0)
	pick := func(m map[string]runResult, name, unit string, f func(runResult) float64, dec int) {
		if len(m) > 0 {
			line(name, unit, f(m[Riskmon]), f(m[Telegraf]), dec)
		}
	}
	pick(res.fixed, fmt.Sprintf("landed at %.0f/s offered", o.Rate), "readings/s", func(r runResult) float64 { return r.landedRate }, 0)
	pick(res.fixed, fmt.Sprintf("offered at %.0f/s asked", o.Rate), "readings/s", func(r runResult) float64 { return r.offered }, 0)
	pick(res.fixed, fmt.Sprintf("lost at %.0f/s offered", o.Rate), "", func(r runResult) float64 { return float64(r.lost) }, 0)
	if r, ok := res.fixed[Riskmon]; ok && r.alerts > 0 {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", fmt.Sprintf("publish -> page p50 / p99 at %.0f/s", o.Rate),
			fmt.Sprintf("%.1f / %.1f ms", ms(r.p50), ms(r.p99)), "–", "–")
	}
	pick(res.outage, fmt.Sprintf("lost, InfluxDB killed %s at %.0f/s", o.Outage, o.OutageRate), "", func(r runResult) float64 { return float64(r.outageLost) }, 0)
	pick(res.outage, fmt.Sprintf("collector CPU at %.0f/s, InfluxDB up", o.OutageRate), "ms/s", func(r runResult) float64 { return r.loadCPU }, 1)
	pick(res.outage, fmt.Sprintf("collector CPU at %.0f/s, InfluxDB down", o.OutageRate), "ms/s", func(r runResult) float64 { return r.outageCPU }, 1)
	pick(res.outage, "collector CPU, whole outage run", "s", func(r runResult) float64 { return r.outageTotal }, 2)
	pick(res.low, "collector CPU idle", "ms/s", func(r runResult) float64 { return r.idleCPU }, 1)
	pick(res.low, fmt.Sprintf("collector CPU at %.0f readings/s", o.LowRate), "ms/s", func(r runResult) float64 { return r.lowCPU }, 1)
	return tw.Flush()
}

// latencyNote is a fixed-rate run's probe latencies, for its line.
func latencyNote(r runResult) string {
	if r.alerts == 0 {
		return ""
	}
	return fmt.Sprintf(", publish -> page p50 %.1f ms, p99 %.1f ms (%d alerts)", ms(r.p50), ms(r.p99), r.alerts)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// median is the median of f over runs, the mean of the middle two for an
// even count, and 0 for none.
func median(runs []runResult, f func(runResult) float64) float64 {
	v := make([]float64, 0, len(runs))
	for _, r := range runs {
		v = append(v, f(r))
	}
	slices.Sort(v)
	switch {
	case len(v) == 0:
		return 0
	case len(v)%2 == 0:
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return v[len(v)/2]
}

// ratio is r/t to two decimals, or a dash when t is 0.
func ratio(r, t float64) string {
	if t == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", r/t)
}

// env is one run's processes: InfluxDB, Mosquitto and a collector.
type env struct {
	dir      string
	influx   *influxproc.Server
	influxO  influxproc.Options
	broker   *mosquittoproc.Server
	coll     *exec.Cmd
	collDone chan error
	logFile  *os.File
	pprof    string // riskmon's profiling root, when profiled
}

func startEnv(ctx context.Context, o CompareOptions, dir, kind string, fleet simulator.Fleet) (*env, error) {
	e := &env{dir: dir}
	if err := os.MkdirAll(filepath.Join(dir, "mosquitto"), 0o755); err != nil {
		return nil, err
	}
	e.influxO = influxproc.Options{Dir: filepath.Join(dir, "influxdb"), Database: "bench"}
	var err error
	if e.influx, err = influxproc.Start(ctx, e.influxO); err != nil {
		return nil, err
	}
	e.influxO.Port = e.influx.Port()
	autosave, _ := brokerSave(o.BrokerSavesOnChange)
	if e.broker, err = mosquittoproc.StartWith(filepath.Join(dir, "mosquitto"), 0, autosave, nil); err != nil {
		e.stop()
		return nil, err
	}
	if e.logFile, err = os.Create(filepath.Join(dir, kind+".log")); err != nil {
		e.stop()
		return nil, err
	}
	switch kind {
	case Riskmon:
		err = e.startRiskmon(ctx, o, fleet)
	case Telegraf:
		err = e.startTelegraf(ctx, o)
	default:
		err = fmt.Errorf("unknown collector %q", kind)
	}
	if err != nil {
		e.stop()
		return nil, err
	}
	return e, nil
}

func (e *env) startRiskmon(ctx context.Context, o CompareOptions, fleet simulator.Fleet) error {
	reg, err := withProbe(fleet).Registry(sensors.DefaultCatalog())
	if err != nil {
		return err
	}
	if err := reg.WriteYAMLFile(filepath.Join(e.dir, "fleet.yaml")); err != nil {
		return err
	}
	port, err := influxproc.FreePort()
	if err != nil {
		return err
	}
	// The probe raises an alert every other reading, which would be held
	// as flapping after the third: every raise is to page here.
	conf := fmt.Sprintf(`log_level: warn
state_dir: state
registry: fleet.yaml
http: {listen: "127.0.0.1:%d"}
mqtt: {broker: %q, client_id: riskmon-bench}
influxdb: {url: %q, bucket: bench}
alerting: {notify: {log: false, mqtt: true}, flapping: {raises: 1000000}}
`, port, e.broker.URL, e.influx.URL)
	path := filepath.Join(e.dir, "riskmon.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return err
	}
	args := []string{"serve", "--config", path}
	if o.ProfileDir != "" {
		pport, err := influxproc.FreePort()
		if err != nil {
			return err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", pport)
		args = append(args, "--pprof", addr)
		e.pprof = "http://" + addr + "/debug/pprof/"
	}
	e.coll = exec.Command(o.RiskmonExe, args...)
	if err := e.startCollector(); err != nil {
		return err
	}
	return waitHTTP(ctx, fmt.Sprintf("http://127.0.0.1:%d/readyz", port), 30*time.Second, e.collDone)
}

// telegrafConf is Telegraf's configuration for the same job: the JSON
// batches of riskmon's protocol into the measurement "reading", one field
// value, tags sensor and topic (Telegraf's own); agent settings are
// Telegraf's defaults, the host tag left out.
const telegrafConf = `[agent]
  omit_hostname = true

[[inputs.mqtt_consumer]]
  servers = ["%s"]
  topics = ["riskmon/v1/+/+/readings"]
  qos = 1
  persistent_session = true
  client_id = "telegraf-bench"
  data_format = "json_v2"
  [[inputs.mqtt_consumer.json_v2]]
    measurement_name = "reading"
    timestamp_path = "ts"
    timestamp_format = "unix_ms"
    [[inputs.mqtt_consumer.json_v2.object]]
      path = "readings"
      tags = ["sensor"]
      [inputs.mqtt_consumer.json_v2.object.fields]
        value = "float"

[[outputs.influxdb_v2]]
  urls = ["%s"]
  token = ""
  organization = ""
  bucket = "bench"
`

func (e *env) startTelegraf(ctx context.Context, o CompareOptions) error {
	path := filepath.Join(e.dir, "telegraf.conf")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(telegrafConf, e.broker.URL, e.influx.URL)), 0o644); err != nil {
		return err
	}
	e.coll = exec.Command(o.TelegrafExe, "--config", path)
	if err := e.startCollector(); err != nil {
		return err
	}
	// Subscribed once it logs the connection; what is published before
	// would find no session to queue in.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(e.logFile.Name())
		if strings.Contains(string(b), "Connected") {
			time.Sleep(500 * time.Millisecond) // subscribe follows the connection
			return nil
		}
		select {
		case err := <-e.collDone:
			return fmt.Errorf("telegraf exited: %v (see %s)", err, e.logFile.Name())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("telegraf did not connect to the broker (see %s)", e.logFile.Name())
}

func (e *env) startCollector() error {
	e.coll.Stdout, e.coll.Stderr = e.logFile, e.logFile
	e.coll.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.coll.Start(); err != nil {
		return err
	}
	e.collDone = make(chan error, 1)
	go func() { e.collDone <- e.coll.Wait() }()
	return nil
}

func (e *env) stop() {
	if e.coll != nil && e.coll.Process != nil {
		_ = e.coll.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.collDone:
		case <-time.After(30 * time.Second):
			_ = e.coll.Process.Kill()
		}
	}
	if e.broker != nil {
		e.broker.Stop()
	}
	if e.influx != nil {
		_ = e.influx.Stop()
	}
	if e.logFile != nil {
		e.logFile.Close()
	}
}

// cpus samples the CPU time of the run's processes and of this one (the
// publisher).
type cpus struct{ coll, influx, broker, self time.Duration }

func (e *env) cpu() (cpus, error) {
	var c cpus
	var err1, err2, err3, err4 error
	c.coll, err1 = procstat.CPU(e.coll.Process.Pid)
	c.influx, err2 = procstat.CPU(e.influx.Pid())
	c.broker, err3 = procstat.CPU(e.broker.Pid())
	c.self, err4 = procstat.CPU(os.Getpid())
	return c, errors.Join(err1, err2, err3, err4)
}

// pointsWritten is InfluxDB's own count of points written over HTTP,
// cheap to read while a run goes on (a count query is not).
func (e *env) pointsWritten() (int64, error) {
	resp, err := http.Get(e.influx.URL + "/debug/vars")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var vars map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil {
		return 0, err
	}
	var n int64
	for _, raw := range vars {
		var st struct {
			Name   string           `json:"name"`
			Values map[string]int64 `json:"values"`
		}
		if json.Unmarshal(raw, &st) == nil && st.Name == "httpd" {
			n += st.Values["pointsWrittenOK"]
		}
	}
	return n, nil
}

func (e *env) count(ctx context.Context, from time.Time) (int64, error) {
	inf := storage.New(storage.Options{URL: e.influx.URL, Bucket: "bench"})
	defer inf.Close()
	return inf.CountReadings(ctx, from.Add(-time.Minute), time.Now().Add(5*time.Minute))
}

// compareRun publishes readings (at rate, or as fast as the broker takes
// them) and waits until InfluxDB holds them all or stops growing.
func compareRun(ctx context.Context, log *slog.Logger, o CompareOptions, dir, kind string, fleet simulator.Fleet, srcs []pubSource, readings int64, rate float64) (runResult, error) {
	var r runResult
	e, err := startEnv(ctx, o, dir, kind, fleet)
	if err != nil {
		return r, err
	}
	defer e.stop()
	pub := &publisher{broker: e.broker.URL, conns: o.Publishers, batch: o.Batch, maxInFlight: o.MaxInFlight, gws: srcs}
	want := (readings + int64(o.Batch) - 1) / int64(o.Batch) * int64(o.Batch)
	w0, err := e.pointsWritten()
	if err != nil {
		return r, err
	}
	c0, err := e.cpu()
	if err != nil {
		return r, err
	}
	probe, err := e.startProbe(ctx, fleet, kind == Riskmon && rate > 0)
	if err != nil {
		return r, err
	}
	defer probe.close()
	start := time.Now()
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.run(ctx, readings, rate) }()
	profiled := make(chan error, 1)
	if e.pprof != "" {
		go func() { profiled <- e.profile(ctx, o, filepath.Join(o.ProfileDir, filepath.Base(dir))) }()
	} else {
		profiled <- nil
	}
	landed, want, err := e.waitLanded(ctx, log, kind, pub, probe, pubDone, start, w0, want, &r)
	if err != nil {
		return r, err
	}
	c1, err := e.cpu()
	if err != nil {
		return r, err
	}
	if err := <-profiled; err != nil {
		log.Warn("profile not taken", "collector", kind, "err", err)
	}
	stored, err := e.count(ctx, start)
	if err != nil {
		return r, err
	}
	r.lost = want - stored
	r.landedRate = float64(stored) / landed.Seconds()
	r.p50, r.p99, r.alerts = probe.lat.percentiles()
	if r.alerts > 0 {
		if err := probe.lat.writeFile(filepath.Join(dir, "probe-latency-ms.txt")); err != nil {
			log.Warn("probe latencies not saved", "err", err)
		}
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(max(stored, 1)) }
	r.collCPU, r.influxCPU, r.brokerCPU = per(c1.coll-c0.coll), per(c1.influx-c0.influx), per(c1.broker-c0.broker)
	r.allCPU = per(c1.coll - c0.coll + c1.influx - c0.influx + c1.broker - c0.broker + c1.self - c0.self)
	if rss, err := procstat.PeakRSS(e.coll.Process.Pid); err == nil {
		r.collRSS = float64(rss) / (1 << 20)
	}
	if rss, err := procstat.PeakRSS(e.influx.Pid()); err == nil {
		r.influxRSS = float64(rss) / (1 << 20)
	}
	return r, nil
}

// waitLanded waits, once the publisher is done, until InfluxDB holds
// want points (the probe's included) more than w0, or has stopped
// growing for 30 s. It returns how long after start the last of them
// landed and the final want, and sets r.offered.
func (e *env) waitLanded(ctx context.Context, log *slog.Logger, kind string, pub *publisher, probe *probeRun,
	pubDone chan error, start time.Time, w0, want int64, r *runResult) (time.Duration, int64, error) {
	last, lastChange := int64(-1), time.Now()
	published := false
	for {
		select {
		case err := <-pubDone:
			if err != nil {
				return 0, want, fmt.Errorf("publisher: %w", err)
			}
			r.offered = float64(pub.acked.Load()) / time.Since(start).Seconds()
			want += probe.stop()
			published = true
			pubDone = nil
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return 0, want, ctx.Err()
		}
		w, err := e.pointsWritten()
		if err != nil {
			return 0, want, err
		}
		if w-w0 >= want && published {
			return time.Since(start), want, nil
		}
		if w != last {
			last, lastChange = w, time.Now()
		} else if published && time.Since(lastChange) > 30*time.Second {
			log.Warn("InfluxDB stopped growing short of what was published", "collector", kind, "written", w-w0, "published", want)
			return lastChange.Sub(start), want, nil
		}
	}
}

// probeRun alternates the probe detector between alarm and normal while
// a load runs and times publish -> MQTT notification of its alerts.
type probeRun struct {
	lat       *latencies
	cancel    func()
	stopWatch func()
	done      chan int64
	sent      int64
	stopped   bool
}

// probeEvery is how often the probe changes state in a compare run.
const probeEvery = 50 * time.Millisecond

// startProbe starts the probe and its watcher, or, unless on, a probe
// that does nothing.
func (e *env) startProbe(ctx context.Context, fleet simulator.Fleet, on bool) (*probeRun, error) {
	p := &probeRun{lat: &latencies{sent: map[int64]time.Time{}}, cancel: func() {}, stopWatch: func() {}, done: make(chan int64, 1)}
	if !on {
		p.done <- 0
		return p, nil
	}
	stop, err := watchProbeAlerts(e.broker.URL, p.lat)
	if err != nil {
		return nil, err
	}
	p.stopWatch = stop
	pctx, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	go func() { p.done <- runProbe(pctx, e.broker.URL, fleet.Sites[0].ID, probeEvery, p.lat) }()
	return p, nil
}

// stop ends the probe's publishing (its watcher keeps timing what is
// still on its way) and returns how many readings it published; later
// calls return 0.
func (p *probeRun) stop() int64 {
	if p.stopped {
		return 0
	}
	p.stopped = true
	p.cancel()
	p.sent = <-p.done
	return p.sent
}

// close stops the probe and its watcher.
func (p *probeRun) close() {
	p.stop()
	p.stopWatch()
}

// profile saves a CPU profile of o.ProfileFor taken one second into the
// load, then a heap profile, as prefix-cpu.pprof and prefix-heap.pprof.
func (e *env) profile(ctx context.Context, o CompareOptions, prefix string) error {
	if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
		return err
	}
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	secs := max(1, int(o.ProfileFor.Seconds()))
	if err := fetchTo(ctx, fmt.Sprintf("%sprofile?seconds=%d", e.pprof, secs), prefix+"-cpu.pprof"); err != nil {
		return err
	}
	return fetchTo(ctx, e.pprof+"heap", prefix+"-heap.pprof")
}

func fetchTo(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// rateFleet is a fleet in which rate readings/s reach every sensor once
// per period: a sensor heard less often than its kind's interval would go
// stale and page, which is work of another kind than the one measured.
func rateFleet(rate float64, period time.Duration, batch int) (simulator.Fleet, []pubSource, error) {
	perSite := max(batch, 10)
	sites := max(1, int(rate*period.Seconds())/perSite)
	f := simulator.SyntheticFleet(sites, perSite)
	srcs, err := newPubSources(f)
	return f, srcs, err
}

// outageRun publishes at OutageRate for OutageLoad and SIGKILLs InfluxDB
// for Outage after the first 5 s, then counts what landed. The collector's
// CPU is sampled over those first seconds and over the outage, to tell a
// cost of the outage from the cost of the load.
func outageRun(ctx context.Context, log *slog.Logger, o CompareOptions, dir, kind string) (runResult, error) {
	var r runResult
	fleet, srcs, err := rateFleet(o.OutageRate, 2500*time.Millisecond, o.Batch)
	if err != nil {
		return r, err
	}
	e, err := startEnv(ctx, o, dir, kind, fleet)
	if err != nil {
		return r, err
	}
	defer e.stop()
	pub := &publisher{broker: e.broker.URL, conns: 1, batch: o.Batch, maxInFlight: o.MaxInFlight, gws: srcs}
	readings := int64(o.OutageRate * o.OutageLoad.Seconds())
	want := (readings + int64(o.Batch) - 1) / int64(o.Batch) * int64(o.Batch)
	start := time.Now()
	cStart, err := procstat.CPU(e.coll.Process.Pid)
	if err != nil {
		return r, err
	}
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.run(ctx, readings, o.OutageRate) }()
	time.Sleep(5 * time.Second)
	e.influx.Kill()
	c0, err := procstat.CPU(e.coll.Process.Pid)
	if err != nil {
		return r, err
	}
	r.loadCPU = float64((c0 - cStart).Milliseconds()) / 5
	time.Sleep(o.Outage)
	c1, err := procstat.CPU(e.coll.Process.Pid)
	if err != nil {
		return r, err
	}
	r.outageCPU = float64((c1 - c0).Milliseconds()) / o.Outage.Seconds()
	if e.influx, err = influxproc.Start(ctx, e.influxO); err != nil {
		return r, err
	}
	if err := <-pubDone; err != nil {
		return r, fmt.Errorf("publisher: %w", err)
	}
	// Wait until the count holds still: a collector that lost readings
	// never reaches want.
	var stored, prev int64 = 0, -1
	stable := time.Now()
	for time.Since(stable) < 15*time.Second && stored < want {
		time.Sleep(time.Second)
		if stored, err = e.count(ctx, start); err != nil {
			log.Warn("count query failed; trying again", "err", err)
			continue
		}
		if stored != prev {
			prev, stable = stored, time.Now()
		}
	}
	cEnd, err := procstat.CPU(e.coll.Process.Pid)
	if err != nil {
		return r, err
	}
	r.outageLost = want - stored
	r.outageTotal = (cEnd - cStart).Seconds()
	return r, nil
}

// lowRun samples the collector's CPU idle, then at LowRate, with a fleet
// whose every sensor reports once per 5 s at that rate (a plant of 500
// sensors reporting every 10 s sends 50 readings/s). Idle is sampled
// before the sensors' silence would raise sensor_stale.
func lowRun(ctx context.Context, _ *slog.Logger, o CompareOptions, dir, kind string) (runResult, error) {
	var r runResult
	fleet, srcs, err := rateFleet(o.LowRate, 5*time.Second, o.Batch)
	if err != nil {
		return r, err
	}
	e, err := startEnv(ctx, o, dir, kind, fleet)
	if err != nil {
		return r, err
	}
	defer e.stop()
	time.Sleep(2 * time.Second) // start-up work done
	c0, err := procstat.CPU(e.coll.Process.Pid)
	if err != nil {
		return r, err
	}
	idle := min(o.Idle, 10*time.Second)
	time.Sleep(idle)
	c1, err := procstat.CPU(e.coll.Process.Pid)
	if err != nil {
		return r, err
	}
	r.idleCPU = float64((c1 - c0).Milliseconds()) / idle.Seconds()
	pub := &publisher{broker: e.broker.URL, conns: 1, batch: o.Batch, maxInFlight: o.MaxInFlight, gws: srcs}
	profiled := make(chan error, 1)
	if e.pprof != "" {
		// The folder is made by the saturating runs' profiles, which a
		// comparison without them (--pairs 0) does not take.
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return r, err
		}
		// The whole low-rate stretch: what riskmon pays per message when
		// messages come alone.
		secs := max(1, int(o.Idle.Seconds())-1)
		go func() {
			profiled <- fetchTo(ctx, fmt.Sprintf("%sprofile?seconds=%d", e.pprof, secs), filepath.Join(o.ProfileDir, filepath.Base(dir))+"-cpu.pprof")
		}()
	} else {
		profiled <- nil
	}
	if err := pub.run(ctx, int64(o.LowRate*o.Idle.Seconds()), o.LowRate); err != nil {
		return r, err
	}
	if err := <-profiled; err != nil {
		return r, fmt.Errorf("low-rate profile: %w", err)
	}
	c2, err := procstat.CPU(e.coll.Process.Pid)
	if err != nil {
		return r, err
	}
	r.lowCPU = float64((c2 - c1).Milliseconds()) / o.Idle.Seconds()
	return r, nil
}

// brokerSave is Mosquitto's persistence schedule for a load run and its
// name. By default the broker saves on a timer, as the integration tests
// run it: the shipped schedule rewrites the broker's whole database,
// queued messages included, after every 1,000 changes (docs/protocol.md),
// and at saturation the queue grows until that bounds intake at a few
// thousand readings a second whichever collector subscribes, so the
// broker, not the collector, would be measured.
// onChange measures the shipped broker.
func brokerSave(onChange bool) (autosave, name string) {
	if onChange {
		return mosquittoproc.Autosave, "saving after every 1,000 changes as shipped"
	}
	return mosquittoproc.IntervalAutosave, "saving every 60 s"
}
