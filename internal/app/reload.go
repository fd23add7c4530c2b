package app

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/console"
	"github.com/riskmon/riskmon/internal/config"
	"github.com/riskmon/riskmon/sensors"
)

// stateFile is the alert-engine snapshot inside state_dir.
const stateFile = "alert-state"

// snapshotEvery is how often the engine's state is saved while running,
// besides at shutdown: what a crash can lose is at most this much of
// on-delay progress (see docs/alerting.md#restart-the-engines-snapshot).
const snapshotEvery = 30 * time.Second

// engineState is the service's side of the engine's state: the snapshot
// file, hot reload and its source.
type engineState struct {
	path string
	// source reads the configuration and registry again for a reload;
	// nil when the service was not started from files.
	source   func() (config.Config, *sensors.Registry, error)
	reloadMu sync.Mutex // one reload at a time

	saveErrors prometheus.Counter
	saveBytes  prometheus.Gauge
	reloads    *prometheus.CounterVec
}

// stateOptions adds the configuration's off-delay and lateness to the
// engine options. Rule files are more specific, so what they set stays.
func stateOptions(cfg config.Config, opts *alerting.Options) {
	if opts.OffDelay == 0 {
		opts.OffDelay = cfg.Alerting.OffDelay
	}
	for k, d := range cfg.Alerting.KindOffDelay {
		if opts.KindOffDelay == nil {
			opts.KindOffDelay = map[sensors.KindID]time.Duration{}
		}
		if _, ok := opts.KindOffDelay[sensors.KindID(k)]; !ok {
			opts.KindOffDelay[sensors.KindID(k)] = d
		}
	}
	if opts.LateAfter == 0 {
		opts.LateAfter = cfg.Alerting.LateAfter
	}
	if opts.SkewTolerance == 0 {
		// The engine judges a clock step by ingest's tolerance.
		opts.SkewTolerance = cfg.Limits.SkewTolerance
	}
}

// restoreEngine loads the snapshot of the last run into the new engine,
// before ingest starts. A missing file is the first start; an unreadable
// one is logged and counted, and the engine starts cold: refusing to
// start would leave the site unmonitored.
func (s *Service) restoreEngine() {
	st := &s.state
	st.path = s.cfg.StatePath(stateFile)
	st.saveErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "riskmon_alert_state_save_errors_total",
		Help: "Failed saves of the alert engine's state snapshot."})
	st.saveBytes = prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskmon_alert_state_bytes",
		Help: "Size of the last alert engine state snapshot saved."})
	st.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskmon_rules_reloads_total",
		Help: "Rule and registry reloads by result."}, []string{"result"})
	restored := prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskmon_alert_state_restored_rules",
		Help: "Rule states restored from the snapshot at start (0 when none was)."})
	s.prom.MustRegister(st.saveErrors, st.saveBytes, st.reloads, restored)
	for _, r := range []string{"ok", "error"} {
		st.reloads.WithLabelValues(r)
	}
	if s.node != nil {
		// A cluster instance holds no site yet: each one's state comes
		// from the replicated bucket when its partition is taken
		// (takeOver), not from what this instance last held.
		s.log.Info("cluster mode: rule state is taken up with each partition, not from the last run's snapshot")
		return
	}
	snap, err := alerting.LoadSnapshot(st.path)
	switch {
	case err != nil:
		s.log.Error("alert state not restored; rules start cold", "path", st.path, "err", err)
	case snap == nil:
		s.log.Info("no alert state saved yet; rules start cold", "path", st.path)
	default:
		rs := s.engine.Restore(snap)
		restored.Set(float64(rs.Kept))
		s.log.Info("alert state restored", "path", st.path, "taken", snap.Taken, "kept", rs.Kept, "reset", rs.Reset,
			"gone", rs.Gone, "closed", rs.Closed)
	}
	// What fired after the last save (a crash between saves), or with no
	// snapshot at all, is open in the alert store: the engine takes it up
	// rather than raise it again under a new id.
	if n := s.engine.Adopt(s.lifecycle.Open()); n > 0 {
		s.log.Info("open alerts taken up from the alert store", "alerts", n)
	}
}

// saveState writes the engine's snapshot to the state dir: with the
// sample windows at shutdown, the alert state alone periodically (a
// fraction of the size; after a crash the windows are warmed from
// InfluxDB instead).
func (s *Service) saveState(windows bool) error {
	var snap *alerting.Snapshot
	if windows {
		snap = s.engine.Snapshot()
	} else {
		snap = s.engine.AlertSnapshot()
	}
	if err := alerting.SaveSnapshot(s.state.path, snap); err != nil {
		s.state.saveErrors.Inc()
		return err
	}
	if fi, err := os.Stat(s.state.path); err == nil {
		s.state.saveBytes.Set(float64(fi.Size()))
	}
	return nil
}

// saveStateEvery saves the snapshot periodically until ctx ends.
func (s *Service) saveStateEvery(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.saveState(false); err != nil {
				s.log.Error("alert state not saved", "err", err)
			}
		}
	}
}

// SetReloadSource names where Reload reads the configuration and the
// registry again; `riskmon serve` passes its config file.
func (s *Service) SetReloadSource(f func() (config.Config, *sensors.Registry, error)) {
	s.state.source = f
}

// errNoReloadSource is Reload's error when there is nothing to read
// again (the demo, tests).
var errNoReloadSource = console.ErrNoReloadSource

// ReloadResult says what a reload did; the API answers it as it is.
type ReloadResult = console.ReloadResult

// Reload reads the configuration and registry again and replaces the
// engine's rules with theirs, keeping the state of every rule that did
// not change. Only rule settings and the registry's sensors and
// setpoints are taken up; other keys need a restart. An invalid file is
// refused with its error and the old rules keep running. by (and remote,
// for the API) say who asked; the journal records it as an operator
// action.
func (s *Service) Reload(ctx context.Context, by, remote string) (ReloadResult, error) {
	st := &s.state
	if st.source == nil {
		return ReloadResult{}, errNoReloadSource
	}
	st.reloadMu.Lock()
	defer st.reloadMu.Unlock()
	res, err := s.reload(ctx)
	if s.journal != nil {
		rec := console.AuditRecord{At: time.Now().UTC(), Action: "reload", User: by, Remote: remote,
			Comment: fmt.Sprintf("rules reloaded: %d kept, %d reset, %d gone, %d alerts closed", res.Kept, res.Reset, res.Gone, res.Closed)}
		if err != nil {
			rec.Action, rec.Comment, rec.Reason = "reload_failed", "", err.Error()
		}
		s.journal.Action(time.Time{}, rec)
	}
	if err != nil {
		st.reloads.WithLabelValues("error").Inc()
		s.log.Error("reload refused; the old rules keep running", "err", err)
		return res, err
	}
	st.reloads.WithLabelValues("ok").Inc()
	s.log.Info("rules reloaded", "sensors", res.Sensors, "kept", res.Kept, "reset", res.Reset, "gone", res.Gone,
		"closed", res.Closed, "new_sensors", len(res.NewSensors))
	if len(res.NewSensors) > 0 {
		s.log.Info("sensors added: stored, evaluated and shown from now on", "sensors", res.NewSensors)
	}
	return res, nil
}

func (s *Service) reload(ctx context.Context) (ReloadResult, error) {
	cfg, reg, err := s.state.source()
	if err != nil {
		return ReloadResult{}, fmt.Errorf("reload: %w", err)
	}
	rules, err := engineRules(cfg, reg)
	if err != nil {
		return ReloadResult{}, fmt.Errorf("reload: %w", err)
	}
	opts := rules.opts
	opts.Inhibit, opts.OnClockStep = s.monitor.Inhibit, s.monitor.ClockStepped
	rs, err := s.engine.Reload(reg, opts)
	if err != nil {
		return ReloadResult{}, fmt.Errorf("reload: %w", err)
	}
	res := ReloadResult{Sensors: reg.Len(), RestoreStats: rs}
	prev := s.registry.Registry()
	for _, sn := range reg.Sensors() {
		if _, ok := prev.Lookup(sn.Site, sn.ID); !ok {
			res.NewSensors = append(res.NewSensors, sn.Site+"/"+sn.ID)
		}
	}
	// One swap for every reader: ingest validates against the new
	// registry from its next message, so added sensors are stored and
	// evaluated at once, and the console, notification routing and shelf
	// checks see it from their next read.
	s.registry.Set(reg)
	s.rules.Store(&rules)
	s.hub.SetGuidance(rules.guidance)
	// Sensors whose windows came over keep them; new ones are warmed.
	go func() { _ = s.warmUp(context.WithoutCancel(ctx)) }()
	return res, nil
}
