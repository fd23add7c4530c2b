package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/riskmon/riskmon/internal/app"
	"github.com/riskmon/riskmon/internal/broker"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/internal/influxproc"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/simulator"
)

// Options configure one demo run.
type Options struct {
	// Duration stops the run after this long and prints a summary; zero
	// runs until ctx is cancelled.
	Duration       time.Duration
	StateDir       string // the demo keeps its files in StateDir/demo
	SitesPerSector int
	HTTPAddr       string // a free port is taken when this one is
	BrokerAddr     string // a free port is taken when this one is
	InfluxPort     int    // a free port is taken when this one is
	Interval       time.Duration
	Malformed      int
	StatusEvery    time.Duration

	// Cluster, when above zero, runs that many riskmon instances as child
	// processes on a 3-node NATS cluster instead of one service in
	// process on the embedded broker.
	Cluster int
	// Chaos kills and restarts one riskmon instance and one NATS node
	// during a timed cluster run.
	Chaos bool
	// Binary is the riskmon executable the cluster's instances run;
	// empty means this process's own.
	Binary string
	// Rate, in a timed cluster run, replaces the demo fleet with a
	// measured load: a synthetic fleet of 300 sensors published at Rate
	// readings a second, Rate × Duration readings in all, and the summary
	// adds the CPU time per reading of every process.
	Rate int
}

// demo is one run's parts, in the order Run starts them.
type demo struct {
	o   Options
	out io.Writer
	log *slog.Logger
	dir string

	brk    *broker.Broker
	influx *influxproc.Server

	fleet     simulator.Fleet
	reg       *sensors.Registry
	fleetFile string
	leak      simulator.GasLeak

	svc            *app.Service
	httpAddr       string
	deadLetterFile string
	stopSvc        context.CancelFunc
	svcDone        chan error
}

// Run starts the broker, InfluxDB, the service and the simulator, prints
// a banner and a status line every o.StatusEvery, and stops them all on
// ctx's end (interactive) or after o.Duration (timed, with a summary).
func Run(ctx context.Context, out io.Writer, log *slog.Logger, o Options) error {
	if o.Cluster > 0 {
		return runCluster(ctx, out, log, o)
	}
	if o.Chaos {
		return errors.New("--chaos needs --cluster: it kills cluster members")
	}
	d := &demo{o: o, out: out, log: log}
	var err error
	if d.dir, err = filepath.Abs(filepath.Join(o.StateDir, "demo")); err != nil {
		return err
	}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return err
	}
	stopServers, err := d.startServers(ctx)
	if err != nil {
		return err
	}
	defer stopServers()
	if err := d.prepareFleet(); err != nil {
		return err
	}
	accounts, err := newAccounts()
	if err != nil {
		return err
	}
	if err := d.startService(ctx, accounts); err != nil {
		return err
	}
	defer d.stopSvc()
	d.printBanner(accounts)
	return d.play(ctx)
}

// startServers starts the embedded broker and the local InfluxDB, and
// returns what stops them.
func (d *demo) startServers(ctx context.Context) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	d.brk, err = broker.Start(broker.Options{Addr: freeOr(d.o.BrokerAddr), Log: quiet(d.log).With("component", "broker")})
	if err != nil {
		return stop, err
	}
	stops = append(stops, func() { d.brk.Close() })

	influxLog, err := os.Create(filepath.Join(d.dir, "influxd.log"))
	if err != nil {
		return stop, err
	}
	stops = append(stops, func() { influxLog.Close() })
	port := d.o.InfluxPort
	if freeOr(fmt.Sprintf("127.0.0.1:%d", port)) == "127.0.0.1:0" {
		port = 0
	}
	fmt.Fprintln(d.out, "starting InfluxDB (data in", filepath.Join(d.dir, "influxdb")+")")
	d.influx, err = influxproc.Start(ctx, influxproc.Options{Dir: filepath.Join(d.dir, "influxdb"), Port: port, Database: "riskmon", Log: influxLog})
	if err != nil {
		return stop, err
	}
	stops = append(stops, func() { d.influx.Stop() })
	return stop, nil
}

// prepareFleet builds the demo fleet, writes its registry for the
// operator to read and scripts the gas leak.
func (d *demo) prepareFleet() error {
	d.fleet = simulator.DemoFleet(d.o.SitesPerSector)
	reg, err := d.fleet.Registry(sensors.DefaultCatalog())
	if err != nil {
		return err
	}
	d.reg = reg
	d.fleetFile = filepath.Join(d.dir, "fleet.yaml")
	if err := reg.WriteYAMLFile(d.fleetFile); err != nil {
		return err
	}
	d.leak, err = demoLeak(reg, d.o.Duration)
	return err
}

// startService starts the service in process on the demo's broker and
// InfluxDB and waits until it is ready to take readings.
func (d *demo) startService(ctx context.Context, accounts []account) error {
	cfg := config.Default()
	cfg.StateDir = d.dir
	cfg.HTTP.Listen = freeOr(d.o.HTTPAddr)
	cfg.MQTT.Broker = d.brk.URL()
	cfg.MQTT.ClientID = "riskmon-demo"
	cfg.InfluxDB.URL = d.influx.URL
	for _, a := range accounts {
		cfg.HTTP.Users = append(cfg.HTTP.Users, a.user)
	}
	d.deadLetterFile = cfg.StatePath(cfg.DeadLetter.Path)
	svc, err := app.New(cfg, d.reg, d.log)
	if err != nil {
		return err
	}
	if d.httpAddr, err = svc.Listen(); err != nil {
		return err
	}
	d.svc = svc
	svcCtx, stopSvc := context.WithCancel(context.WithoutCancel(ctx))
	d.stopSvc = stopSvc
	d.svcDone = make(chan error, 1)
	go func() { d.svcDone <- svc.Run(svcCtx) }()
	if err := svc.WaitReady(ctx, 30*time.Second); err != nil {
		return d.stopService(err)
	}
	return nil
}

// stopService stops the service, waits for it and returns err.
func (d *demo) stopService(err error) error {
	d.stopSvc()
	<-d.svcDone
	return err
}

func (d *demo) printBanner(accounts []account) {
	fmt.Fprintf(d.out, `riskmon demo is up
  MQTT broker (embedded)  %s      e.g. mosquitto_sub -h %s -p %s -t 'riskmon/v1/#' -v
  InfluxDB                %s      database riskmon, measurement reading
  operator console        http://%s/
  console accounts        %s  (new passwords every run, shown only here)
  metrics                 http://%s/metrics
  health / readiness      http://%s/healthz  http://%s/readyz
  rule states (API)       http://%s/api/v1/rule-states
  dead letters (API)      http://%s/api/v1/deadletter  (file %s)
  fleet                   %d sites, %d sensors (registry written to %s)
  scripted incident       gas leak at %s/%s from +%s, peak %.0f %%LEL
`, d.brk.URL(), host(d.brk.Addr()), port(d.brk.Addr()), d.influx.URL, d.httpAddr, accountLine(accounts),
		d.httpAddr, d.httpAddr, d.httpAddr, d.httpAddr, d.httpAddr, d.deadLetterFile,
		len(d.reg.Sites()), d.reg.Len(), d.fleetFile, d.leak.Site, d.leak.Sensor, d.leak.Start, d.leak.Peak)
}

// demoLeak scripts the gas leak on the first combustible-gas detector of
// the first hazardous-chemicals site. With a fixed run length the leak is
// fitted into it so the alert both rises and resolves before the end.
func demoLeak(reg *sensors.Registry, d time.Duration) (simulator.GasLeak, error) {
	for _, s := range reg.Sensors() {
		site, _ := reg.Site(s.Site)
		if s.Kind != "combustible_gas" || site.Sector != sensors.SectorHazchem {
			continue
		}
		// Slow enough for the forecast early warning to come first: it
		// needs a minute of rising readings to trust a trend.
		leak := simulator.GasLeak{Site: s.Site, Sensor: s.ID, Peak: 60,
			Start: 30 * time.Second, RampUp: 3 * time.Minute, Hold: 30 * time.Second, RampDown: 2 * time.Minute}
		if d > 0 {
			leak.Start, leak.RampUp, leak.Hold, leak.RampDown = d/10, d*3/10, d/10, d*3/10
		}
		return leak, nil
	}
	return simulator.GasLeak{}, errors.New("demo fleet has no combustible gas detector at a hazchem site")
}
