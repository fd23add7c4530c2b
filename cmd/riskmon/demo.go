package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/riskmon/riskmon/internal/app"
	"github.com/riskmon/riskmon/internal/broker"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/internal/influxproc"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/simulator"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
)

type demoOptions struct {
	duration       time.Duration
	stateDir       string
	sitesPerSector int
	httpAddr       string
	brokerAddr     string
	influxPort     int
	interval       time.Duration
	malformed      int
	status         time.Duration
}

func newDemo(g *globals) *cobra.Command {
	o := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run riskmon on an embedded broker and a local InfluxDB with a simulated fleet",
		Long: `demo starts everything on this machine: the embedded MQTT broker, a local
InfluxDB (influxd from .state/bin, see 'make deps'), the riskmon service and a
simulated fleet of every sector with one scripted gas leak. Without --for it
runs until interrupted; with --for it stops after that long, counts what
reached InfluxDB and exits non-zero if any published reading was lost.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := "info"
			if g.logLevel != "" {
				level = g.logLevel
			}
			return runDemo(cmd.Context(), cmd.OutOrStdout(), newLogger(level), o)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.duration, "for", 0, "stop after this long and print a summary (0: run until Ctrl-C)")
	f.StringVar(&o.stateDir, "state-dir", ".state", "folder for the demo's InfluxDB data, broker store and dead letters")
	f.IntVar(&o.sitesPerSector, "sites-per-sector", 1, "simulated sites of each sector")
	f.StringVar(&o.httpAddr, "http", "127.0.0.1:9464", "metrics and API listen address (a free port if taken)")
	f.StringVar(&o.brokerAddr, "broker", "127.0.0.1:1883", "embedded MQTT broker listen address (a free port if taken)")
	f.IntVar(&o.influxPort, "influx-port", 8086, "local InfluxDB HTTP port (a free port if taken)")
	f.DurationVar(&o.interval, "interval", time.Second, "time between two batches of one gateway")
	f.IntVar(&o.malformed, "malformed", 3, "malformed messages to inject, to show the dead-letter path")
	f.DurationVar(&o.status, "status-every", 5*time.Second, "how often to print the status line")
	return cmd
}

// freeOr returns addr when it can be bound, else a free loopback address,
// so a second demo or a system broker on 1883 does not stop the demo.
func freeOr(addr string) string {
	l, err := net.Listen("tcp", addr)
	if err == nil {
		l.Close()
		return addr
	}
	return "127.0.0.1:0"
}

func runDemo(ctx context.Context, out io.Writer, log *slog.Logger, o demoOptions) error {
	dir, err := filepath.Abs(filepath.Join(o.stateDir, "demo"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}

	brk, err := broker.Start(broker.Options{Addr: freeOr(o.brokerAddr), Log: quiet(log).With("component", "broker")})
	if err != nil {
		return err
	}
	defer brk.Close()

	influxLog, err := os.Create(filepath.Join(dir, "influxd.log"))
	if err != nil {
		return err
	}
	defer influxLog.Close()
	port := o.influxPort
	if freeOr(fmt.Sprintf("127.0.0.1:%d", port)) == "127.0.0.1:0" {
		port = 0
	}
	fmt.Fprintln(out, "starting InfluxDB (data in", filepath.Join(dir, "influxdb")+")")
	influx, err := influxproc.Start(ctx, influxproc.Options{Dir: filepath.Join(dir, "influxdb"), Port: port, Database: "riskmon", Log: influxLog})
	if err != nil {
		return err
	}
	defer influx.Stop()

	fleet := simulator.DemoFleet(o.sitesPerSector)
	reg, err := fleet.Registry(sensors.DefaultCatalog())
	if err != nil {
		return err
	}
	fleetFile := filepath.Join(dir, "fleet.yaml")
	if err := writeRegistry(reg, fleetFile); err != nil {
		return err
	}
	leak, err := demoLeak(reg, o.duration)
	if err != nil {
		return err
	}

	cfg := config.Default()
	cfg.StateDir = dir
	cfg.HTTP.Listen = freeOr(o.httpAddr)
	cfg.MQTT.Broker = brk.URL()
	cfg.MQTT.ClientID = "riskmon-demo"
	cfg.InfluxDB.URL = influx.URL
	accounts, err := demoAccounts()
	if err != nil {
		return err
	}
	for _, a := range accounts {
		cfg.HTTP.Users = append(cfg.HTTP.Users, a.user)
	}
	svc, err := app.New(cfg, reg, log)
	if err != nil {
		return err
	}
	httpAddr, err := svc.Listen()
	if err != nil {
		return err
	}
	svcCtx, stopSvc := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSvc()
	svcDone := make(chan error, 1)
	go func() { svcDone <- svc.Run(svcCtx) }()
	if err := waitReady(ctx, svc, 30*time.Second); err != nil {
		stopSvc()
		<-svcDone
		return err
	}

	fmt.Fprintf(out, `riskmon demo is up
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
`, brk.URL(), host(brk.Addr()), port0(brk.Addr()), influx.URL, httpAddr, accountLine(accounts), httpAddr, httpAddr, httpAddr, httpAddr, httpAddr,
		cfg.StatePath(cfg.DeadLetter.Path), len(reg.Sites()), reg.Len(), fleetFile, leak.Site, leak.Sensor, leak.Start, leak.Peak)

	// Whole milliseconds: readings carry millisecond device times, and
	// the first batch, stamped runStart, must fall inside the count.
	runStart := time.Now().Truncate(time.Millisecond)
	// The state folder is shared with earlier runs, whose readings may
	// lie in this run's window (a run started within a minute of the last
	// one, or a gateway clock ahead): what the window holds before this
	// run publishes is not this run's.
	countFrom, countTo := runStart, runStart.Add(o.duration+time.Hour)
	before, err := svc.Influx.CountReadings(ctx, countFrom, countTo)
	if err != nil {
		stopSvc()
		<-svcDone
		return fmt.Errorf("count earlier readings: %w", err)
	}
	pub, err := simulator.NewPublisher(simulator.Options{
		Broker: brk.URL(), Fleet: fleet, Incidents: []simulator.GasLeak{leak}, Interval: o.interval,
		Malformed: o.malformed, Seed: 1, Start: runStart, Logger: log.With("component", "simulator"),
		// A timed run's service stays up to count what was published, and
		// must not take the end of the demo for every gateway failing.
		PlannedStop: true,
	})
	if err != nil {
		return err
	}
	// The simulator does not stop with ctx: on Ctrl-C the service stops
	// first, so the gateways signing off at the end of the demo are not
	// taken for a site losing its monitoring (a pile of gateway-offline
	// alarms restored run after run).
	simCtx, stopSim := context.WithCancel(context.WithoutCancel(ctx))
	if o.duration > 0 {
		simCtx, stopSim = context.WithTimeout(context.WithoutCancel(ctx), o.duration)
	}
	defer stopSim()
	simDone := make(chan simResult, 1)
	go func() {
		st, err := pub.Run(simCtx)
		simDone <- simResult{st, err}
	}()

	ticker := time.NewTicker(o.status)
	defer ticker.Stop()
	var last app.Stats
	lastAt := time.Now()
	var res simResult
	interrupted := ctx.Done()
wait:
	for {
		select {
		case res = <-simDone:
			break wait
		case <-interrupted:
			if o.duration > 0 {
				// A timed run still counts what it published.
				interrupted = nil
				stopSim()
				continue
			}
			stopSvc()
			serr := <-svcDone
			stopSim()
			<-simDone
			fmt.Fprintln(out, "stopped")
			return serr
		case now := <-ticker.C:
			st := svc.Stats()
			rate := (st.Accepted - last.Accepted) / now.Sub(lastAt).Seconds()
			fmt.Fprintf(out, "%s  readings/s %6.0f | stored %8.0f | pending %5d | rejected %4.0f | alerts firing %d (raised %d)\n",
				now.Format("15:04:05"), rate, st.Written, st.Pending, st.Rejected, st.Firing, st.Raised)
			last, lastAt = st, now
		}
	}
	if res.err != nil && !errors.Is(res.err, context.Canceled) && !errors.Is(res.err, context.DeadlineExceeded) {
		stopSvc()
		<-svcDone
		return fmt.Errorf("simulator: %w", res.err)
	}

	// Wait until riskmon has acknowledged every publish and forwarded it
	// to InfluxDB, then count what InfluxDB holds for this run.
	want := float64(res.st.Messages + res.st.Malformed)
	deadline := time.Now().Add(30 * time.Second)
	for svc.Stats().Acked < want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	// Acknowledged means safe in the spool; wait for it to reach InfluxDB.
	for svc.Stats().Pending > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	final := svc.Stats()
	countCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	all, cerr := svc.Influx.CountReadings(countCtx, countFrom, countTo)
	stored := all - before
	stopSvc()
	serr := <-svcDone

	if o.duration == 0 {
		fmt.Fprintln(out, "stopped")
		return errors.Join(cerr, serr)
	}
	lost := res.st.Readings - stored
	fmt.Fprintf(out, `
summary after %s
  readings published   %d (in %d messages, plus %d malformed messages)
  readings stored      %d (counted in InfluxDB)
  rejected             %.0f (dead letters: %d)
  alerts raised        %d
  lost                 %d
`, o.duration, res.st.Readings, res.st.Messages, res.st.Malformed, stored, final.Rejected, svc.DeadLetter.Total(), final.Raised, lost)
	if cerr != nil {
		return cerr
	}
	if serr != nil {
		return serr
	}
	if lost != 0 || res.st.Unconfirmed != 0 {
		return fmt.Errorf("%d published readings are not in InfluxDB (%d publishes unconfirmed)", lost, res.st.Unconfirmed)
	}
	return nil
}

// demoAccount is a console account the demo makes, with its password in
// the clear for the banner.
type demoAccount struct {
	user     config.User
	password string
}

// demoAccounts makes one console account per role with a fresh random
// password, so a newcomer can log in and try acknowledge and shelve. The
// passwords are printed once in the banner and kept nowhere else.
func demoAccounts() ([]demoAccount, error) {
	var out []demoAccount
	for _, role := range []string{"admin", "operator", "viewer"} {
		b := make([]byte, 9)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		pw := base64.RawURLEncoding.EncodeToString(b)
		// MinCost: the accounts live as long as the demo, and a login
		// should not cost the demo machine a visible pause.
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			return nil, err
		}
		out = append(out, demoAccount{config.User{Name: role, PasswordHash: string(h), Role: role}, pw})
	}
	return out, nil
}

func accountLine(as []demoAccount) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.user.Name + " / " + a.password
	}
	return strings.Join(parts, "   ")
}

type simResult struct {
	st  simulator.Stats
	err error
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

func waitReady(ctx context.Context, svc *app.Service, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		err := svc.Ready(rctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("service not ready: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func writeRegistry(reg *sensors.Registry, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := reg.WriteYAML(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// quiet passes on only warnings and errors: the broker's start and stop
// chatter would drown the demo's own output.
func quiet(log *slog.Logger) *slog.Logger {
	return slog.New(levelFilter{log.Handler(), slog.LevelWarn})
}

type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f levelFilter) WithAttrs(as []slog.Attr) slog.Handler {
	return levelFilter{f.Handler.WithAttrs(as), f.min}
}

func (f levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{f.Handler.WithGroup(name), f.min}
}

func host(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}

func port0(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
