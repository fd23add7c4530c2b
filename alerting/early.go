package alerting

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// Rules of sensor-health alerts: the instrument is suspect, not the
// process.
const (
	RuleSensorStuck = "sensor_stuck" // the value has not changed for a window
	RuleSensorJump  = "sensor_jump"  // one reading moved further than the process can
	RuleSensorStale = "sensor_stale" // no reading received for several intervals
)

// RateConfig raises "<kind>_rate" when the value moved faster than Limit
// between the oldest reading in Window and the newest one: a two-point
// rate that reacts within one window to a step such as a pipeline rupture.
type RateConfig struct {
	// Direction is the bad way: Above for rising, Below for falling.
	Direction sensors.Direction
	// Limit is the rate, in the kind's unit per Per, at or beyond which
	// the alert is raised; it resolves below half of it.
	Limit float64
	// Per is the time unit of Limit; default a minute.
	Per    time.Duration
	Window time.Duration
	// Level defaults to 3 yellow.
	Level sensors.Level
}

// TrendConfig raises "<kind>_trend" when the least-squares slope over
// Window, fitted through at least MinSamples readings, is at or beyond
// Limit in Direction and at least three standard errors from zero, so
// that noise alone does not raise it. It resolves when the slope falls
// below half of Limit.
type TrendConfig struct {
	Direction  sensors.Direction
	Limit      float64
	Per        time.Duration // default a minute
	Window     time.Duration
	MinSamples int           // default 6
	Level      sensors.Level // default 3 yellow
}

// ForecastConfig raises "<kind>_forecast", an early warning (预警), when
// the least-squares trend over Window, extrapolated from the fitted
// present value, reaches the sensor's first alarm setpoint within Horizon.
// The trend must be at least MinSlope and three standard errors from
// zero. The alert resolves when the trend weakens below half of MinSlope,
// the crossing moves beyond twice Horizon, or the setpoint is reached
// (the threshold rule then owns the alarm).
type ForecastConfig struct {
	Window     time.Duration
	MinSamples int // default 6
	Horizon    time.Duration
	// MinSlope is in the kind's unit per minute.
	MinSlope float64
	// Level defaults to 3 yellow, or 4 blue when Horizon is over 30 min.
	Level sensors.Level
}

// StuckConfig raises "sensor_stuck" when MinSamples consecutive readings
// spanning at least Window all stay within Tolerance of the first of them
// (the QARTOD flat-line test). It resolves on the first reading that moves.
type StuckConfig struct {
	Window     time.Duration
	MinSamples int
	Tolerance  float64
	Level      sensors.Level // default 3 yellow
}

// JumpConfig raises "sensor_jump" when one reading differs from the one
// before by more than Fraction of the kind's physical range (Max - Min).
// It resolves after Hold without a further jump.
type JumpConfig struct {
	Fraction float64
	Hold     time.Duration
	Level    sensors.Level // default 3 yellow
}

// StaleConfig raises "sensor_stale" when no reading of the sensor was
// received for Factor times its kind's Interval, measured on the wall
// clock by Engine.Tick. It resolves on the next reading received.
type StaleConfig struct {
	Factor float64       // default 3
	Level  sensors.Level // default 4 blue
}

// RulePack is the early-warning and sensor-health rules of a sensor; a nil
// field means that rule is off. Threshold rules are not part of it: every
// sensor with setpoints has them.
type RulePack struct {
	Rate     *RateConfig
	Trend    *TrendConfig
	Forecast *ForecastConfig
	Stuck    *StuckConfig
	Jump     *JumpConfig
	Stale    *StaleConfig
}

// Effective is the pack as the engine runs it: every rule's Level
// filled in with the level it fires at when the configuration left it to
// the default.
func (p RulePack) Effective() RulePack {
	out := p
	if c := p.Rate; c != nil {
		x := *c
		x.Level = levelOr(x.Level, sensors.LevelYellow)
		out.Rate = &x
	}
	if c := p.Trend; c != nil {
		x := *c
		x.Level = levelOr(x.Level, sensors.LevelYellow)
		out.Trend = &x
	}
	if c := p.Forecast; c != nil {
		x := *c
		x.Level = levelOr(x.Level, forecastLevel(x.Horizon))
		out.Forecast = &x
	}
	if c := p.Stuck; c != nil {
		x := *c
		x.Level = levelOr(x.Level, sensors.LevelYellow)
		out.Stuck = &x
	}
	if c := p.Jump; c != nil {
		x := *c
		x.Level = levelOr(x.Level, sensors.LevelYellow)
		out.Jump = &x
	}
	if c := p.Stale; c != nil {
		x := *c
		x.Level = levelOr(x.Level, sensors.LevelBlue)
		if x.Factor == 0 {
			x.Factor = 3
		}
		out.Stale = &x
	}
	return out
}

// forecastLevel is a forecast's default level: a warning hours ahead is a
// notice (blue); minutes ahead, yellow.
func forecastLevel(horizon time.Duration) sensors.Level {
	if horizon > 30*time.Minute {
		return sensors.LevelBlue
	}
	return sensors.LevelYellow
}

// DefaultPack is the rule pack a sensor of kind k gets unless Options say
// otherwise. docs/alerting.md gives the reason for every default.
func DefaultPack(k *sensors.Kind) RulePack {
	span := k.Max - k.Min
	var p RulePack
	switch k.ID {
	case "pressure", "line_pressure":
		// A fall of 1 % of span in a minute is a rupture, not a leak: no
		// standard gives a pressure-drop rate, so the default is coarse
		// and sites should set their own.
		p.Rate = &RateConfig{Direction: sensors.Below, Limit: span / 100, Per: time.Minute, Window: time.Minute}
		// A live pressure transmitter always shows noise at its
		// resolution; ten identical readings over five minutes is a
		// frozen output.
		p.Stuck = &StuckConfig{Window: 5 * time.Minute, MinSamples: 10}
	case "dam_displacement":
		p.Rate = &RateConfig{Direction: sensors.Above, Limit: 20, Per: 24 * time.Hour, Window: 4 * time.Hour}
	}
	switch k.ID {
	case "tank_level", "tank_temperature", "mine_temperature", "pond_water_level",
		"dry_beach_length", "phreatic_depth", "dam_displacement":
		// Quantities with inertia: a quarter of the instrument's range in
		// one reading is a spurious value (冒大数), not the process.
		p.Jump = &JumpConfig{Fraction: 0.25, Hold: 10 * k.Interval}
	}
	if len(k.Setpoints) > 0 {
		p.Forecast = DefaultForecast(k)
	}
	p.Stale = &StaleConfig{Factor: 3, Level: sensors.LevelBlue}
	if k.ID == "ch4" {
		// A silent methane sensor is a fault the coal rules lock out
		// power on (故障闭锁): more than a notice.
		p.Stale.Level = sensors.LevelYellow
	}
	return p
}

// DefaultForecast is the forecast a kind gets by default: a window of two
// minutes or eight readings, whichever is longer, at least 6 samples, a
// horizon of 10 minutes or five windows, and a minimum slope of one
// deadband per window. It is also given to sensors of kinds without
// default setpoints that have their own.
func DefaultForecast(k *sensors.Kind) *ForecastConfig {
	win := max(2*time.Minute, 8*k.Interval)
	f := &ForecastConfig{Window: win, MinSamples: 6, Horizon: max(10*time.Minute, 5*win)}
	f.MinSlope = k.Deadband / win.Minutes()
	return f
}

// earlyKind is which test an earlyRule runs.
type earlyKind uint8

const (
	kindRate earlyKind = iota + 1
	kindTrend
	kindForecast
	kindStuck
	kindJump
	kindStale
)

// earlyRule is one compiled early-warning or sensor-health rule. The
// limits are converted to Unix-ns times and per-second rates once, so
// evaluation does no conversions.
type earlyRule struct {
	id         string
	kind       earlyKind
	level      sensors.Level
	dir        sensors.Direction
	limit      float64 // rate and trend: per second; forecast: min slope per second; stuck: tolerance; jump: largest step
	per        time.Duration
	window     int64
	minSamples int
	horizon    int64
	hold       int64 // jump
	staleAfter int64
	interval   time.Duration // stale: the kind's reporting interval
	// Forecast targets: the first alarm setpoint on each side.
	above, below       float64
	hasAbove, hasBelow bool
	fp                 uint64 // fingerprint of the above; see Snapshot
}

// definition writes out every field but fp itself.
func (r *earlyRule) definition() string {
	c := *r
	c.fp = 0
	return definition("early", c)
}

// earlyState is one early rule's state for one sensor: a few words, no
// pointers.
type earlyState struct {
	level sensors.Level // level of the open alert; LevelNone when none
	since int64         // open alert's StartsAt, Unix ns
	value float64       // last evaluated value
	// Scratch of the stuck and jump tests.
	mark  int64   // stuck: when the held value began; jump: time of the last jump
	ref   float64 // stuck: the held value; jump: the value before the last reading
	count uint32  // stuck: consecutive readings within tolerance; jump: readings seen
}

func levelOr(l, def sensors.Level) sensors.Level {
	if l == sensors.LevelNone {
		return def
	}
	return l
}

// samplesOr defaults a minimum sample count to 6; a line through fewer
// than 3 points has no error estimate.
func samplesOr(n int) int {
	if n == 0 {
		return 6
	}
	return max(n, 3)
}

func perOr(p time.Duration) time.Duration {
	if p <= 0 {
		return time.Minute
	}
	return p
}

// compilePack turns a sensor's pack into rules, reporting every problem.
func compilePack(s *sensors.Sensor, p RulePack) ([]*earlyRule, error) {
	k := s.KindInfo()
	var rules []*earlyRule
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c := p.Rate; c != nil {
		per := perOr(c.Per)
		if c.Limit <= 0 || c.Window <= 0 {
			bad("rate: limit %g and window %s must be positive", c.Limit, c.Window)
		} else {
			rules = append(rules, &earlyRule{id: string(s.Kind) + "_rate", kind: kindRate, level: levelOr(c.Level, sensors.LevelYellow),
				dir: c.Direction, limit: c.Limit / per.Seconds(), per: per, window: int64(c.Window)})
		}
	}
	if c := p.Trend; c != nil {
		per := perOr(c.Per)
		if c.Limit <= 0 || c.Window <= 0 {
			bad("trend: limit %g and window %s must be positive", c.Limit, c.Window)
		} else {
			rules = append(rules, &earlyRule{id: string(s.Kind) + "_trend", kind: kindTrend, level: levelOr(c.Level, sensors.LevelYellow),
				dir: c.Direction, limit: c.Limit / per.Seconds(), per: per, window: int64(c.Window), minSamples: samplesOr(c.MinSamples)})
		}
	}
	if c := p.Forecast; c != nil {
		r := &earlyRule{id: string(s.Kind) + "_forecast", kind: kindForecast, level: levelOr(c.Level, forecastLevel(c.Horizon)),
			limit: c.MinSlope / 60, per: time.Minute, window: int64(c.Window), minSamples: samplesOr(c.MinSamples), horizon: int64(c.Horizon)}
		for _, sp := range s.EffectiveSetpoints() {
			// The first alarm is the least severe setpoint on each side.
			if sp.Direction == sensors.Above && (!r.hasAbove || sp.Value < r.above) {
				r.above, r.hasAbove = sp.Value, true
			}
			if sp.Direction == sensors.Below && (!r.hasBelow || sp.Value > r.below) {
				r.below, r.hasBelow = sp.Value, true
			}
		}
		switch {
		case c.Window <= 0 || c.Horizon <= 0 || c.MinSlope <= 0:
			bad("forecast: window %s, horizon %s and min slope %g must be positive", c.Window, c.Horizon, c.MinSlope)
		case r.hasAbove || r.hasBelow:
			rules = append(rules, r)
		}
		// Without setpoints there is nothing to forecast; that is not an
		// error, so one pack fits every sensor of a kind.
	}
	if c := p.Stuck; c != nil {
		if c.Window <= 0 || c.MinSamples < 2 || c.Tolerance < 0 {
			bad("stuck: window %s must be positive, min samples %d at least 2, tolerance %g not negative", c.Window, c.MinSamples, c.Tolerance)
		} else {
			rules = append(rules, &earlyRule{id: RuleSensorStuck, kind: kindStuck, level: levelOr(c.Level, sensors.LevelYellow),
				limit: c.Tolerance, window: int64(c.Window), minSamples: c.MinSamples})
		}
	}
	if c := p.Jump; c != nil {
		if c.Fraction <= 0 || c.Hold < 0 {
			bad("jump: fraction %g must be positive and hold %s not negative", c.Fraction, c.Hold)
		} else {
			rules = append(rules, &earlyRule{id: RuleSensorJump, kind: kindJump, level: levelOr(c.Level, sensors.LevelYellow),
				limit: c.Fraction * (k.Max - k.Min), hold: int64(c.Hold)})
		}
	}
	if c := p.Stale; c != nil {
		f := c.Factor
		if f == 0 {
			f = 3
		}
		if f < 1 || k.Interval <= 0 {
			bad("stale: factor %g must be at least 1 and the kind needs an interval", f)
		} else {
			rules = append(rules, &earlyRule{id: RuleSensorStale, kind: kindStale, level: levelOr(c.Level, sensors.LevelBlue),
				staleAfter: int64(f * float64(k.Interval)), interval: k.Interval})
		}
	}
	for _, r := range rules {
		if r.level < sensors.LevelRed || r.level > sensors.LevelBlue {
			bad("%s: level %d is not 1-4", r.id, r.level)
		}
	}
	return rules, errors.Join(errs...)
}

// windowed reports whether the rule reads the sensor's sample window.
func (r *earlyRule) windowed() bool {
	return r.kind == kindRate || r.kind == kindTrend || r.kind == kindForecast
}

// step is the rule's state machine for one reading, like
// ThresholdRule.step: pure, on device time. w already holds the reading;
// alarmed says whether a threshold alert of the sensor is open, in which
// case a forecast has nothing left to warn of. Early rules have one
// level, so they fire and resolve; the window and the hysteresis in want
// stand in for an on-delay.
func (r *earlyRule) step(st earlyState, w *window, v float64, at int64, alarmed bool) (earlyState, transition) {
	from, updates := st.level, st.count
	var trip bool
	st, trip = r.want(st, w, v, at)
	if alarmed && r.kind == kindForecast {
		trip = false
	}
	st.value = v
	if trip {
		st.level = r.level
		if from == sensors.LevelNone {
			st.since = at
			if r.kind == kindForecast {
				st.count = 0
			}
		}
	} else {
		st.level = sensors.LevelNone
	}
	typ := classify(from, st.level)
	if typ == 0 && trip && r.kind == kindForecast && st.count != updates {
		typ = EventUpdated
	}
	return st, transition{typ: typ, from: from, to: st.level}
}

// want reports whether the alert should be open after this reading,
// given whether it is open now (open alerts hold at half the limit, the
// hysteresis that stops them flapping on noise).
func (r *earlyRule) want(st earlyState, w *window, v float64, at int64) (earlyState, bool) {
	open := st.level != sensors.LevelNone
	switch r.kind {
	case kindRate:
		rate, ok := r.rate(w, at)
		if !ok {
			return st, false
		}
		return st, r.beyond(rate, open)
	case kindTrend:
		f := w.fitSince(at - r.window)
		if f.n < r.minSamples {
			return st, false
		}
		if open {
			return st, r.beyond(f.slope, true)
		}
		return st, f.t >= minT && r.beyond(f.slope, false)
	case kindForecast:
		est, ok := r.forecast(w, v, at, open)
		switch {
		case !ok:
		case !open:
			// mark is the crossing time announced to the operator.
			st.mark = at + est.eta
		case 2*est.eta <= st.mark-at:
			// Due in half the time announced or less: tell the operator
			// again, with the new time (count counts the updates).
			st.mark = at + est.eta
			st.count++
		}
		return st, ok
	case kindStuck:
		if st.count == 0 || math.Abs(v-st.ref) > r.limit {
			st.ref, st.mark, st.count = v, at, 1
		} else if st.count < math.MaxUint32 {
			st.count++
		}
		return st, int(st.count) >= r.minSamples && at-st.mark >= r.window
	case kindJump:
		if st.count > 0 && math.Abs(v-st.value) > r.limit {
			st.mark = at
			st.ref = st.value
		}
		if st.count < math.MaxUint32 {
			st.count++
		}
		return st, st.count > 1 && st.mark != 0 && at-st.mark <= r.hold
	}
	// Stale: a reading arrived, so the sensor is not silent.
	return st, false
}

// minT is how many standard errors from zero a fitted slope must be to
// raise a trend or forecast alert. For pure noise the chance of |t| >= 3
// over 6-32 samples is 0.3-4 % per fit, and the slope and horizon limits
// must hold as well.
const minT = 3

// beyond reports whether a rate (per second) is past the limit in the
// rule's direction; open alerts hold down to half the limit.
func (r *earlyRule) beyond(rate float64, open bool) bool {
	if r.dir == sensors.Below {
		rate = -rate
	}
	if open {
		return rate >= r.limit/2
	}
	return rate >= r.limit
}

// rate is the change per second across the window, from the median of
// its three oldest samples to the median of its three newest, so that one
// spiky reading cannot raise it while a real rupture, a sustained drop,
// shows as soon as a second reading confirms it. It needs samples
// covering at least half the window, so a sensor just back from a gap is
// not judged on a few close readings.
func (r *earlyRule) rate(w *window, at int64) (float64, bool) {
	return w.robustRate(at-r.window, r.window/2)
}

// forecastEst is what a forecast says: the setpoint the value heads for,
// when it gets there (with a range), and the model behind it.
type forecastEst struct {
	target float64
	// eta is the predicted time to the setpoint, lo and hi the range an
	// operator is told (ns); hi < 0 means no upper bound (the trend may
	// stop before the setpoint).
	eta, lo, hi int64
	slope       float64 // unit per second now
	curved      bool    // an accelerating fit
	changed     bool    // fitted since a change point
	onset       int64   // device time the fitted trend began
}

// forecast extrapolates the trend since its last change to the first
// alarm setpoint on the side it is heading to, and reports whether the
// alert should be open.
func (r *earlyRule) forecast(w *window, v float64, at int64, open bool) (forecastEst, bool) {
	var est forecastEst
	if (r.hasAbove && v >= r.above) || (r.hasBelow && v <= r.below) {
		// The setpoint is reached: the threshold rule owns the alarm.
		return est, false
	}
	if !open && w.quietWithin(quietDepart) {
		// Most readings: the value sits near its long-run level, where
		// no trend can warn (minDepart), so the fit is not worth its cost.
		return est, false
	}
	m := w.rampSince(at-r.window, r.minSamples)
	// A fit over a fraction of the window extrapolates noise.
	if m.all < r.minSamples || m.span < r.window/2 {
		return est, false
	}
	// The trend since the change says when; whether to warn at all is
	// decided by the line through the whole window, as a trend must, or
	// by the trend since the change when it is strong enough to stand
	// out from a search over many change points.
	e := r.estimate(m.now, m.slope, m.se, m.curv, m.seCurv)
	est = e
	est.onset, est.changed = m.onset, m.n < m.all
	full := r.estimate(m.fullNow, m.fullSlope, 0, 0, 0)
	if open {
		// Held while either fit still heads for the setpoint in time:
		// a plateau of a few readings does not end the warning.
		if est.slope != 0 && math.Abs(est.slope) >= r.limit/2 && est.eta <= 2*r.horizon {
			return est, true
		}
		full.onset = at - m.span
		return full, full.slope != 0 && math.Abs(full.slope) >= r.limit/2 && full.eta <= 2*r.horizon
	}
	// Stationary noise wanders, but only so far: a trend warns once it
	// stands out from the noise (minT standard errors, the noise's
	// autocorrelation allowed for) and has carried the value further
	// from its long-run level than stationary noise ever goes: the model's
	// present value and the newest readings both departBar long-run
	// deviations away.
	// A change point is picked as the best of many, so the trend since
	// it needs a few samples too.
	// The parabola's present rate must agree with the rise it rests on:
	// a fall levelling out is not a rise beginning.
	if est.slope == 0 || (est.slope > 0) != (m.lineSlope > 0) || !m.warm || m.t < minT || math.Abs(m.slope) < r.limit || m.depart < departBar(m.fits)*m.sigma || m.recent < departBar(m.fits)*m.sigma ||
		(m.n < m.all && m.n < minSegment) {
		return est, false
	}
	return est, est.eta <= r.horizon
}

// minDepart is how many long-run noise deviations from its long-run level
// both the model's present value and the newest readings (their median
// of three) must be for a trend to warn. Either alone wanders that far
// now and then: a fit extrapolated over a wander of the noise, or a few
// high readings the fit does not follow. Together, and with the
// deviation learnt without the weight of lone spikes (clippedSSE), 5
// deviations keep AR(1) noise from paging whether the sensor spikes often,
// rarely or never, and let a rise that accelerates warn sooner than a bar
// on the model alone (see docs/alerting.md, "Scoring the rules"), once the
// long-run figures have settled (departBar).
const minDepart = 5

// quietDepart is how close to its long-run level, in long-run deviations,
// the newest three readings must all be for the forecast to skip its fit:
// their median is then within it too, short of minDepart.
const quietDepart = 3

// departBar is the departure, in long-run deviations, a trend must reach
// given how many fits the long-run figures rest on: 6 at first, falling to
// minDepart over settleFits fits (about the first half-hour of a 5-second
// sensor in quiet). Figures from a few minutes of noise may well be
// low, and the bar they set with them.
func departBar(fits int) float64 {
	return minDepart + (youngBar-minDepart)*max(0, 1-float64(fits)/settleFits)
}

// youngBar is the departure bar before any fit; settleFits the fits over
// which it falls to minDepart.
const (
	youngBar   = 6
	settleFits = 32
)

// minSegment is the fewest samples since a change point that may warn on
// their own.
const minSegment = 8

// estimate is the time to the setpoint the trend now + slope·x (+ curv·x²)
// heads for; slope 0 when it heads for none.
func (r *earlyRule) estimate(now, slope, se, curv, seCurv float64) forecastEst {
	var est forecastEst
	var dist float64
	switch {
	case slope > 0 && r.hasAbove:
		est.target, dist = r.above, r.above-now
	case slope < 0 && r.hasBelow:
		est.target, dist = r.below, now-r.below
	default:
		return est
	}
	dist = max(dist, 0)
	b := math.Abs(slope)
	est.slope = slope
	// Accelerating towards the setpoint: solve |c|x² + |b|x = dist.
	if c := curv; c != 0 && (c > 0) == (slope > 0) {
		c = math.Abs(c)
		root := func(c float64) float64 { return (-b + math.Sqrt(b*b+4*c*dist)) / (2 * c) }
		est.curved = true
		est.eta = int64(root(c) * 1e9)
		est.lo = int64(root(c+2*seCurv) * 1e9)
		// Should the acceleration stop, the present rate still gets there.
		est.hi = int64(dist / b * 1e9)
	} else {
		est.eta = int64(dist / b * 1e9)
		est.lo = int64(dist / (b + 2*se) * 1e9)
		est.hi = -1
		if b > 2*se {
			est.hi = int64(dist / (b - 2*se) * 1e9)
		}
	}
	if est.hi >= 0 && est.hi > 4*r.horizon {
		est.hi = -1
	}
	return est
}

// stale reports whether a sensor last heard from at received is silent at
// wall time now.
func (r *earlyRule) stale(received, now int64) bool {
	return now-received >= r.staleAfter
}

// event builds the Event for a transition of this rule; it runs only on
// transitions, so it may allocate.
func (r *earlyRule) event(tr transition, st earlyState, s *subjectInfo, w *window, at int64) Event {
	ev := Event{
		AlertID:   alertID(r.id, s.site, s.sensor, st.since),
		Rule:      r.id,
		Site:      s.site,
		Sensor:    s.sensor,
		Kind:      s.kind,
		Unit:      s.unit,
		Type:      tr.typ,
		Level:     tr.to,
		PrevLevel: tr.from,
		Value:     st.value,
		At:        unixTime(at),
		StartsAt:  unixTime(st.since),
	}
	head := fmt.Sprintf("%s %s at %s: ", s.kind, s.sensor, s.site)
	switch r.kind {
	case kindRate, kindTrend:
		r.rateEvent(&ev, head, s, w, at)
	case kindForecast:
		r.forecastEvent(&ev, head, st, s, w, at)
	default:
		r.faultEvent(&ev, head, st, s, at)
	}
	return ev
}

// rateEvent sets the setpoint and message of a rate or trend rule's event.
func (r *earlyRule) rateEvent(ev *Event, head string, s *subjectInfo, w *window, at int64) {
	val := formatValue(ev.Value) + " " + s.unit
	ev.Setpoint = r.limit * r.per.Seconds()
	var rate float64
	what := "over"
	if r.kind == kindRate {
		rate, _ = r.rate(w, at)
	} else {
		rate = w.fitSince(at - r.window).slope
		what = "trend over"
	}
	rate *= r.per.Seconds()
	dir := "rising"
	if r.dir == sensors.Below {
		dir = "falling"
	}
	perUnit := s.unit + "/" + perName(r.per)
	if ev.Type == EventFired {
		ev.Message = fmt.Sprintf("%s%s %s %s %s %s %s (limit %s)", head, val, dir, formatRate(math.Abs(rate)), perUnit,
			what, fmtDuration(time.Duration(r.window)), formatRate(ev.Setpoint))
	} else {
		ev.Message = fmt.Sprintf("%s%s, %s %s %s, below half the limit of %s (resolved)", head, val, formatRate(rate), perUnit,
			what+" "+fmtDuration(time.Duration(r.window)), formatRate(ev.Setpoint))
	}
}

// forecastEvent sets the setpoint, due times and message of a forecast
// rule's event.
func (r *earlyRule) forecastEvent(ev *Event, head string, st earlyState, s *subjectInfo, w *window, at int64) {
	val := formatValue(st.value) + " " + s.unit
	est, _ := r.forecast(w, st.value, at, true)
	dir := "rising"
	if est.slope < 0 {
		dir = "falling"
	}
	rate := formatRate(math.Abs(est.slope*60)) + " " + s.unit + "/min"
	if est.curved {
		rate += " and accelerating"
	}
	switch {
	case ev.Type == EventFired || ev.Type == EventUpdated:
		ev.Setpoint = est.target
		ev.Due, ev.DueFrom = unixTime(at+est.eta), unixTime(at+est.lo)
		if est.hi >= 0 {
			ev.DueTo = unixTime(at + est.hi)
		}
		since := ""
		if est.changed && est.onset < at {
			since = " since " + fmtDuration(time.Duration(at-est.onset)) + " ago"
		}
		when := "about " + etaWords(est.eta)
		if span := etaRange(est.lo, est.hi); span != etaWords(est.eta) {
			when = span + " (best estimate " + etaWords(est.eta) + ")"
		}
		ev.Message = fmt.Sprintf("%s%s %s %s%s, will reach %s in %s", head, val, dir, rate, since,
			formatValue(est.target), when)
		if ev.Type == EventUpdated {
			ev.Message += "; sooner than forecast before"
		}
	case (r.hasAbove && st.value >= r.above) || (r.hasBelow && st.value <= r.below):
		ev.Setpoint = r.above
		if r.hasBelow && st.value <= r.below {
			ev.Setpoint = r.below
		}
		ev.Message = fmt.Sprintf("%s%s reached the alarm setpoint %s; the threshold alarm takes over (forecast resolved)", head, val, formatValue(ev.Setpoint))
	default:
		ev.Setpoint = r.above
		if !r.hasAbove {
			ev.Setpoint = r.below
		}
		ev.Message = fmt.Sprintf("%s%s, trend %s %s: no longer heading for an alarm setpoint (forecast resolved)", head, val, dir, rate)
	}
}

// faultEvent sets the setpoint and message of a sensor-health rule's
// event: stuck, jump or stale.
func (r *earlyRule) faultEvent(ev *Event, head string, st earlyState, s *subjectInfo, at int64) {
	val := formatValue(st.value) + " " + s.unit
	fired := ev.Type == EventFired
	switch r.kind {
	case kindStuck:
		ev.Setpoint = r.limit
		if fired {
			ev.Message = fmt.Sprintf("%sstuck at %s for %s (%d readings unchanged); sensor fault suspected", head, val,
				fmtDuration(time.Duration(at-st.mark)), st.count)
		} else {
			ev.Message = fmt.Sprintf("%s%s, the value moves again (sensor_stuck resolved)", head, val)
		}
	case kindJump:
		ev.Setpoint = r.limit
		if fired {
			ev.Message = fmt.Sprintf("%sjumped from %s to %s %s in one reading (more than %s); sensor fault suspected", head,
				formatValue(st.ref), formatValue(st.value), s.unit, formatValue(r.limit))
		} else {
			ev.Message = fmt.Sprintf("%s%s, no further jump for %s (sensor_jump resolved)", head, val, fmtDuration(time.Duration(r.hold)))
		}
	case kindStale:
		ev.Setpoint = time.Duration(r.staleAfter).Seconds()
		if fired {
			ev.Message = fmt.Sprintf("%sno reading received for %s (expected every %s); last value %s", head,
				fmtDuration(time.Duration(at-st.mark)), fmtDuration(r.interval), val)
		} else {
			ev.Message = fmt.Sprintf("%sreadings received again (sensor_stale resolved): %s", head, val)
		}
	}
}

func perName(d time.Duration) string {
	switch d {
	case time.Second:
		return "s"
	case time.Minute:
		return "min"
	case time.Hour:
		return "h"
	case 24 * time.Hour:
		return "d"
	}
	return fmtDuration(d)
}

// formatRate prints a rate to three significant digits: "1.8", "0.0452".
func formatRate(v float64) string { return strconv.FormatFloat(roundSig(v, 3), 'g', -1, 64) }

func roundSig(v float64, digits int) float64 {
	if v == 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return v
	}
	p := math.Pow(10, float64(digits)-math.Ceil(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}

// etaWords writes a predicted time as a plain figure: "45 s", "6 min".
func etaWords(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d < 2*time.Minute:
		return fmt.Sprintf("%d s", int(math.Round(d.Seconds())))
	case d < 90*time.Minute:
		return fmt.Sprintf("%d min", int(math.Round(d.Minutes())))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(math.Round(d.Hours())))
	}
	return fmt.Sprintf("%d days", int(math.Round(d.Hours()/24)))
}

// etaRange writes the range of a predicted time: "40–90 s", "3–5 min",
// "40 s–3 min", or "40 s or later" when it has no upper bound.
func etaRange(lo, hi int64) string {
	if hi < 0 {
		return etaWords(lo) + " or later"
	}
	a, b := etaWords(lo), etaWords(hi)
	if a == b {
		return a
	}
	ua, ub := a[strings.LastIndexByte(a, ' '):], b[strings.LastIndexByte(b, ' '):]
	if ua == ub {
		return strings.TrimSuffix(a, ua) + "–" + b
	}
	return a + "–" + b
}

// fmtDuration prints whole seconds: "5m0s", not "5m0.000000123s".
func fmtDuration(d time.Duration) string { return d.Round(time.Second).String() }

// earlyFamily is the ruleKind of the early-warning and sensor-health
// rules, subject.early. sensor_stale is time-driven: Tick raises it and
// any reading (see Engine.heard) resolves it.
type earlyFamily struct{}

func (earlyFamily) tick(e *Engine, set *ruleSet, s *subject, now int64) {
	if s.stale < 0 {
		return
	}
	if s.received == 0 {
		s.received = now
		return
	}
	rs := &s.early[s.stale]
	if rs.st.level != sensors.LevelNone || !rs.rule.stale(s.received, now) {
		return
	}
	if set.inhibit != nil && set.inhibit(s.site, s.sensor, s.gateway, s.device) {
		return
	}
	rs.st.level, rs.st.since, rs.st.mark = rs.rule.level, now, s.received
	e.applyEarly(s, rs, transition{typ: EventFired, to: rs.rule.level}, now, false)
}

func (earlyFamily) rebase(s *subject, shift func(*int64)) {
	for i := range s.early {
		shift(&s.early[i].st.mark)
	}
}

func (earlyFamily) snapshot(s *subject, out []RuleSnapshot) []RuleSnapshot {
	for _, rs := range s.early {
		st := rs.st
		if st.level == sensors.LevelNone && rs.rule.kind != kindStuck && rs.rule.kind != kindJump {
			continue // only stuck and jump keep scratch between alerts
		}
		out = append(out, RuleSnapshot{ID: rs.rule.id, Fingerprint: rs.rule.fp, Level: st.level, Since: st.since,
			Value: st.value, Mark: st.mark, Ref: st.ref, Count: st.count})
	}
	return out
}

func (earlyFamily) restore(s *subject, rs RuleSnapshot) (kept, known bool) {
	for i := range s.early {
		r := &s.early[i]
		if r.rule.id != rs.ID {
			continue
		}
		if r.rule.fp == rs.Fingerprint {
			r.st = earlyState{level: rs.Level, since: rs.Since, value: rs.Value, mark: rs.Mark, ref: rs.Ref, count: rs.Count}
			return true, true
		}
		known = true
	}
	return false, known
}

func (earlyFamily) active(s *subject, out []Alert) []Alert {
	for _, rs := range s.early {
		if rs.st.level != sensors.LevelNone {
			out = append(out, Alert{ID: alertID(rs.rule.id, s.site, s.sensor, rs.st.since), Rule: rs.rule.id,
				Site: s.site, Sensor: s.sensor, Kind: s.kind, Unit: s.unit, State: StateFiring, Level: rs.st.level,
				Value: rs.st.value, LastAt: lastAt(s), Since: unixTime(rs.st.since)})
		}
	}
	return out
}

func (earlyFamily) forget(s *subject, id string) bool {
	for i := range s.early {
		st := &s.early[i].st
		if st.level != sensors.LevelNone && alertID(s.early[i].rule.id, s.site, s.sensor, st.since) == id {
			st.level = sensors.LevelNone
			return true
		}
	}
	return false
}

func (earlyFamily) adopt(s *subject, rec Record) bool {
	for i := range s.early {
		st := &s.early[i].st
		if s.early[i].rule.id == rec.Rule && st.level == sensors.LevelNone {
			st.level, st.since = rec.Level, rec.StartsAt.UnixNano()
			return true
		}
	}
	return false
}
