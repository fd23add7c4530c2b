// Package app assembles a running riskmon from its configuration: the
// collector, the writer, the alerting engine and its notifiers, and the
// HTTP endpoints. `riskmon serve` and `riskmon demo` both run it, so the
// demo exercises exactly what production runs.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/dispatch"
	"github.com/riskmon/riskmon/alerting/lifecycle"
	"github.com/riskmon/riskmon/alerting/notify"
	"github.com/riskmon/riskmon/alerting/store"
	"github.com/riskmon/riskmon/alerting/store/jskv"
	"github.com/riskmon/riskmon/cluster"
	"github.com/riskmon/riskmon/console"
	"github.com/riskmon/riskmon/ingest"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/journal"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/storage"
)

// Service is one riskmon instance.
type Service struct {
	cfg config.Config
	reg *sensors.Registry
	// registry holds the registry in force: ingest validates against it,
	// the console shows it, notifications route by it and shelf scopes
	// are checked against it. A reload replaces it once for all of them.
	registry *sensors.Provider
	log      *slog.Logger
	prom     *prometheus.Registry

	metrics    *ingest.Metrics
	deadLetter *ingest.DeadLetter
	influx     *storage.Client
	spool      *ingest.Spool
	pipeline   *ingest.Pipeline
	engine     *alerting.Engine
	conditions *alerting.Conditions
	lifecycle  *lifecycle.Lifecycle
	// shelves marks the events of shelved and out-of-service alerts;
	// alertPath is where the engine and the condition alerts emit: the
	// stages flapper, shelves, lifecycle and health, joined by
	// alerting.Link in buildAlerts, ending in records.
	alertPath alerting.Sink
	// flapper holds chattering alerts; its tick ends holds that are over.
	shelves *lifecycle.Shelves
	flapper *lifecycle.Flapper
	// store keeps open alerts, shelves, flapping state and the
	// notification outbox across restarts.
	store      *store.Store
	health     *lifecycle.Health
	hub        *console.Hub
	dispatcher *dispatch.Dispatcher
	// journal is the tamper-evident record of alarms and operator
	// actions; nil when journal.disabled.
	journal *journal.Journal
	// auth holds the console accounts, sessions and API tokens.
	auth *console.Auth
	// records are the stages every alert event reaches after the health:
	// the outbox, the event store, the journal and the console hub, whose
	// ring is the one history of recent events.
	records alerting.Sink

	// rules are the rules in force, replaced whole by a reload: what the
	// console's sensor page explains.
	rules atomic.Pointer[ruleSet]

	// monitor keeps the condition alerts and runs the 1 s checks.
	monitor *alerting.Monitor

	alertClient   mqtt.Client
	sessions      *console.SessionFile // nil without http.session_store
	alertmanagers []*notify.Alertmanager
	listener      net.Listener
	// state is the engine's snapshot file and hot reload (reload.go).
	state engineState
	// owner, in a cluster, says which sites this instance holds; nil
	// single-node (cluster.go).
	owner siteOwner
	// node is this instance's place in the cluster and shared the
	// replicated alert state the lifecycle, the shelves and the flapper
	// keep there; both nil single-node (cluster_state.go).
	node   *cluster.Node
	shared *jskv.Store
	claims *jskv.Outbox
	board  *clusterBoard
}

// New builds a service; nothing is started until Run.
func New(cfg config.Config, reg *sensors.Registry, log *slog.Logger) (*Service, error) {
	s := &Service{cfg: cfg, reg: reg, registry: sensors.NewProvider(reg), log: log, prom: prometheus.NewRegistry()}
	for _, w := range cfg.Warnings() {
		log.Warn("configuration: " + w)
	}
	// A bad token is refused before anything is opened.
	if _, err := cfg.APITokens(); err != nil {
		return nil, err
	}
	s.prom.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Each step uses what the steps before it built.
	for _, step := range []func() error{s.openStorage, s.joinCluster, s.openRecords, s.buildAlerts, s.buildEngine, s.buildIngest} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// openStorage opens where readings go: the state and dead-letter
// directories, the dead-letter file, InfluxDB's writer and reader, and
// the spool in front of them.
func (s *Service) openStorage() error {
	cfg, log := s.cfg, s.log
	if err := os.MkdirAll(cfg.Path(cfg.StateDir), 0o755); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	dlPath := cfg.StatePath(cfg.DeadLetter.Path)
	if dlPath != "" {
		if err := os.MkdirAll(filepath.Dir(dlPath), 0o755); err != nil {
			return fmt.Errorf("dead-letter dir: %w", err)
		}
	}
	dl, err := ingest.OpenDeadLetter(ingest.DeadLetterOptions{Path: dlPath, MaxBytes: cfg.DeadLetter.MaxBytes, MaxAge: cfg.DeadLetter.MaxAge,
		Keep: cfg.DeadLetter.Keep, Recent: cfg.DeadLetter.Recent, GatewayBytes: cfg.DeadLetter.GatewayBytes, GatewayWindow: cfg.DeadLetter.GatewayWindow})
	if err != nil {
		return err
	}
	s.deadLetter = dl
	s.metrics = ingest.NewMetrics(s.prom)

	token, err := cfg.InfluxToken()
	if err != nil {
		return err
	}
	// One client for the service's life: the forwarder writes through it,
	// and the sensor page, the warm-up and /readyz read through it.
	s.influx = storage.New(storage.Options{URL: cfg.InfluxDB.URL, Token: token, Org: cfg.InfluxDB.Org, Bucket: cfg.InfluxDB.Bucket})
	spoolOpts := cfg.Spool
	spoolOpts.Dir = cfg.StatePath(spoolOpts.Dir)
	s.spool, err = ingest.OpenSpool(spoolOpts, ingest.NewSpoolMetrics(s.prom), log.With("component", "spool"))
	return err
}

// openRecords opens the alert store, the notifiers behind their
// dispatcher, the journal, the console's accounts and its hub: the stages
// every alert event reaches.
func (s *Service) openRecords() error {
	cfg, log := s.cfg, s.log
	tokens, err := cfg.APITokens()
	if err != nil {
		return err
	}
	notifiers, err := s.notifiers()
	if err != nil {
		return err
	}
	s.store, err = store.Open(cfg.StatePath(cfg.Alerting.Store))
	if err != nil {
		return err
	}
	s.dispatcher, err = dispatch.NewDispatcher(notifiers, dispatch.DispatcherOptions{Registerer: s.prom, Logger: log.With("component", "notify"),
		Store: s.outbox(), SentRetention: cfg.Alerting.SentRetention})
	if err != nil {
		return err
	}
	if s.shared == nil {
		// Single-node, the outbox is the alert store's: a change and its
		// notifications are recorded in one commit, so a page waits for
		// one fsync'd commit, not two. (In a cluster the records are in
		// the replicated bucket and the outbox behind the claims.)
		s.store.JoinOutbox(s.dispatcher)
	}
	sinks := alerting.Fanout{s.dispatcher, newEventStore(s.spool, s.prom)}
	if !cfg.Journal.Disabled {
		var key []byte
		if cfg.Journal.KeyFile != "" {
			if key, err = journal.LoadKey(cfg.StatePath(cfg.Journal.KeyFile), true); err != nil {
				return err
			}
		}
		s.journal, err = journal.Open(journal.Options{Dir: cfg.StatePath(cfg.Journal.Dir), Key: key, Retention: cfg.Journal.Retention,
			Segment: cfg.Journal.Segment, Registerer: s.prom, Logger: log.With("component", "journal")})
		if err != nil {
			return err
		}
		sinks = append(sinks, s.journal)
	}
	var sessions console.SessionStore
	if cfg.HTTP.SessionStore != "" {
		s.sessions, err = console.OpenSessionFile(cfg.StatePath(cfg.HTTP.SessionStore))
		if err != nil {
			return err
		}
		sessions = s.sessions
	}
	s.auth, err = newAuth(cfg.HTTP, tokens, sessions, s.journal, log.With("component", "auth"))
	if err != nil {
		return err
	}
	// The hub's ring is the one history of recent events: the streams
	// resume from it and GET /api/v1/events lists it.
	repeat, err := cfg.Alerting.RepeatLevels()
	if err != nil {
		return err
	}
	// The lifecycle is the one read model of alerts: the console's hub
	// serves what it holds. Its place on the alert path is set in
	// buildAlerts.
	s.lifecycle = lifecycle.NewLifecycle(nil, lifecycle.LifecycleOptions{LatchRed: cfg.Alerting.LatchRed,
		Store: s.recordStore(), StoreRetry: s.storeRetry(), Repeat: repeat, Remind: s.dispatcher, Logger: log.With("component", "lifecycle")})
	s.hub = console.NewHub(s.reg, console.HubOptions{Registry: s.registry, Ring: historySize, Alerts: s.alertBoard(),
		Logger: log.With("component", "console")})
	sinks = append(sinks, s.hub)
	if s.board != nil {
		// In a cluster the other instances' consoles get this one's
		// events live, and this one's hub theirs.
		s.board.remote = s.hub.Event
		sinks = append(sinks, s.board)
	}
	s.records = sinks
	return nil
}

// buildAlerts builds the alert path the engine and the condition alerts
// emit into, restores it from the alert store, and sets up the
// condition-alert monitor. The path is one list of stages, in order:
//
//	flapping hold → shelving → lifecycle → alarm health → records
//	(outbox and notifiers, InfluxDB alert_event, journal, console)
func (s *Service) buildAlerts() error {
	cfg, log := s.cfg, s.log
	var err error
	// Alarm-system health (ISA-18.2 figures) sees every transition.
	s.health, err = lifecycle.NewHealth(nil, lifecycle.HealthOptions{Registerer: s.prom, Operators: cfg.Alerting.Operators})
	if err != nil {
		return err
	}
	s.shelves, err = lifecycle.NewShelves(nil, lifecycle.ShelvesOptions{Store: s.shelfStore(),
		MaxShelve: cfg.Alerting.Shelving.MaxShelve, MaxOutOfService: cfg.Alerting.Shelving.MaxOutOfService,
		OnEnd: lifecycle.OnShelfEnd(s.lifecycle.ShelfEnded, s.journalShelfExpiry()), CheckMatch: s.checkShelfMatch, Open: s.lifecycle.Open})
	if err != nil {
		return err
	}
	s.flapper, err = lifecycle.NewFlapper(nil, lifecycle.FlapOptions{Store: s.flapStore(),
		Raises: cfg.Alerting.Flapping.Raises, Window: cfg.Alerting.Flapping.Window})
	if err != nil {
		return err
	}
	s.alertPath = alerting.Link(s.records, s.flapper, s.shelves, s.lifecycle, s.health)
	restored, err := s.lifecycle.Restore()
	if err != nil {
		return err
	}
	if restored > 0 {
		log.Info("open alerts restored", "alerts", restored)
	}
	// Changes recorded just before a crash but never handed to the
	// outbox and the journal go out now; the outbox refuses any it
	// already held, so none is paged twice.
	if n := s.lifecycle.Redeliver(); n > 0 {
		log.Warn("alert changes cut short by the last stop handed on again", "changes", n)
	}
	// The board shows after a restart what it showed before.
	s.hub.Restore(s.lifecycle.Open())
	s.conditions = alerting.NewConditions(s.alertPath)
	// Condition alerts re-raised after the restart (a retained offline
	// status) continue the alert they had, not open a second one.
	s.conditions.Restore(s.lifecycle.Open())
	s.monitor = s.newMonitor()
	s.reportDamagedStore()
	if s.journal != nil {
		s.monitor.JournalTorn(tornTails(s.journal.TornAtOpen()), time.Now())
	}
	return nil
}

// buildEngine builds the rule engine from the configuration's rules and
// restores its state of the last run, before ingest starts: pending
// on-delays, firing alerts and windows carry on.
func (s *Service) buildEngine() error {
	rules, err := engineRules(s.cfg, s.reg)
	if err != nil {
		return err
	}
	s.rules.Store(&rules)
	opts := rules.opts
	s.hub.SetGuidance(rules.guidance)
	opts.Registerer, opts.Logger = s.prom, s.log.With("component", "alerting")
	opts.Inhibit, opts.OnClockStep = s.inhibit, s.monitor.ClockStepped
	s.engine, err = alerting.NewEngine(s.reg, s.alertPath, opts)
	if err != nil {
		return err
	}
	s.restoreEngine()
	return nil
}

// buildIngest builds the collector and the pipeline that takes its
// readings through the spool to InfluxDB.
func (s *Service) buildIngest() error {
	cfg, log := s.cfg, s.log
	if cfg.ClusterMode() {
		return s.buildClusterIngest()
	}
	password, err := cfg.MQTTPassword()
	if err != nil {
		return err
	}
	tlsConf, err := cfg.TLSConfig()
	if err != nil {
		return err
	}
	collector := ingest.NewCollector(ingest.CollectorOptions{
		Broker: cfg.MQTT.Broker, ClientID: cfg.MQTT.ClientID, Username: cfg.MQTT.Username, Password: password,
		Topics: cfg.MQTT.Topics, Workers: cfg.MQTT.Workers, QueueSize: cfg.MQTT.QueueSize, KeepAlive: cfg.MQTT.KeepAlive, TLS: tlsConf,
		SparkplugHostID: cfg.MQTT.SparkplugHostID, Registry: s.registry,
	}, s.reg, cfg.Limits, ingest.NewRejecter(s.metrics, s.deadLetter, log.With("component", "ingest"), time.Minute),
		s.metrics, s.spool, s.Evaluate, s.monitor.GatewayEvent, log.With("component", "ingest"), s.prom)
	// Sparkplug aliases of the last run, so an edge node's DATA that
	// comes before its next BIRTH is not lost; a damaged file only costs
	// its node a rebirth.
	if n, err := collector.RestoreSparkplug(cfg.StatePath("sparkplug")); err != nil {
		log.Warn("Sparkplug edge node state partly restored", "nodes", n, "err", err)
	} else if n > 0 {
		log.Info("Sparkplug edge node state restored", "nodes", n)
	}
	s.pipeline = &ingest.Pipeline{
		Collector: collector,
		Spool:     s.spool,
		Forwarder: ingest.NewForwarder(s.spool, s.influx, cfg.Writer, s.metrics, log.With("component", "writer")),
	}
	return nil
}

// servicePack is the engine's default rule pack, with or without the
// forecast early warning (alerting.forecast).
func servicePack(forecast bool) func(*sensors.Sensor) alerting.RulePack {
	return func(sn *sensors.Sensor) alerting.RulePack {
		p := alerting.SensorPack(sn)
		if !forecast {
			p.Forecast = nil
		}
		return p
	}
}

// Evaluate shows readings on the console and runs the rules on them, on
// device time. Ingest calls it with each accepted message's readings; a
// caller with readings from elsewhere may too (they are not stored).
// Store-and-forward (historical) and late readings are evaluated too; the
// engine marks their events late, so a gateway replaying its buffer
// after an outage is recorded without paging as if it were happening now
// (docs/alerting.md#late-and-out-of-order-readings).
func (s *Service) Evaluate(rs []sensors.Reading) {
	s.hub.Readings(rs)
	s.engine.EvaluateAll(rs)
}

// historySize is how many recent alert events the console's ring keeps
// for stream resume and GET /api/v1/events.
const historySize = 10_000

// Close releases the files New opened — the spool, the dead-letter file,
// the journal (with the failed logins not yet recorded), the alert store
// and the session store — for a service that is built but never Run (Run
// releases them itself).
func (s *Service) Close() error {
	if s.pipeline != nil && s.pipeline.Source != nil {
		// A cluster node is connected from New on.
		s.pipeline.Source.Disconnect()
	}
	s.influx.Close()
	s.auth.FlushFailed()
	s.lifecycle.Flush()
	errs := []error{s.spool.Close(), s.deadLetter.Close(), s.store.Close()}
	if s.journal != nil {
		errs = append(errs, s.journal.Close())
	}
	if s.sessions != nil {
		errs = append(errs, s.sessions.Close())
	}
	return errors.Join(errs...)
}

// Listen binds the HTTP listener, so callers learn the address before Run.
func (s *Service) Listen() (string, error) {
	l, err := net.Listen("tcp", s.cfg.HTTP.Listen)
	if err != nil {
		return "", fmt.Errorf("http listen %s: %w", s.cfg.HTTP.Listen, err)
	}
	s.listener = l
	return l.Addr().String(), nil
}

// Handler serves /metrics, /healthz, /readyz, the console and its API.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.prom, promhttp.HandlerOpts{Registry: s.prom}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", s.serveReady)
	// The operator console: its page at / and the whole API under /api.
	mux.Handle("/", console.Handler(s.hub, console.Options{Auth: s.auth, Acker: s.alertBoard(), Shelver: s.shelves, Rules: s,
		Health: s.health, Series: s.influx, RuleStates: ruleStates{s.conditions, s.engine}, Worklist: s.alertBoard(),
		Events: s.hub, DeadLetters: s.deadLetter, DeadLetterFile: filepath.Base(s.cfg.DeadLetter.Path),
		Reloader: s, Logger: s.log.With("component", "console")}))
	return mux
}

// ruleStates lists the condition alerts' and the engine's pending and
// firing states together, for GET /api/v1/rule-states.
type ruleStates struct {
	conditions *alerting.Conditions
	engine     *alerting.Engine
}

func (r ruleStates) Active() []alerting.Alert {
	return append(r.conditions.Active(), r.engine.Active()...)
}

// Ready is nil when the broker is connected, InfluxDB answers and the
// spool has room.
func (s *Service) Ready(ctx context.Context) error {
	var errs []error
	if !s.pipeline.Input().Connected() {
		if s.cfg.ClusterMode() {
			errs = append(errs, errors.New("NATS cluster not connected"))
		} else {
			errs = append(errs, errors.New("MQTT broker not connected"))
		}
	}
	if bytes, readings, full := s.spool.Backlog(); full {
		errs = append(errs, fmt.Errorf("storage backlog: spool full (%d readings, %d bytes unwritten); intake is held back", readings, bytes))
	}
	if since, err := s.spool.WriteFailing(); err != nil {
		errs = append(errs, fmt.Errorf("spool cannot write since %s (%w); nothing is acknowledged and intake is held back until it can", since.UTC().Format(time.RFC3339), err))
	}
	if err := s.influx.Ping(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (s *Service) serveReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// Run starts every component in a run group and blocks until ctx ends or
// ingest stops, then stops them in order: ingest first (draining queued
// messages and flushing the writer, so what was acknowledged is stored),
// then the timed alert changes and the state snapshot, then
// notifications, then HTTP; last it closes the files.
func (s *Service) Run(ctx context.Context) error {
	if s.listener == nil {
		if _, err := s.Listen(); err != nil {
			return err
		}
	}
	var g run.Group
	// ctx ending is what normally stops the group.
	stopped, stop := context.WithCancel(ctx)
	g.Add(func() error { <-stopped.Done(); return nil }, func(error) { stop() })
	// Each stage's interrupt waits for its component to return, and the
	// group calls the interrupts one after another in this order, so
	// every stage ends before the next is told to.
	var ingestErr error
	addStage(&g, ctx, func(ctx context.Context) error { ingestErr = s.runIngest(ctx); return ingestErr }, nil)
	// Ingest has stopped, and so do the timed alert changes (stale
	// sensors, expiries, reminders): the last snapshot holds every
	// change, nothing is emitted to a closed dispatcher or store, and no
	// periodic save can overtake it.
	addStage(&g, ctx, s.monitor.Run, nil)
	addStage(&g, ctx, func(ctx context.Context) error { s.saveStateEvery(ctx, snapshotEvery); return nil }, func() {
		if err := s.saveState(true); err != nil {
			s.log.Error("alert state not saved at shutdown", "err", err)
		}
	})
	s.addNotifications(&g, ctx)
	if s.board != nil {
		addStage(&g, ctx, s.board.run, nil)
	}
	addStage(&g, ctx, s.serveHTTP, nil)
	err := g.Run()
	s.closeAll()
	if ingestErr != nil {
		// What stopped ingest, whether or not it stopped the group.
		err = ingestErr
	}
	return err
}

// addStage adds fn to the group under a context of its own. Its interrupt
// cancels that context, waits for fn to return and then runs after (if
// any): the group's next interrupt is not called before.
func addStage(g *run.Group, ctx context.Context, fn func(context.Context) error, after func()) {
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	g.Add(func() error { defer close(done); return fn(sctx) }, func(error) {
		cancel()
		<-done
		if after != nil {
			after()
		}
	})
}

// runIngest creates the database if asked, fills the windows without
// restored state from InfluxDB before the first live reading, and runs
// the pipeline until ctx ends.
func (s *Service) runIngest(ctx context.Context) error {
	if s.cfg.InfluxDB.CreateDatabase {
		if err := s.influx.CreateDatabase(ctx); err != nil {
			s.log.Warn("CREATE DATABASE failed; writes will retry until the database exists", "err", err)
		}
	}
	_ = s.warmUp(ctx) // it logs what it did
	return s.pipeline.Run(ctx)
}

// addNotifications adds the dispatcher, then the Alertmanager resenders,
// then the MQTT alert client. They run on past ctx: the dispatcher
// delivers what the earlier stages emitted until its Close drains it
// (10 s at most), and only then do the resenders and the client stop.
func (s *Service) addNotifications(g *run.Group, ctx context.Context) {
	always := context.WithoutCancel(ctx)
	dispDone, quit := make(chan struct{}), make(chan struct{})
	g.Add(func() error {
		err := s.dispatcher.Run(always)
		close(dispDone)
		// Without a channel the dispatcher returns at once; that stops
		// nothing else.
		<-quit
		return err
	}, func(error) {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.dispatcher.Close(cctx); err != nil {
			s.log.Warn("notifications left undelivered at shutdown", "err", err)
		}
		<-dispDone
		close(quit)
	})
	for _, am := range s.alertmanagers {
		// Keeps firing alerts alive in Alertmanager by resending them;
		// Close waits for Run to return.
		g.Add(func() error { return am.Run(always) }, func(error) { _ = am.Close() })
	}
	if s.alertClient != nil {
		// Connect in the background: with connect-retry the token only
		// completes once the broker answers.
		s.alertClient.Connect()
		addStage(g, ctx, func(ctx context.Context) error { <-ctx.Done(); return nil }, func() { s.alertClient.Disconnect(250) })
	}
}

// closeAll releases what the components used once all have stopped.
func (s *Service) closeAll() {
	s.influx.Close()
	_ = s.deadLetter.Close()
	s.auth.FlushFailed()
	if s.journal != nil {
		if jerr := s.journal.Close(); jerr != nil {
			s.log.Error("journal close", "err", jerr)
		}
	}
	s.lifecycle.Flush()
	if serr := s.store.Close(); serr != nil {
		s.log.Error("alert store close", "err", serr)
	}
	if s.sessions != nil {
		_ = s.sessions.Close()
	}
}

// checkShelfMatch refuses a shelf scope that names a site, sensor or kind
// the registry in force does not hold.
func (s *Service) checkShelfMatch(m lifecycle.Matcher) error {
	reg := s.registry.Registry()
	var errs []error
	if m.Site != "" {
		if _, ok := reg.Site(m.Site); !ok {
			errs = append(errs, fmt.Errorf("no site %q in the registry", m.Site))
		} else if _, ok := reg.Lookup(m.Site, m.Sensor); m.Sensor != "" && !ok {
			errs = append(errs, fmt.Errorf("no sensor %q at site %q in the registry", m.Sensor, m.Site))
		}
	}
	if m.Kind != "" {
		if _, ok := reg.Catalog().Kind(sensors.KindID(m.Kind)); !ok {
			errs = append(errs, fmt.Errorf("no sensor kind %q in the catalog", m.Kind))
		}
	}
	return errors.Join(errs...)
}

// serveHTTP serves Handler on the bound listener until ctx ends, then
// shuts the server down (10 s at most). The port may face a network: every
// phase of a request has a deadline, a body a size cap and the listener a
// connection cap, so nobody can hold the console's connections or memory
// by sending slowly or not at all. A server that fails is logged and does
// not stop monitoring.
func (s *Service) serveHTTP(ctx context.Context) error {
	h := s.cfg.HTTP
	srv := &http.Server{Handler: limitBody(s.Handler(), h.MaxBodyBytes),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: h.ReadTimeout, WriteTimeout: h.WriteTimeout, IdleTimeout: h.IdleTimeout,
		// Refused handshakes, timeouts and such into our log, not stderr.
		ErrorLog: slog.NewLogLogger(s.log.With("component", "http").Handler(), slog.LevelWarn)}
	// Shutdown waits for handlers; the console's event streams end only
	// when told.
	srv.RegisterOnShutdown(s.hub.Close)
	// Beyond the cap, connections wait in the kernel's listen queue until
	// one closes; the timeouts above make sure one does.
	l := netutil.LimitListener(s.listener, h.MaxConnections)
	serve := func() error { return srv.Serve(l) }
	if cert, key, ok := s.cfg.HTTPTLS(); ok {
		// Session cookies are Secure on TLS connections by themselves.
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		serve = func() error { return srv.ServeTLS(l, cert, key) }
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
	<-ctx.Done()
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(cctx)
	<-served
	return nil
}

// limitBody refuses a body declared longer than max with 413 and cuts off
// an undeclared (chunked) one at max, whatever the handler.
func limitBody(next http.Handler, max int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			w.Header().Set("Connection", "close")
			http.Error(w, fmt.Sprintf("request body of %d bytes is longer than the %d allowed", r.ContentLength, max), http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next.ServeHTTP(w, r)
	})
}
