package alerting

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// Exposure rules compare a toxic gas's time-weighted average with its
// occupational exposure limit (职业接触限值, GBZ 2.1-2019): the 8-hour
// average with the PC-TWA ("<kind>_twa") and the 15-minute average with
// the PC-STEL, or for gases with only a ceiling (MAC) with the MAC
// ("<kind>_stel"). The threshold rules answer "is it dangerous now"; these
// answer "has the air here been worse than people may breathe over a
// shift", which a concentration hovering under the first setpoint never
// trips.

// Exposure windows and the buckets they are kept in. An average over a
// window needs the readings of the whole window; keeping them all would
// cost kilobytes per sensor, so readings are summed into buckets and the
// window moves a bucket at a time. docs/alerting.md gives the accuracy.
const (
	twaWindow   = 8 * time.Hour
	twaBucket   = 10 * time.Minute
	twaBuckets  = int(twaWindow / twaBucket) // 48
	stelWindow  = 15 * time.Minute
	stelBucket  = time.Minute
	stelBuckets = int(stelWindow / stelBucket) // 15
)

// ExposureLimit is the occupational exposure limit of a toxic gas kind, in
// the kind's unit. A zero limit means no rule of that kind.
type ExposureLimit struct {
	// TWA is the 8-hour time-weighted average limit (PC-TWA).
	TWA float64
	// STEL is the 15-minute limit: the PC-STEL, or the MAC for gases that
	// have only a ceiling, which a fixed detector can only judge as a
	// short average.
	STEL float64
	// Basis names the limits in messages, e.g. "PC-TWA/PC-STEL".
	Basis string
	// Level defaults to 2 orange.
	Level sensors.Level
	// MaxGap is the longest interval between two readings that counts as
	// exposure time; a longer one is a gap of unknown exposure and counts
	// neither as exposure nor as zero. Default 3 × the kind's interval,
	// the point at which sensor_stale raises.
	MaxGap time.Duration
}

// DefaultExposureLimits are the limits of GBZ 2.1-2019 as the hazchem
// vendor table in /work/shared/domain.md (a1) quotes them: CO and NH3
// PC-TWA 20 / PC-STEL 30 mg/m3, SO2 5 / 10, H2S MAC 10, Cl2 MAC 1. A new
// map is returned each call, so callers may change it.
func DefaultExposureLimits() map[sensors.KindID]ExposureLimit {
	return map[sensors.KindID]ExposureLimit{
		"co":  {TWA: 20, STEL: 30, Basis: "PC-TWA/PC-STEL"},
		"nh3": {TWA: 20, STEL: 30, Basis: "PC-TWA/PC-STEL"},
		"so2": {TWA: 5, STEL: 10, Basis: "PC-TWA/PC-STEL"},
		"h2s": {STEL: 10, Basis: "MAC"},
		"cl2": {STEL: 1, Basis: "MAC"},
	}
}

// exposureRule is one compiled TWA or STEL rule.
type exposureRule struct {
	id     string
	name   string // "8-h TWA" or "15-min average"
	basis  string // the limit's name in messages
	level  sensors.Level
	limit  float64
	window float64 // seconds
	bucket int64   // ns
	maxGap int64   // ns
	fp     uint64  // fingerprint of the above; see Snapshot
}

func (r *exposureRule) definition() string {
	c := *r
	c.fp = 0
	return definition("exposure", c)
}

// doseBucket is the exposure of one bucket: the concentration integrated
// over the covered time, and that time. float32 halves the state, and its
// 7 digits are far finer than any gas detector.
type doseBucket struct {
	dose    float32 // unit·s
	covered float32 // s
}

// exposure is a sensor's exposure state: fixed rings, no pointers into
// the heap but the two compiled rules, which are shared.
type exposure struct {
	twaRule, stelRule *exposureRule // nil when off
	twa               [twaBuckets]doseBucket
	stel              [stelBuckets]doseBucket
	twaHead, stelHead int64 // bucket number (device time / width) of the newest bucket
	prevAt            int64 // device time of the previous reading, Unix ns; 0 before the first
	prevV             float64
	twaSt, stelSt     exposureState
}

// exposureSlot is one of a sensor's two exposure rules with its state;
// rule is nil when that rule is off.
type exposureSlot struct {
	rule *exposureRule
	st   *exposureState
}

// rules lists the TWA and STEL rules with their states.
func (x *exposure) rules() [2]exposureSlot {
	return [2]exposureSlot{{x.twaRule, &x.twaSt}, {x.stelRule, &x.stelSt}}
}

// exposureState is one exposure alert: its level (LevelNone when none),
// StartsAt and the last average.
type exposureState struct {
	level sensors.Level
	since int64
	value float64
}

// compileExposure builds a sensor's exposure state from its kind's limit,
// or returns nil when the kind has none.
func compileExposure(s *sensors.Sensor, limits map[sensors.KindID]ExposureLimit) (*exposure, error) {
	l, ok := limits[s.Kind]
	if !ok || (l.TWA == 0 && l.STEL == 0) {
		return nil, nil
	}
	k := s.KindInfo()
	// The limits are in the kind's own unit (mg/m3 for the toxic gases);
	// a sensor reporting in another (ppm) is judged against them
	// converted into its unit, as its setpoints are.
	twa, okT := k.FromOwnUnit(l.TWA)
	stel, okS := k.FromOwnUnit(l.STEL)
	if !okT || !okS {
		return nil, fmt.Errorf("exposure: the %s limits cannot be converted into the sensor's unit %s", s.Kind, k.Unit)
	}
	l.TWA, l.STEL = twa, stel
	gap := l.MaxGap
	if gap == 0 {
		gap = 3 * k.Interval
	}
	level := levelOr(l.Level, sensors.LevelOrange)
	var errs []error
	if l.TWA < 0 || l.STEL < 0 {
		errs = append(errs, fmt.Errorf("exposure: limits TWA %g and STEL %g must not be negative", l.TWA, l.STEL))
	}
	if gap <= 0 {
		errs = append(errs, fmt.Errorf("exposure: max gap %s must be positive (the kind has no interval)", gap))
	}
	if level < sensors.LevelRed || level > sensors.LevelBlue {
		errs = append(errs, fmt.Errorf("exposure: level %d is not 1-4", level))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// "PC-TWA/PC-STEL" names the TWA limit first and the STEL second; a
	// single name such as "MAC" serves both.
	twaBasis, stelBasis, found := strings.Cut(cmp.Or(l.Basis, "limit"), "/")
	if !found {
		stelBasis = twaBasis
	}
	x := &exposure{}
	if l.TWA > 0 {
		x.twaRule = &exposureRule{id: string(s.Kind) + "_twa", name: "8-h TWA", basis: twaBasis, level: level,
			limit: l.TWA, window: twaWindow.Seconds(), bucket: int64(twaBucket), maxGap: int64(gap)}
	}
	if l.STEL > 0 {
		x.stelRule = &exposureRule{id: string(s.Kind) + "_stel", name: "15-min average", basis: stelBasis, level: level,
			limit: l.STEL, window: stelWindow.Seconds(), bucket: int64(stelBucket), maxGap: int64(gap)}
	}
	return x, nil
}

// add credits the interval from the previous reading to this one to both
// rings. Industrial hygiene weights each concentration by the time it
// stands for; between two readings the trapezoid does that. An interval
// longer than the max gap is unknown exposure and is not credited, so it
// neither raises nor dilutes the average. Concentrations below zero
// (detector drift) count as zero.
func (x *exposure) add(v float64, at int64) {
	prevAt, prevV := x.prevAt, x.prevV
	x.prevAt, x.prevV = at, v
	advance(x.twa[:], &x.twaHead, int64(twaBucket), at)
	advance(x.stel[:], &x.stelHead, int64(stelBucket), at)
	dt := at - prevAt
	if prevAt == 0 || dt <= 0 || dt > x.maxGap() {
		return
	}
	secs := float64(dt) / 1e9
	dose := (max(prevV, 0) + max(v, 0)) / 2 * secs
	// The whole interval goes to the bucket of its end: with intervals of
	// seconds and buckets of minutes the misplaced part is negligible.
	x.book(dose, secs)
}

// book adds dose over secs to the newest bucket of both rings.
func (x *exposure) book(dose, secs float64) {
	b := &x.twa[x.twaHead%int64(twaBuckets)]
	b.dose += float32(dose)
	b.covered += float32(secs)
	b = &x.stel[x.stelHead%int64(stelBuckets)]
	b.dose += float32(dose)
	b.covered += float32(secs)
}

// credit books an aggregate — a mean concentration over secs of readings
// in an interval ending at device time end — to the buckets holding the
// interval's last instant, and makes it the previous reading, so the
// next live one is credited from there.
func (x *exposure) credit(mean, secs float64, end int64) {
	last := end - 1 // the interval ends before end: [start, end)
	advance(x.twa[:], &x.twaHead, int64(twaBucket), last)
	advance(x.stel[:], &x.stelHead, int64(stelBucket), last)
	x.book(max(mean, 0)*secs, secs)
	x.prevAt, x.prevV = end, mean
}

func (x *exposure) maxGap() int64 {
	if x.twaRule != nil {
		return x.twaRule.maxGap
	}
	return x.stelRule.maxGap
}

// advance moves a ring's newest bucket to the one holding device time at,
// emptying the buckets it passes so that the ring holds only the window.
func advance(ring []doseBucket, head *int64, width, at int64) {
	slot := at / width
	if slot <= *head {
		return
	}
	n := int64(len(ring))
	for s := max(*head+1, slot-n+1); s <= slot; s++ {
		ring[s%n] = doseBucket{}
	}
	*head = slot
}

// total sums a ring: the dose and covered seconds of the window.
func total(ring []doseBucket) (dose, covered float64) {
	for _, b := range ring {
		dose += float64(b.dose)
		covered += float64(b.covered)
	}
	return dose, covered
}

// exposureHold is the fraction of the limit an open exposure alert holds
// down to, so an average that sits on the limit does not flap each time
// a bucket leaves the window.
const exposureHold = 0.95

// want reports whether the alert should be open, given the window's dose
// and covered seconds. The exposure is certainly over the limit once the
// known dose alone reaches limit × window, whatever the gaps held; short
// of that the average of the covered time stands for the window only
// once readings cover at least half of it.
func (r *exposureRule) want(open bool, dose, covered float64) bool {
	if covered <= 0 {
		return open // nothing known: no change
	}
	avg := dose / covered
	if open {
		return avg >= exposureHold*r.limit || dose >= r.limit*r.window
	}
	return dose >= r.limit*r.window || (covered >= r.window/2 && avg >= r.limit)
}

// step is the rule's state machine for one reading, pure like the others.
func (r *exposureRule) step(st exposureState, dose, covered float64, at int64) (exposureState, transition) {
	from := st.level
	if covered > 0 {
		st.value = dose / covered
	}
	if r.want(from != sensors.LevelNone, dose, covered) {
		st.level = r.level
		if from == sensors.LevelNone {
			st.since = at
		}
	} else {
		st.level = sensors.LevelNone
	}
	return st, transition{typ: classify(from, st.level), from: from, to: st.level}
}

// evaluateExposure credits a reading and steps both rules, emitting each
// transition. It does not allocate unless a rule changes.
func (e *Engine) evaluateExposure(s *subject, v float64, at int64, late bool) {
	x := s.exp
	x.add(v, at)
	if x.twaRule != nil {
		dose, covered := total(x.twa[:])
		e.stepExposure(s, x.twaRule, &x.twaSt, dose, covered, at, late)
	}
	if x.stelRule != nil {
		dose, covered := total(x.stel[:])
		e.stepExposure(s, x.stelRule, &x.stelSt, dose, covered, at, late)
	}
}

func (e *Engine) stepExposure(s *subject, r *exposureRule, st *exposureState, dose, covered float64, at int64, late bool) {
	var tr transition
	*st, tr = r.step(*st, dose, covered, at)
	if tr.typ == 0 {
		return
	}
	e.logChange(s, r.id, earlyPhase(tr.from), earlyPhase(tr.to), st.value, at)
	e.record(r.id, tr)
	ev := r.event(tr, *st, covered, &s.subjectInfo, at)
	ev.Late = late
	e.sink.Emit(ev)
}

// event builds the Event of a transition. Value is the average exposure,
// not the reading: that is what was compared with Setpoint.
func (r *exposureRule) event(tr transition, st exposureState, covered float64, s *subjectInfo, at int64) Event {
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
		Setpoint:  r.limit,
		At:        unixTime(at),
		StartsAt:  unixTime(st.since),
	}
	head := fmt.Sprintf("%s %s at %s: ", s.kind, s.sensor, s.site)
	avg := formatRate(st.value) + " " + s.unit
	lim := formatValue(r.limit) + " " + s.unit
	over := fmtDuration(time.Duration(math.Round(covered)) * time.Second)
	if tr.typ == EventFired {
		ev.Message = fmt.Sprintf("%s%s %s over %s of readings, at or above the %s of %s", head, r.name, avg, over, r.basis, lim)
	} else {
		ev.Message = fmt.Sprintf("%s%s %s over %s of readings, below the %s of %s (%s resolved)", head, r.name, avg, over, r.basis, lim, r.id)
	}
	return ev
}

// activeExposure lists a sensor's open exposure alerts.
func activeExposure(s *subject, out []Alert) []Alert {
	x := s.exp
	for _, p := range x.rules() {
		if p.rule == nil || p.st.level == sensors.LevelNone {
			continue
		}
		out = append(out, Alert{ID: alertID(p.rule.id, s.site, s.sensor, p.st.since), Rule: p.rule.id,
			Site: s.site, Sensor: s.sensor, Kind: s.kind, Unit: s.unit, State: StateFiring, Level: p.st.level,
			Value: p.st.value, LastAt: lastAt(s), Since: unixTime(p.st.since)})
	}
	return out
}

// exposureFamily is the ruleKind of the TWA and STEL rules, subject.exp.
type exposureFamily struct{}

func (exposureFamily) tick(*Engine, *ruleSet, *subject, int64) {}

// rebase leaves the dose rings alone: they are bucketed by device time
// and a step back only leaves a gap in them.
func (exposureFamily) rebase(*subject, func(*int64)) {}

func (exposureFamily) snapshot(s *subject, out []RuleSnapshot) []RuleSnapshot {
	if s.exp == nil {
		return out
	}
	for _, p := range s.exp.rules() {
		if p.rule != nil {
			rs := exposureSnap(p.rule.id, *p.st)
			rs.Fingerprint = p.rule.fp
			out = append(out, rs)
		}
	}
	return out
}

func (exposureFamily) restore(s *subject, rs RuleSnapshot) (kept, known bool) {
	if s.exp == nil {
		return false, false
	}
	for _, p := range s.exp.rules() {
		if p.rule == nil || p.rule.id != rs.ID {
			continue
		}
		if p.rule.fp == rs.Fingerprint {
			*p.st = exposureFrom(rs)
			return true, true
		}
		known = true
	}
	return false, known
}

func (exposureFamily) active(s *subject, out []Alert) []Alert {
	if s.exp == nil {
		return out
	}
	return activeExposure(s, out)
}

func (exposureFamily) forget(s *subject, id string) bool {
	if s.exp == nil {
		return false
	}
	for _, p := range s.exp.rules() {
		if p.rule != nil && p.st.level != sensors.LevelNone && alertID(p.rule.id, s.site, s.sensor, p.st.since) == id {
			p.st.level = sensors.LevelNone
			return true
		}
	}
	return false
}

func (exposureFamily) adopt(s *subject, rec Record) bool {
	if s.exp == nil {
		return false
	}
	for _, p := range s.exp.rules() {
		if p.rule != nil && p.rule.id == rec.Rule && p.st.level == sensors.LevelNone {
			p.st.level, p.st.since = rec.Level, rec.StartsAt.UnixNano()
			return true
		}
	}
	return false
}
