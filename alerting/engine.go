package alerting

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmon/riskmon/sensors"
)

// Sink receives the engine's events. Emit is called while the engine holds
// the lock of the sensor's shard, which keeps one sensor's events in order;
// it must therefore not block and must not call back into the Engine.
// Dispatcher is the Sink that delivers to notifiers.
type Sink interface {
	Emit(Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event)

// Emit calls f(ev).
func (f SinkFunc) Emit(ev Event) { f(ev) }

// Options tune an Engine. The zero value is usable: no on-delay, 64 shards,
// no metrics registered, no logging.
type Options struct {
	// For is the default on-delay of every rule: how long, in device time,
	// a setpoint must keep tripping before its alert is raised.
	For time.Duration
	// KindFor overrides For for the rules of a sensor kind.
	KindFor map[sensors.KindID]time.Duration
	// Shards is how many locks the per-sensor state is split across, so
	// ingest workers evaluating different sensors rarely wait on each
	// other. Default 64.
	Shards int
	// Registerer receives the engine's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger receives one debug line per state change; nil discards.
	Logger *slog.Logger
}

// Engine evaluates readings against each sensor's threshold rules and
// emits an Event for every alert change. Its methods are safe for
// concurrent use.
type Engine struct {
	// subjects is built once and only read afterwards, so lookups take no
	// lock; each subject's state is guarded by its shard's mutex.
	subjects map[subjectKey]*subject
	shards   []*shard
	sink     Sink
	log      *slog.Logger
	m        engineMetrics

	evaluations, outOfOrder, skipped        atomic.Uint64
	fired, escalated, deescalated, resolved atomic.Uint64
}

type subjectKey struct{ site, sensor string }

// subject is one sensor with its rules and their states.
type subject struct {
	subjectInfo
	shard *shard
	// Guarded by shard.mu.
	last      int64 // device time of the last evaluated reading, Unix ns
	evaluated bool  // whether last is set
	rules     []ruleState
}

type ruleState struct {
	rule *ThresholdRule
	st   thresholdState
}

type shard struct {
	mu       sync.Mutex
	subjects []*subject
}

// NewEngine builds an engine with the default threshold rules of every
// sensor in reg: its effective setpoints grouped by direction, "<kind>_high"
// for those above and "<kind>_low" for those below. Sensors without
// setpoints get no rule. Events go to sink; a nil sink discards them.
func NewEngine(reg *sensors.Registry, sink Sink, opts Options) (*Engine, error) {
	if opts.Shards <= 0 {
		opts.Shards = 64
	}
	if sink == nil {
		sink = SinkFunc(func(Event) {})
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		subjects: make(map[subjectKey]*subject, reg.Len()),
		shards:   make([]*shard, opts.Shards),
		sink:     sink,
		log:      opts.Logger,
	}
	for i := range e.shards {
		e.shards[i] = &shard{}
	}
	var errs []error
	for _, s := range reg.Sensors() {
		rules, err := defaultRules(s, opts)
		if err != nil {
			errs = append(errs, fmt.Errorf("sensor %s/%s: %w", s.Site, s.ID, err))
			continue
		}
		if len(rules) == 0 {
			continue
		}
		sub := &subject{
			subjectInfo: subjectInfo{site: s.Site, sensor: s.ID, kind: s.Kind, unit: s.KindInfo().Unit},
			shard:       e.shards[shardIndex(s.Site, s.ID, len(e.shards))],
			rules:       make([]ruleState, len(rules)),
		}
		for i, r := range rules {
			sub.rules[i].rule = r
		}
		e.subjects[subjectKey{s.Site, s.ID}] = sub
		sub.shard.subjects = append(sub.shard.subjects, sub)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("alerting: %w", errors.Join(errs...))
	}
	e.m = newEngineMetrics(e)
	if opts.Registerer != nil {
		if err := e.m.register(opts.Registerer); err != nil {
			return nil, fmt.Errorf("alerting: register engine metrics: %w", err)
		}
	}
	return e, nil
}

// defaultRules groups a sensor's effective setpoints by direction into one
// rule per direction, so a band such as oxygen 19.5-23.5 %VOL is two rules
// with independent alerts.
func defaultRules(s *sensors.Sensor, opts Options) ([]*ThresholdRule, error) {
	forDur := opts.For
	if d, ok := opts.KindFor[s.Kind]; ok {
		forDur = d
	}
	sps := s.EffectiveSetpoints()
	var rules []*ThresholdRule
	var errs []error
	for _, dir := range []sensors.Direction{sensors.Above, sensors.Below} {
		var group []sensors.Setpoint
		for _, sp := range sps {
			if sp.Direction == dir {
				group = append(group, sp)
			}
		}
		if len(group) == 0 {
			continue
		}
		suffix := "_high"
		if dir == sensors.Below {
			suffix = "_low"
		}
		r, err := NewThresholdRule(string(s.Kind)+suffix, dir, group, forDur)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rules = append(rules, r)
	}
	return rules, errors.Join(errs...)
}

// shardIndex spreads sensors over shards with FNV-1a of site and sensor.
func shardIndex(site, sensor string, n int) int {
	h := uint32(2166136261)
	for _, s := range [...]string{site, "/", sensor} {
		for i := 0; i < len(s); i++ {
			h ^= uint32(s[i])
			h *= 16777619
		}
	}
	return int(h % uint32(n))
}

// Evaluate runs the reading through its sensor's rules and emits an event
// for every alert that changes. Readings of sensors without rules are
// ignored; readings of bad quality or without a number are skipped and
// counted; a reading older than the last one evaluated for its sensor is
// ignored and counted as out of order. When no alert changes, Evaluate
// does not allocate.
func (e *Engine) Evaluate(r sensors.Reading) {
	s, ok := e.subjects[subjectKey{r.Site, r.Sensor}]
	if !ok {
		return
	}
	switch {
	case r.Quality == sensors.QualityBad:
		// A bad reading says nothing about the process; whether the sensor
		// itself is in trouble is for the sensor-health rules.
		e.skipped.Add(1)
		e.m.skippedBad.Inc()
		return
	case math.IsNaN(r.Value):
		e.skipped.Add(1)
		e.m.skippedNaN.Inc()
		return
	}
	at := r.Time.UnixNano()
	s.shard.mu.Lock()
	defer s.shard.mu.Unlock()
	if s.evaluated && at < s.last {
		// A replayed or reordered reading must not move an alert back in
		// time; equal times pass, as a duplicate gives the same result.
		e.outOfOrder.Add(1)
		return
	}
	s.last, s.evaluated = at, true
	e.evaluations.Add(1)
	for i := range s.rules {
		rs := &s.rules[i]
		prev := rs.st
		var tr transition
		rs.st, tr = rs.rule.step(prev, r.Value, at)
		if phaseOf(prev) != phaseOf(rs.st) {
			e.logChange(s, rs, prev, at)
		}
		if tr.typ != 0 {
			e.record(rs.rule, tr)
			e.sink.Emit(rs.rule.event(tr, rs.st, &s.subjectInfo, at))
		}
	}
}

// record counts a transition in the engine's counters and metrics.
func (e *Engine) record(r *ThresholdRule, tr transition) {
	switch tr.typ {
	case EventFired:
		e.fired.Add(1)
	case EventEscalated:
		e.escalated.Add(1)
	case EventDeescalated:
		e.deescalated.Add(1)
	case EventResolved:
		e.resolved.Add(1)
	}
	level := tr.to
	if tr.typ == EventResolved {
		level = tr.from
	}
	e.m.events.WithLabelValues(r.id, level.String(), tr.typ.String()).Inc()
	if tr.from != sensors.LevelNone {
		e.m.active[tr.from].Dec()
	}
	if tr.to != sensors.LevelNone {
		e.m.active[tr.to].Inc()
	}
}

func (e *Engine) logChange(s *subject, rs *ruleState, prev thresholdState, at int64) {
	ctx := context.Background()
	if !e.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	e.log.LogAttrs(ctx, slog.LevelDebug, phaseOf(prev).String()+" => "+phaseOf(rs.st).String(),
		slog.String("rule", rs.rule.id),
		slog.String("site", s.site),
		slog.String("sensor", s.sensor),
		slog.Float64("value", rs.st.value),
		slog.Time("at", unixTime(at)))
}

// AlertState is the phase of an alert.
type AlertState uint8

// Alert states.
const (
	StateInactive AlertState = iota // no alert
	StatePending                    // a setpoint trips, waiting out For
	StateFiring                     // the alert is raised
)

var alertStateNames = [...]string{"inactive", "pending", "firing"}

func (s AlertState) String() string {
	if int(s) < len(alertStateNames) {
		return alertStateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// MarshalText encodes the state by name.
func (s AlertState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func phaseOf(st thresholdState) AlertState {
	switch {
	case st.level != sensors.LevelNone:
		return StateFiring
	case st.next != sensors.LevelNone:
		return StatePending
	}
	return StateInactive
}

// Alert is a pending or firing alert as Engine.Active reports it.
type Alert struct {
	// ID is the id the alert's events carry; a pending alert that fires
	// keeps it.
	ID     string         `json:"id"`
	Rule   string         `json:"rule"`
	Site   string         `json:"site"`
	Sensor string         `json:"sensor"`
	Kind   sensors.KindID `json:"kind"`
	Unit   string         `json:"unit"`
	State  AlertState     `json:"state"`
	// Level is the firing level, or for a pending alert the level it
	// waits to fire at.
	Level sensors.Level `json:"level"`
	// Value is the last evaluated value, at device time LastAt.
	Value  float64   `json:"value"`
	LastAt time.Time `json:"last_at"`
	// Since is when the condition began: StartsAt for a firing alert.
	Since time.Time `json:"since"`
}

// Active lists the pending and firing alerts, sorted by site, sensor and
// rule.
func (e *Engine) Active() []Alert {
	var out []Alert
	for _, sh := range e.shards {
		sh.mu.Lock()
		for _, s := range sh.subjects {
			for _, rs := range s.rules {
				if a, ok := activeAlert(s, rs); ok {
					out = append(out, a)
				}
			}
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Alert) int {
		return cmp.Or(cmp.Compare(a.Site, b.Site), cmp.Compare(a.Sensor, b.Sensor), cmp.Compare(a.Rule, b.Rule))
	})
	return out
}

func activeAlert(s *subject, rs ruleState) (Alert, bool) {
	a := Alert{
		Rule:   rs.rule.id,
		Site:   s.site,
		Sensor: s.sensor,
		Kind:   s.kind,
		Unit:   s.unit,
		State:  phaseOf(rs.st),
		Value:  rs.st.value,
		LastAt: unixTime(s.last),
	}
	var since int64
	switch a.State {
	case StateFiring:
		a.Level, since = rs.st.level, rs.st.since
	case StatePending:
		a.Level, since = rs.st.next, rs.st.nextSince
	default:
		return Alert{}, false
	}
	a.ID = alertID(rs.rule.id, s.site, s.sensor, since)
	a.Since = unixTime(since)
	return a, true
}

// Stats are the engine's counters since it was built.
type Stats struct {
	Evaluations uint64 // readings evaluated against their sensor's rules
	OutOfOrder  uint64 // readings ignored for being older than the last evaluated
	Skipped     uint64 // readings of bad quality or without a number
	Fired       uint64 // alerts raised
	Escalated   uint64
	Deescalated uint64
	Resolved    uint64
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	return Stats{
		Evaluations: e.evaluations.Load(),
		OutOfOrder:  e.outOfOrder.Load(),
		Skipped:     e.skipped.Load(),
		Fired:       e.fired.Load(),
		Escalated:   e.escalated.Load(),
		Deescalated: e.deescalated.Load(),
		Resolved:    e.resolved.Load(),
	}
}

type engineMetrics struct {
	events                 *prometheus.CounterVec
	active                 [sensors.LevelBlue + 1]prometheus.Gauge
	activeVec              *prometheus.GaugeVec
	skippedVec             *prometheus.CounterVec
	skippedBad, skippedNaN prometheus.Counter
	evaluations            prometheus.CounterFunc
	outOfOrder             prometheus.CounterFunc
}

func newEngineMetrics(e *Engine) engineMetrics {
	m := engineMetrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskmon_alerts_events_total",
			Help: "Alert events by rule, level (the resolved level for resolved events) and type.",
		}, []string{"rule", "level", "type"}),
		activeVec: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "riskmon_alerts_active",
			Help: "Firing alerts by level.",
		}, []string{"level"}),
		skippedVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskmon_alert_skipped_total",
			Help: "Readings not evaluated by the threshold rules, by reason.",
		}, []string{"reason"}),
		// The counters the hot path bumps are read from the engine's own
		// atomics, so each reading costs one atomic add, not two.
		evaluations: prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "riskmon_alert_evaluations_total",
			Help: "Readings evaluated against their sensor's threshold rules.",
		}, func() float64 { return float64(e.evaluations.Load()) }),
		outOfOrder: prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "riskmon_alert_out_of_order_total",
			Help: "Readings ignored for being older than the last one evaluated for their sensor.",
		}, func() float64 { return float64(e.outOfOrder.Load()) }),
	}
	for l := sensors.LevelRed; l <= sensors.LevelBlue; l++ {
		m.active[l] = m.activeVec.WithLabelValues(l.String())
	}
	// Children are created up front so the hot path does no label lookup
	// and the series exist at zero before the first skip.
	m.skippedBad = m.skippedVec.WithLabelValues("bad_quality")
	m.skippedNaN = m.skippedVec.WithLabelValues("not_a_number")
	return m
}

func (m engineMetrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.events, m.activeVec, m.skippedVec, m.evaluations, m.outOfOrder} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
