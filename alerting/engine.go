package alerting

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
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

// DefaultLateAfter is Options.LateAfter when it is zero: four times the
// default skew tolerance of ingest, well past network and broker delays,
// short enough that a gateway replaying a buffer is recognised.
const DefaultLateAfter = 2 * time.Minute

// Options tune an Engine. The zero value is usable: no on- or off-delay,
// every sensor's default rule pack, lateness after DefaultLateAfter, no
// inhibition, 64 shards, no metrics registered, no logging.
type Options struct {
	// For is the default on-delay of every rule: how long, in device time,
	// a setpoint must keep tripping before its alert is raised.
	For time.Duration
	// KindFor overrides For for the rules of a sensor kind.
	KindFor map[sensors.KindID]time.Duration
	// OffDelay is the default off-delay of every threshold rule: how long,
	// in device time, the value must stay past a level's restore value
	// before the alert leaves that level (de-escalates or resolves). A
	// return within it cancels the clearing. KindOffDelay overrides it per
	// kind.
	OffDelay     time.Duration
	KindOffDelay map[sensors.KindID]time.Duration
	// LateAfter is how long after its device time a reading may be
	// received and still count as live; the events of a later reading, or
	// of one the gateway marked historical, carry Late. Zero means
	// DefaultLateAfter; a negative value judges only the historical mark.
	LateAfter time.Duration
	// MOfN, when M > 0, makes a threshold level count as tripping only
	// once M of the sensor's last N readings tripped it, so a lone spike
	// or a single dropped reading does not decide; For then runs from
	// that reading. KindMOfN overrides it per kind.
	MOfN     MOfN
	KindMOfN map[sensors.KindID]MOfN
	// Threshold, when set, may change one sensor's threshold timing: it
	// is called with the on-delay, off-delay and M-of-N the fields above
	// give the sensor and changes what it sets, so a site or a sensor
	// can differ from its kind.
	Threshold func(s *sensors.Sensor, t *ThresholdTiming)
	// Pack gives a sensor its early-warning and sensor-health rules; nil
	// gives each sensor the DefaultPack of its kind, plus a default
	// forecast when the sensor has setpoints of its own. KindPack
	// replaces the pack of every sensor of a kind and wins over Pack.
	Pack     func(s *sensors.Sensor) RulePack
	KindPack map[sensors.KindID]RulePack
	// Exposure gives toxic gas kinds their "<kind>_twa" and "<kind>_stel"
	// rules; nil gives DefaultExposureLimits. A non-nil map replaces the
	// defaults, so an empty one turns exposure rules off.
	Exposure map[sensors.KindID]ExposureLimit
	// Groups are sets of co-located or redundant sensors checked against
	// each other: sensor_disagreement and group_vote.
	Groups []Group
	// Composite are rules written as expressions over the latest values
	// of a site's sensors; see CompositeRule.
	Composite []CompositeRule
	// SkewTolerance is how far a reading's device time may be from its
	// receive time and still agree with riskmon's clock; it lets the
	// engine recognise a gateway clock stepped back (see ClockStep). Zero
	// means DefaultSkewTolerance; a negative value turns the recognition
	// off, and readings older than the last evaluated are then ignored
	// until device time passes it again.
	SkewTolerance time.Duration
	// OnClockStep is told of every clock step back the engine recognises,
	// with the sensor's shard lock held: it must not call the engine.
	OnClockStep func(ClockStep)
	// Inhibit, when it reports true for a sensor's site and gateway, keeps
	// Tick from raising sensor_stale for it: a gateway known to be offline
	// is one alert, not one per sensor behind it.
	Inhibit func(site, sensor, gateway, device string) bool
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
// concurrent use. Reload replaces its rules while it runs.
type Engine struct {
	// cur is the rule set in force; Reload swaps it. Counters, metrics and
	// the sink belong to the engine and outlive rule sets.
	cur      atomic.Pointer[ruleSet]
	reloadMu sync.Mutex // serialises Reload and Restore
	sink     Sink
	log      *slog.Logger
	m        engineMetrics
	// reg and opts built the rule set in force; Forget builds a fresh one
	// from them. Guarded by reloadMu.
	reg  *sensors.Registry
	opts Options

	evaluations, outOfOrder, skipped, late  atomic.Uint64
	clockSteps                              atomic.Uint64
	fired, escalated, deescalated, resolved atomic.Uint64
}

// ruleSet is everything built from one registry and one Options: the
// subjects with their rules and state, the groups and composite rules.
type ruleSet struct {
	inhibit   func(site, sensor, gateway, device string) bool
	lateAfter int64 // ns; 0: only the historical mark makes a reading late
	skewTol   int64 // ns; 0: clock steps back are not recognised
	onStep    func(ClockStep)
	// subjects is built once and only read afterwards, so lookups take no
	// lock; each subject's state is guarded by its shard's mutex.
	subjects map[subjectKey]*subject
	// entries and bySensor are the registry the set was built on and its
	// subjects in the same order (nil for a sensor without rules), so a
	// reading that carries its registry entry finds its subject by index
	// instead of hashing two strings; see subjectOf.
	entries    []*sensors.Sensor
	bySensor   []*subject
	shards     []*shard
	groups     []*group
	composites []*composite
	// retired is set, with every shard lock held, once a reload has
	// copied this set's state into its successor: a caller that finds it
	// set after taking a shard lock starts again on the new set, so no
	// reading is applied to state that was already copied.
	retired bool
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
	early     []earlyRuleState
	win       *window   // nil unless a rule reads it
	exp       *exposure // nil unless the kind has exposure limits
	// links are the groups and composite rules that read the sensor: one
	// slice, not one per feature, as every sensor carries its header.
	links []link
	// received is when the last reading was received, wall clock in
	// Unix ns (device time when ingest did not say); 0 before the first
	// reading or Tick.
	received int64
	stale    int // index of the sensor_stale rule in early, or -1
}

type ruleState struct {
	rule *ThresholdRule
	st   thresholdState
}

type earlyRuleState struct {
	rule *earlyRule
	st   earlyState
}

type shard struct {
	mu       sync.Mutex
	subjects []*subject
	// behind follows the sensors whose latest readings are all older than
	// their last evaluated one, lagging riskmon's clock steadily: a clock
	// stepped from right to slow, until confirmed (see slowStep). Made
	// on first use; empty for a healthy fleet.
	behind map[*subject]lagRun
	// quiet is the shard's subjects under a sensor_stale rule, by
	// gateway (a shard holds whole gateways); built with the set.
	quiet []quietGroup
	// The pad gives each shard a cache line of its own: shards are small
	// and allocated together, and two workers locking neighbours would
	// otherwise take the line from each other on every reading.
	_ [(64 - (8+24+8+24)%64) % 64]byte
}

// lagRun is a run of out-of-order readings of one sensor with a steady lag
// behind riskmon's clock.
type lagRun struct {
	first int64 // receive time of the run's first reading, Unix ns
	lag   int64 // its receive time minus its device time, ns
	n     int   // readings in the run
}

// Confirmation of a clock stepped from right to slow: a run of at least
// slowStepReadings readings, received over slowStepSpan or more, each
// older than the last evaluated and lagging riskmon's clock by the same
// offset (within half the skew tolerance). A replay lags too, but it
// drains faster than real time, so its lag shrinks and no run forms.
const (
	slowStepReadings = 3
	slowStepSpan     = 5 * time.Second
)

// NewEngine builds an engine with the default threshold rules of every
// sensor in reg: its effective setpoints grouped by direction, "<kind>_high"
// for those above and "<kind>_low" for those below. Sensors without
// setpoints get no rule. Events go to sink; a nil sink discards them.
func NewEngine(reg *sensors.Registry, sink Sink, opts Options) (*Engine, error) {
	if sink == nil {
		sink = SinkFunc(func(Event) {})
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{sink: sink, log: opts.Logger, reg: reg, opts: opts}
	rs, err := buildRuleSet(reg, opts)
	if err != nil {
		return nil, err
	}
	e.cur.Store(rs)
	e.m = newEngineMetrics(e)
	if opts.Registerer != nil {
		if err := e.m.register(opts.Registerer); err != nil {
			return nil, fmt.Errorf("alerting: register engine metrics: %w", err)
		}
	}
	return e, nil
}

// rules is the rule set in force.
func (e *Engine) rules() *ruleSet { return e.cur.Load() }

// buildRuleSet compiles every sensor's rules, the groups and the
// composite rules, reporting all problems at once.
func buildRuleSet(reg *sensors.Registry, opts Options) (*ruleSet, error) {
	set := newRuleSet(reg, opts)
	limits := opts.Exposure
	if limits == nil {
		limits = DefaultExposureLimits()
	}
	var errs []error
	in := newInterner()
	var subs []*subject
	for _, s := range reg.Sensors() {
		sub, err := set.compileSubject(s, opts, limits, in)
		if err != nil {
			errs = append(errs, fmt.Errorf("sensor %s/%s: %w", s.Site, s.ID, err))
			continue
		}
		if sub == nil {
			continue
		}
		subs = append(subs, sub)
	}
	for _, sub := range packSubjects(subs) {
		set.subjects[subjectKey{sub.site, sub.sensor}] = sub
		sub.shard.subjects = append(sub.shard.subjects, sub)
	}
	if len(errs) == 0 {
		// Groups refer to subjects, so they are checked once all exist.
		var err error
		if set.groups, err = compileGroups(reg, set.subjects, opts.Groups); err != nil {
			errs = append(errs, err)
		}
		if set.composites, err = set.compileComposites(reg, opts.Composite); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("alerting: %w", errors.Join(errs...))
	}
	// Built last: composite rules add subjects for sensors without rules.
	set.entries = reg.Sensors()
	set.bySensor = make([]*subject, len(set.entries))
	for i, s := range set.entries {
		set.bySensor[i] = set.subjects[subjectKey{s.Site, s.ID}]
	}
	set.groupQuiet()
	return set, nil
}

// newRuleSet is an empty rule set with the engine-wide settings of opts
// and its shards.
func newRuleSet(reg *sensors.Registry, opts Options) *ruleSet {
	if opts.Shards <= 0 {
		opts.Shards = 64
	}
	set := &ruleSet{
		subjects: make(map[subjectKey]*subject, reg.Len()),
		shards:   make([]*shard, opts.Shards),
		inhibit:  opts.Inhibit,
		onStep:   opts.OnClockStep,
	}
	switch {
	case opts.LateAfter == 0:
		set.lateAfter = int64(DefaultLateAfter)
	case opts.LateAfter > 0:
		set.lateAfter = int64(opts.LateAfter)
	}
	switch {
	case opts.SkewTolerance == 0:
		set.skewTol = int64(DefaultSkewTolerance)
	case opts.SkewTolerance > 0:
		set.skewTol = int64(opts.SkewTolerance)
	}
	for i := range set.shards {
		set.shards[i] = &shard{}
	}
	return set
}

// compileSubject builds one sensor's subject with its threshold,
// early-warning and exposure rules, sharing equal rules through in. It
// returns nil, and no error, for a sensor without rules.
func (set *ruleSet) compileSubject(s *sensors.Sensor, opts Options, limits map[sensors.KindID]ExposureLimit, in *interner) (*subject, error) {
	rules, err := defaultRules(s, opts)
	if err != nil {
		return nil, err
	}
	early, err := compilePack(s, PackFor(s, opts))
	if err != nil {
		return nil, err
	}
	exp, err := compileExposure(s, limits)
	if err != nil {
		return nil, err
	}
	if len(rules) == 0 && len(early) == 0 && exp == nil {
		return nil, nil
	}
	sub := &subject{
		subjectInfo: subjectInfo{site: s.Site, sensor: s.ID, kind: s.Kind, unit: s.KindInfo().Unit, gateway: s.Gateway, device: s.SparkplugDevice()},
		shard:       set.shards[shardIndex(s.Site, s.Gateway, len(set.shards))],
		rules:       make([]ruleState, len(rules)),
		early:       make([]earlyRuleState, len(early)),
		exp:         exp,
		stale:       -1,
	}
	for i, r := range rules {
		sub.rules[i].rule = in.thresholdRule(r)
	}
	if exp != nil {
		exp.twaRule, exp.stelRule = in.exposureRule(exp.twaRule), in.exposureRule(exp.stelRule)
	}
	for i, r := range early {
		r = in.earlyRule(r)
		sub.early[i].rule = r
		if r.windowed() {
			if sub.win == nil {
				sub.win = new(window)
			}
			// Thin fast readings so the ring spans the longest window
			// with room to spare; see window.step.
			sub.win.step = max(sub.win.step, r.window/windowSpan)
		}
		if r.kind == kindStale {
			sub.stale = i
		}
	}
	return sub, nil
}

// packSubjects returns copies of subs laid out side by side in their
// order, in one array, with their threshold and early-warning states and
// their windows likewise each in one array. Compiled one by one, each
// subject's parts lie among the rules compiled and interned away with
// them. A message carries a gateway's sensors mostly in registry order,
// so packed, the state its readings step shares cache lines and pages
// and is fetched in streams, where scattered it is a miss of its own per
// part per reading.
func packSubjects(subs []*subject) []*subject {
	var nRules, nEarly, nWin int
	for _, s := range subs {
		nRules += len(s.rules)
		nEarly += len(s.early)
		if s.win != nil {
			nWin++
		}
	}
	packed := make([]subject, len(subs))
	rules := make([]ruleState, nRules)
	early := make([]earlyRuleState, nEarly)
	wins := make([]window, nWin)
	out := make([]*subject, len(subs))
	for i, s := range subs {
		p := &packed[i]
		*p = *s
		// Full slice expressions, so that an append to one subject's
		// states can never write into the next subject's.
		p.rules = rules[:len(s.rules):len(s.rules)]
		copy(p.rules, s.rules)
		rules = rules[len(s.rules):]
		p.early = early[:len(s.early):len(s.early)]
		copy(p.early, s.early)
		early = early[len(s.early):]
		if s.win != nil {
			wins[0] = *s.win
			p.win = &wins[0]
			wins = wins[1:]
		}
		out[i] = p
	}
	return out
}

// lockAll takes every shard lock, in order, stopping evaluation on the
// set; group and composite state is then only touched by Active, which
// takes their own locks.
func (rs *ruleSet) lockAll() {
	for _, sh := range rs.shards {
		sh.mu.Lock()
	}
}

func (rs *ruleSet) unlockAll() {
	for _, sh := range rs.shards {
		sh.mu.Unlock()
	}
}

// lock finds the subject of a site and sensor in the rule set in force
// and takes its shard lock, starting again if a reload retired the set
// meanwhile. It returns nil when the sensor has no rules.
func (e *Engine) lock(site, sensor string) (*ruleSet, *subject) {
	for {
		rs := e.cur.Load()
		s, ok := rs.subjects[subjectKey{site, sensor}]
		if !ok {
			return rs, nil
		}
		s.shard.mu.Lock()
		if !rs.retired {
			return rs, s
		}
		s.shard.mu.Unlock()
	}
}

// lockReading is lock for the sensor of a reading, found through the
// registry entry it carries when it has one of the set's registry.
func (e *Engine) lockReading(r *sensors.Reading) (*ruleSet, *subject) {
	for {
		rs := e.cur.Load()
		s := rs.subjectOf(r)
		if s == nil {
			return rs, nil
		}
		s.shard.mu.Lock()
		if !rs.retired {
			return rs, s
		}
		s.shard.mu.Unlock()
	}
}

// subjectOf is the subject of a reading's sensor, nil when it has no
// rules. A reading validated against the registry the set was built on
// carries that registry's entry (Reading.Ref), which indexes bySensor
// directly: the map lookup it spares, hashing and comparing site and
// sensor id, was most of the engine's per-reading cost across a large
// fleet. An entry of another registry (readings validated before a
// reload swapped it, or a reading built without validation) is not the
// set's entry at its index, and is looked up by site and sensor id.
func (rs *ruleSet) subjectOf(r *sensors.Reading) *subject {
	if ref := r.Ref; ref != nil {
		if i := ref.Index(); uint(i) < uint(len(rs.entries)) && rs.entries[i] == ref {
			return rs.bySensor[i]
		}
	}
	return rs.subjects[subjectKey{r.Site, r.Sensor}]
}

// ThresholdTiming is the timing of a sensor's threshold rules: on-delay,
// off-delay and M-of-N confirmation.
type ThresholdTiming struct {
	For      time.Duration
	OffDelay time.Duration
	MOfN     MOfN
}

// TimingFor is the timing opts give sensor s's threshold rules: the
// defaults, then its kind's, then what opts.Threshold sets for its site
// kind or for the sensor itself.
func TimingFor(s *sensors.Sensor, opts Options) ThresholdTiming {
	t := ThresholdTiming{For: opts.For, OffDelay: opts.OffDelay, MOfN: opts.MOfN}
	if d, ok := opts.KindFor[s.Kind]; ok {
		t.For = d
	}
	if d, ok := opts.KindOffDelay[s.Kind]; ok {
		t.OffDelay = d
	}
	if m, ok := opts.KindMOfN[s.Kind]; ok {
		t.MOfN = m
	}
	if opts.Threshold != nil {
		opts.Threshold(s, &t)
	}
	return t
}

// defaultRules groups a sensor's effective setpoints by direction into one
// rule per direction, so a band such as oxygen 19.5-23.5 %VOL is two rules
// with independent alerts.
func defaultRules(s *sensors.Sensor, opts Options) ([]*ThresholdRule, error) {
	t := TimingFor(s, opts)
	forDur, offDur, mofn := t.For, t.OffDelay, t.MOfN
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
		if err == nil && mofn.M > 0 {
			r, err = r.WithMOfN(mofn.M, mofn.N)
		}
		if err == nil && offDur != 0 {
			r, err = r.WithOffDelay(offDur)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rules = append(rules, r)
	}
	return rules, errors.Join(errs...)
}

// PackFor picks a sensor's rule pack from the options: its kind's pack
// if set, else opts.Pack, else SensorPack.
func PackFor(s *sensors.Sensor, opts Options) RulePack {
	if p, ok := opts.KindPack[s.Kind]; ok {
		return p
	}
	if opts.Pack != nil {
		return opts.Pack(s)
	}
	return SensorPack(s)
}

// SensorPack is a sensor's default rule pack: its kind's, plus a forecast
// when the sensor has setpoints of its own (a tank's design levels) even
// though its kind has none.
func SensorPack(s *sensors.Sensor) RulePack {
	p := DefaultPack(s.KindInfo())
	if p.Forecast == nil && len(s.Setpoints) > 0 {
		p.Forecast = DefaultForecast(s.KindInfo())
	}
	return p
}

// shardIndex spreads sensors over shards with FNV-1a of their site and
// gateway. A message carries one gateway's readings, so its readings share
// a shard and EvaluateAll takes one lock for all of them; ingest gives
// each gateway's messages to one worker, so gateways, not sensors, are
// what workers evaluate in parallel.
func shardIndex(site, gateway string, n int) int {
	h := uint32(2166136261)
	for _, s := range [...]string{site, "/", gateway} {
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
// counted (they still show the sensor is not silent); a reading older
// than the last one evaluated for its sensor is ignored and counted as
// out of order. The events of a late reading (historical, or received
// more than Options.LateAfter after its device time) carry Late. When no
// alert changes, Evaluate does not allocate.
func (e *Engine) Evaluate(r sensors.Reading) {
	rs, s := e.lockReading(&r)
	if s == nil {
		return
	}
	e.evaluate(rs, s, r)
	s.shard.mu.Unlock()
}

// EvaluateAll is Evaluate for each reading of rs in turn, as a message
// delivers them. Readings in a row whose sensors share a shard (one
// gateway's, see shardIndex) are evaluated under one lock, and the state
// each will step is fetched from memory before the first is evaluated:
// across a large fleet that state is rarely in cache, and fetching it
// reading by reading left the processor waiting on one miss at a time.
func (e *Engine) EvaluateAll(rs []sensors.Reading) {
	set := e.cur.Load()
	// KeepAlive makes the compiler keep the loads whose sum is unused.
	runtime.KeepAlive(touchSubjects(set, rs))
	var held *shard
	for i := range rs {
		r := &rs[i]
		for {
			s := set.subjectOf(r)
			if s == nil {
				break
			}
			if s.shard != held {
				if held != nil {
					held.mu.Unlock()
				}
				held = s.shard
				held.mu.Lock()
				if set.retired {
					// A reload replaced the set since it was loaded:
					// look the sensor up again in the new one.
					held.mu.Unlock()
					held = nil
					set = e.cur.Load()
					continue
				}
				runtime.KeepAlive(touchWindows(set, held, rs[i:]))
			}
			// A shard held since an earlier reading keeps its set in force:
			// a reload retires a set only with all its shards' locks.
			e.evaluate(set, s, *r)
			break
		}
	}
	if held != nil {
		held.mu.Unlock()
	}
}

// touchSubjects reads a field that never changes from each reading's
// subject and its first threshold and early-warning rule states. The
// loads do not depend on one another, so the processor overlaps their
// cache misses; evaluate then finds the lines in cache. Only fields set
// when the set was built are read, so no lock is needed.
func touchSubjects(set *ruleSet, rs []sensors.Reading) int {
	var n int
	for i := range rs {
		s := set.subjectOf(&rs[i])
		if s == nil {
			continue
		}
		n += s.stale
		if len(s.rules) > 0 && s.rules[0].rule != nil {
			n++
		}
		if len(s.early) > 0 && s.early[0].rule != nil {
			n++
		}
	}
	return n
}

// touchWindows is touchSubjects for the windows of the readings at the
// start of rs whose subjects are in shard sh, whose lock is held: the
// samples a reading reads and the slot it writes.
func touchWindows(set *ruleSet, sh *shard, rs []sensors.Reading) float64 {
	var sum float64
	for i := range rs {
		s := set.subjectOf(&rs[i])
		if s == nil {
			continue
		}
		if s.shard != sh {
			break
		}
		if w := s.win; w != nil {
			sum += w.s[w.next].v + w.back(0).v
		}
		for j := range s.early {
			sum += s.early[j].st.value
		}
		for j := range s.rules {
			sum += s.rules[j].st.value
		}
	}
	return sum
}

// evaluate is Evaluate with the subject's shard lock held. It is the
// per-reading hot path, so it steps the rule families itself, in the
// order of ruleFamilies, instead of calling them through ruleFamily:
// the calls measured several per cent slower. A new family adds its
// step here.
func (e *Engine) evaluate(rs *ruleSet, s *subject, r sensors.Reading) {
	e.heard(s, r)
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
	dup := s.evaluated && at == s.last
	if s.evaluated && at < s.last && !e.steppedBack(rs, s, r, at) {
		// A replayed or reordered reading must not move an alert back in
		// time; equal times pass, as a duplicate gives the same result.
		e.outOfOrder.Add(1)
		return
	}
	late := rs.isLate(r)
	if late {
		e.late.Add(1)
	}
	if len(s.shard.behind) > 0 {
		delete(s.shard.behind, s) // in order again: a lag run ends
	}
	s.last, s.evaluated = at, true
	e.evaluations.Add(1)
	for i := range s.rules {
		rs := &s.rules[i]
		prev := rs.st
		var tr transition
		rs.st, tr = rs.rule.step(prev, r.Value, at)
		if phaseOf(prev) != phaseOf(rs.st) {
			e.logChange(s, rs.rule.id, phaseOf(prev), phaseOf(rs.st), rs.st.value, at)
		}
		if tr.typ != 0 {
			e.record(rs.rule.id, tr)
			ev := rs.rule.event(tr, rs.st, &s.subjectInfo, at)
			ev.Late = late
			e.sink.Emit(ev)
		}
	}
	if dup {
		// A redelivered reading adds nothing to a window, and counting it
		// would make a flat line look longer than it is.
		return
	}
	alarmed := false
	for i := range s.rules {
		alarmed = alarmed || s.rules[i].st.level != sensors.LevelNone
	}
	if s.win != nil {
		s.win.push(at, r.Value)
	}
	if s.exp != nil {
		e.evaluateExposure(s, r.Value, at, late)
	}
	for _, l := range s.links {
		if l.g != nil {
			e.evaluateGroup(l.g, l.i, r.Value, at, late)
		} else {
			e.evaluateComposite(l.c, l.i, r.Value, at, late)
		}
	}
	for i := range s.early {
		if i == s.stale {
			continue // a reading resolves it in heard
		}
		rs := &s.early[i]
		var tr transition
		rs.st, tr = rs.rule.step(rs.st, s.win, r.Value, at, alarmed)
		e.applyEarly(s, rs, tr, at, late)
	}
}

// DefaultSkewTolerance is Options.SkewTolerance when unset; it matches
// ingest's default limits.skew_tolerance.
const DefaultSkewTolerance = 30 * time.Second

// ClockStep is a gateway clock that was stepped back, as one sensor's
// readings show it: the last reading evaluated had a device time ahead
// of riskmon's clock by more than the skew tolerance (so that clock was
// fast), and a live reading now agrees with riskmon's clock again.
type ClockStep struct {
	Site, Sensor, Gateway string
	// From is the device time of the last reading evaluated before the
	// step, To that of the reading it was recognised at, Received when
	// that reading was received.
	From, To, Received time.Time
	// Step is how far the clock went back, as far as the readings tell.
	Step time.Duration
}

// steppedBack reports whether a reading older than the sensor's last
// evaluated one shows its gateway's clock stepped back, and if so moves
// the sensor's device-time state back by the step so that the reading
// and those after it are evaluated: otherwise every reading would be
// ignored as out of order until device time passed the fast clock's last
// reading, and a gas ramp in that time would raise nothing.
//
// The sign is that the last evaluated device time is ahead of riskmon's
// own clock (the sensor's latest receive time) by more than the skew
// tolerance,
// while this reading is not behind it by more than that: only a clock
// running fast gives a device time in riskmon's future, and a replay of
// buffered or redelivered readings lags the clock instead, so it is not
// taken for a step.
func (e *Engine) steppedBack(rs *ruleSet, s *subject, r sensors.Reading, at int64) bool {
	if rs.skewTol == 0 || r.Received.IsZero() || r.Historical {
		return false
	}
	// s.received is the latest receive time of the sensor, this reading's
	// included (heard ran first): the last device time must be ahead of
	// riskmon's clock at its newest, not merely of this reading's receipt.
	if s.last-s.received <= rs.skewTol || r.Received.UnixNano()-at > rs.skewTol {
		return e.slowStep(rs, s, r, at)
	}
	e.rebase(rs, s, r, at, s.last-at)
	return true
}

// slowStep reports whether a reading older than the sensor's last
// evaluated one completes a run that shows the clock stepped from right
// to slow (see slowStepReadings). Only a lag between the skew tolerance
// and late_after counts; other readings leave any run alone.
func (e *Engine) slowStep(rs *ruleSet, s *subject, r sensors.Reading, at int64) bool {
	recv := r.Received.UnixNano()
	lag := recv - at
	if lag <= rs.skewTol || (rs.lateAfter > 0 && lag > rs.lateAfter) {
		// Within the tolerance: a reordering. Past late_after: late by
		// definition, a replay; a clock that far behind is reported by
		// ingest's steady-offset check.
		return false
	}
	sh := s.shard
	run, ok := sh.behind[s]
	if d := lag - run.lag; !ok || d > rs.skewTol/2 || -d > rs.skewTol/2 {
		if sh.behind == nil {
			sh.behind = map[*subject]lagRun{}
		}
		sh.behind[s] = lagRun{first: recv, lag: lag, n: 1}
		return false
	}
	run.n++
	if run.n < slowStepReadings || recv-run.first < int64(slowStepSpan) {
		sh.behind[s] = run
		return false
	}
	delete(sh.behind, s)
	// The steady lag is the clock's offset; the readings ignored while
	// the run was confirmed make s.last-at smaller than that, and the
	// state must move at least that far to stay in time order.
	e.rebase(rs, s, r, at, max(run.lag, s.last-at))
	return true
}

// rebase moves the sensor's device-time state back by step (at least its
// last evaluated time minus at), so that the on-delay and off-delay started,
// the window samples and the stuck and jump marks keep their progress
// and their order on the new clock, and reports the step. All of it
// moves, not only what lies past at: the window must stay in time order,
// and a delay that began before a fast spell then ends sooner, not later.
func (e *Engine) rebase(rs *ruleSet, s *subject, r sensors.Reading, at, step int64) {
	shift := func(t *int64) {
		if *t != 0 {
			*t -= step
		}
	}
	for _, f := range ruleFamilies() {
		f.rebase(s, shift)
	}
	if s.win != nil {
		for i := range s.win.s {
			shift(&s.win.s[i].at)
		}
	}
	e.clockSteps.Add(1)
	if rs.onStep != nil {
		rs.onStep(ClockStep{Site: s.site, Sensor: s.sensor, Gateway: s.gateway,
			From: unixTime(s.last), To: r.Time.UTC(), Received: r.Received.UTC(), Step: time.Duration(step)})
	}
}

// isLate reports whether a reading's events are retrospective: the
// gateway sent it from its buffer, or it was received more than
// lateAfter after its device time. A reading without a receive time is
// judged by its mark alone.
func (rs *ruleSet) isLate(r sensors.Reading) bool {
	if r.Historical {
		return true
	}
	if rs.lateAfter == 0 || r.Received.IsZero() {
		return false
	}
	return r.Received.UnixNano()-r.Time.UnixNano() > rs.lateAfter
}

// heard notes that a reading of s was received, on the wall clock when
// ingest stamped it, and resolves the sensor's staleness. Wall time, not
// device time, so that a gateway with a slow clock does not look silent.
// The resolution is never late: that the sensor talks again is news now,
// whatever the reading's device time.
func (e *Engine) heard(s *subject, r sensors.Reading) {
	recv := r.Received.UnixNano()
	if r.Received.IsZero() {
		recv = r.Time.UnixNano()
	}
	s.received = max(s.received, recv)
	if s.stale < 0 {
		return
	}
	rs := &s.early[s.stale]
	// The last value a stale alert shows is the newest by device time: a
	// buffer replayed after a live reading must not replace it with an
	// older one. s.last is the newest device time evaluated so far.
	if !math.IsNaN(r.Value) && r.Quality != sensors.QualityBad && (!s.evaluated || r.Time.UnixNano() >= s.last) {
		rs.st.value = r.Value
	}
	if rs.st.level == sensors.LevelNone {
		return
	}
	from := rs.st.level
	rs.st.level = sensors.LevelNone
	e.applyEarly(s, rs, transition{typ: EventResolved, from: from}, recv, false)
}

// applyEarly logs, counts and emits an early rule's transition.
func (e *Engine) applyEarly(s *subject, rs *earlyRuleState, tr transition, at int64, late bool) {
	if tr.typ == 0 {
		return
	}
	e.logChange(s, rs.rule.id, earlyPhase(tr.from), earlyPhase(tr.to), rs.st.value, at)
	e.record(rs.rule.id, tr)
	ev := rs.rule.event(tr, rs.st, &s.subjectInfo, s.win, at)
	ev.Late = late
	e.sink.Emit(ev)
}

func earlyPhase(l sensors.Level) AlertState {
	if l == sensors.LevelNone {
		return StateInactive
	}
	return StateFiring
}

// Tick raises sensor_stale for every sensor with that rule whose last
// reading was received longer ago than its limit, measured against the
// wall-clock time now. The app calls it every few seconds. A sensor not
// heard from since the engine was built counts from the first Tick. When
// Options.Inhibit reports the sensor's gateway as known to be down, no
// stale alert is raised; one already open stays open until data returns.
func (e *Engine) Tick(now time.Time) {
	n := now.UnixNano()
	for {
		set := e.cur.Load()
		if e.tick(set, n) {
			return
		}
	}
}

// tick is Tick on one rule set; it reports false when a reload retired
// the set midway, so that the rest is done on its successor.
func (e *Engine) tick(set *ruleSet, n int64) bool {
	for _, sh := range set.shards {
		sh.mu.Lock()
		if set.retired {
			sh.mu.Unlock()
			return false
		}
		for _, s := range sh.subjects {
			for _, f := range ruleFamilies() {
				f.tick(e, set, s, n)
			}
		}
		sh.mu.Unlock()
	}
	return true
}

// record counts a transition in the engine's counters and metrics.
func (e *Engine) record(rule string, tr transition) {
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
	e.m.events.WithLabelValues(rule, level.String(), tr.typ.String()).Inc()
	if tr.from != sensors.LevelNone {
		e.m.active[tr.from].Dec()
	}
	if tr.to != sensors.LevelNone {
		e.m.active[tr.to].Inc()
	}
}

func (e *Engine) logChange(s *subject, rule string, from, to AlertState, value float64, at int64) {
	e.logTransition(s.site, s.sensor, rule, from, to, value, at)
}

// logTransition writes the debug line of a state change of the alert of
// rule on the subject (a sensor, or a group) at site.
func (e *Engine) logTransition(site, subj, rule string, from, to AlertState, value float64, at int64) {
	ctx := context.Background()
	if !e.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	e.log.LogAttrs(ctx, slog.LevelDebug, from.String()+" => "+to.String(),
		slog.String("rule", rule),
		slog.String("site", site),
		slog.String("sensor", subj),
		slog.Float64("value", value),
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
	// Clearing says the value is back past the restore value and the
	// off-delay runs: the alert still holds its level.
	Clearing bool `json:"clearing,omitempty"`
}

// Active lists the pending and firing alerts, sorted by site, sensor and
// rule.
func (e *Engine) Active() []Alert {
	var out []Alert
	set := e.rules()
	for _, sh := range set.shards {
		sh.mu.Lock()
		for _, s := range sh.subjects {
			for _, f := range ruleFamilies() {
				out = f.active(s, out)
			}
		}
		sh.mu.Unlock()
	}
	out = set.activeGroups(out)
	out = set.activeComposites(out)
	slices.SortFunc(out, func(a, b Alert) int {
		return cmp.Or(cmp.Compare(a.Site, b.Site), cmp.Compare(a.Sensor, b.Sensor), cmp.Compare(a.Rule, b.Rule))
	})
	return out
}

// lastAt is the device time of the sensor's last evaluated reading, zero
// when there was none (a sensor stale since start-up).
func lastAt(s *subject) time.Time {
	if !s.evaluated {
		return time.Time{}
	}
	return unixTime(s.last)
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
		a.Level, since, a.Clearing = rs.st.level, rs.st.since, rs.st.clearing
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
	Late        uint64 // readings evaluated whose events are marked late
	ClockSteps  uint64 // gateway clock steps back recognised (see ClockStep)
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
		Late:        e.late.Load(),
		ClockSteps:  e.clockSteps.Load(),
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
	late                   prometheus.CounterFunc
	clockSteps             prometheus.CounterFunc
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
		clockSteps: prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "riskmon_alert_clock_steps_total",
			Help: "Gateway clocks recognised as stepped back by a sensor's readings; the sensor's rules went on from the new device times.",
		}, func() float64 { return float64(e.clockSteps.Load()) }),
		late: prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "riskmon_alert_late_readings_total",
			Help: "Readings evaluated as late (historical, or received long after their device time); their events are marked late.",
		}, func() float64 { return float64(e.late.Load()) }),
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
	for _, c := range []prometheus.Collector{m.events, m.activeVec, m.skippedVec, m.evaluations, m.outOfOrder, m.late, m.clockSteps} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
