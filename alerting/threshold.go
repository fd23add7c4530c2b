package alerting

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// ThresholdRule is a multi-level threshold on one sensor's value: the
// alert reaches the most severe setpoint the value trips once it has held
// for For, and leaves a level only when the value is back past that
// level's restore value. See the package documentation for the lifecycle.
// A rule is immutable and safe for concurrent use.
type ThresholdRule struct {
	id  string
	dir sensors.Direction
	// sps is sorted most severe first, so the first setpoint a value trips
	// is the level it reaches.
	sps    []sensors.Setpoint
	forDur time.Duration
	// offDur is the off-delay: how long the value must stay past a
	// level's restore value before the alert leaves it.
	offDur time.Duration
	// m of the last n readings must trip a level for it to count; m == 0
	// means every reading decides alone.
	m, n int
	// fp is the fingerprint of all of the above, set when the engine
	// compiles the rule; see Snapshot. levelsFP covers only what decides
	// the levels (id, direction, setpoints): when just the timing changed,
	// an open alert is kept rather than closed and raised again.
	fp, levelsFP uint64
}

// definition writes out what the rule's state depends on: equal
// definitions are the same rule.
func (r *ThresholdRule) definition() string {
	return definition(append([]any{"threshold", r.id, r.dir, r.forDur, r.offDur, r.m, r.n}, r.setpointParts()...)...)
}

// levelsDefinition is definition without the timing (on-delay,
// off-delay, M-of-N).
func (r *ThresholdRule) levelsDefinition() string {
	return definition(append([]any{"threshold-levels", r.id, r.dir}, r.setpointParts()...)...)
}

func (r *ThresholdRule) setpointParts() []any {
	sps := make([]any, 0, 4*len(r.sps))
	for _, sp := range r.sps {
		sps = append(sps, sp.Level, sp.Direction, sp.Value, sp.Clear)
	}
	return sps
}

// MOfN is an "M of the last N readings" confirmation, e.g. 3 of 5.
type MOfN struct{ M, N int }

// WithMOfN returns a copy of the rule in which a level counts as tripping
// only when m of the sensor's last n readings (up to 32) tripped it; For
// still applies from the reading that confirms it. Restore values are
// unchanged: one reading back past them resolves. m == 0 turns it off.
func (r *ThresholdRule) WithMOfN(m, n int) (*ThresholdRule, error) {
	if m < 0 || n > 32 || (m > 0 && m > n) {
		return nil, fmt.Errorf("threshold rule %q: %d of %d readings: want 0 <= m <= n <= 32", r.id, m, n)
	}
	c := *r
	c.m, c.n = m, n
	return &c, nil
}

// WithOffDelay returns a copy of the rule with an off-delay (ISA-18.2):
// the alert leaves a level only once the value has stayed past that
// level's restore value for d of device time; a reading back inside
// cancels the clearing. Zero clears on the first reading past it.
func (r *ThresholdRule) WithOffDelay(d time.Duration) (*ThresholdRule, error) {
	if d < 0 {
		return nil, fmt.Errorf("threshold rule %q: negative off-delay %s", r.id, d)
	}
	c := *r
	c.offDur = d
	return &c, nil
}

// OffDelay is the rule's off-delay; see WithOffDelay.
func (r *ThresholdRule) OffDelay() time.Duration { return r.offDur }

// MOfN is the rule's M-of-N confirmation; M is 0 when it has none.
func (r *ThresholdRule) MOfN() MOfN { return MOfN{r.m, r.n} }

// NewThresholdRule checks and builds a rule. Every setpoint must point in
// dir, have a distinct level, and have its restore value (Clear) already
// resolved (sensors.Kind.Resolve does that); a more severe level must not
// sit on the safe side of a less severe one. All problems are reported at
// once.
func NewThresholdRule(id string, dir sensors.Direction, setpoints []sensors.Setpoint, forDur time.Duration) (*ThresholdRule, error) {
	sps := slices.Clone(setpoints)
	slices.SortStableFunc(sps, func(a, b sensors.Setpoint) int { return int(a.Level) - int(b.Level) })
	var errs []error
	if id == "" {
		errs = append(errs, errors.New("empty id"))
	}
	if len(sps) == 0 {
		errs = append(errs, errors.New("no setpoints"))
	}
	if forDur < 0 {
		errs = append(errs, fmt.Errorf("negative for %s", forDur))
	}
	for i, sp := range sps {
		if sp.Level < sensors.LevelRed || sp.Level > sensors.LevelBlue {
			errs = append(errs, fmt.Errorf("setpoint %g: level %d is not 1-4", sp.Value, sp.Level))
		}
		if sp.Direction != dir {
			errs = append(errs, fmt.Errorf("level %s: direction %s in a %s rule", sp.Level, sp.Direction, dir))
		}
		if math.IsNaN(sp.Value) || math.IsNaN(sp.Clear) {
			errs = append(errs, fmt.Errorf("level %s: setpoint or restore value is NaN", sp.Level))
		}
		// A restore value on the alarm side would let a value clear while
		// it still trips, and the alert would flap on every reading.
		if (dir == sensors.Above && sp.Clear > sp.Value) || (dir == sensors.Below && sp.Clear < sp.Value) {
			errs = append(errs, fmt.Errorf("level %s: restore value %g is on the alarm side of setpoint %g", sp.Level, sp.Clear, sp.Value))
		}
		if i == 0 {
			continue
		}
		prev := sps[i-1] // more severe than sp
		if prev.Level == sp.Level {
			errs = append(errs, fmt.Errorf("level %s set twice", sp.Level))
		} else if (dir == sensors.Above && prev.Value < sp.Value) || (dir == sensors.Below && prev.Value > sp.Value) {
			errs = append(errs, fmt.Errorf("level %s setpoint %g is %s level %s setpoint %g", prev.Level, prev.Value, safeSide(dir), sp.Level, sp.Value))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("threshold rule %q: %w", id, errors.Join(errs...))
	}
	return &ThresholdRule{id: id, dir: dir, sps: sps, forDur: forDur}, nil
}

func safeSide(dir sensors.Direction) string {
	if dir == sensors.Below {
		return "above"
	}
	return "below"
}

// ID names the rule, e.g. "combustible_gas_high".
func (r *ThresholdRule) ID() string { return r.id }

// Direction is the side of the setpoints that is bad.
func (r *ThresholdRule) Direction() sensors.Direction { return r.dir }

// For is the on-delay: how long, in device time, a level must keep
// tripping before the alert is raised or escalated to it.
func (r *ThresholdRule) For() time.Duration { return r.forDur }

// Setpoints returns a copy of the setpoints, most severe first.
func (r *ThresholdRule) Setpoints() []sensors.Setpoint { return slices.Clone(r.sps) }

// thresholdState is one rule's state for one sensor. It is a few words
// and holds no pointers, so a fleet of sensors costs little memory and the
// garbage collector has nothing to scan. Phases are derived from it:
// inactive (level and next none), pending (level none, next set), firing
// (level set; next set while an escalation waits out For).
type thresholdState struct {
	level sensors.Level // level of the open alert; LevelNone when none is open
	next  sensors.Level // more severe level waiting out For; LevelNone when none
	// clearing is set while the value is past the open level's restore
	// value and the off-delay runs; clearTo is the level the alert will
	// step down to, clearSince when the value first passed.
	clearing   bool
	clearTo    sensors.Level
	since      int64   // open alert's StartsAt, device time in Unix ns
	nextSince  int64   // device time next began to trip, Unix ns
	clearSince int64   // device time the clearing began, Unix ns
	value      float64 // last evaluated value
	// hist has, per setpoint in the rule's order, one bit per recent
	// reading, newest lowest: set when that reading tripped it. Only
	// M-of-N rules use it.
	hist [4]uint32
}

// transition is what a step changed, in terms an Event is built from.
type transition struct {
	typ      EventType // zero when nothing is to be told
	from, to sensors.Level
}

// step is the rule's state machine and the only place its state changes.
// It is pure: the same state, value and device time always give the same
// result, which is what makes replays and restores reproducible.
func (r *ThresholdRule) step(st thresholdState, v float64, at int64) (thresholdState, transition) {
	from := st.level
	st.value = v
	if from != sensors.LevelNone {
		st.level = r.offDelay(&st, r.held(v, from), at)
		if st.level == sensors.LevelNone {
			// Back past every restore value: the alert ends, and with it
			// any escalation that was waiting. A new alert needs a new
			// trip on a later reading.
			st.next = sensors.LevelNone
			return st, transition{typ: EventResolved, from: from}
		}
	}
	target := r.tripped(v)
	if r.m > 0 {
		st.hist = r.shift(st.hist, v)
		target = r.confirmed(st.hist)
	}
	switch {
	case !target.MoreSevere(st.level):
		// Nothing more severe than the current level trips: any wait
		// restarts (ISA-18.2 on-delay; the hysteresis band only holds
		// alerts already raised).
		st.next = sensors.LevelNone
	case st.next == sensors.LevelNone:
		st.next, st.nextSince = target, at
	default:
		// Still tripping something more severe; the wait goes on from when
		// it began, whichever level trips now.
		st.next = target
	}
	if st.next != sensors.LevelNone && at-st.nextSince >= int64(r.forDur) {
		if st.level == sensors.LevelNone {
			st.since = st.nextSince
		}
		st.level, st.next = st.next, sensors.LevelNone
	}
	return st, transition{typ: classify(from, st.level), from: from, to: st.level}
}

// offDelay applies the off-delay to an open alert whose value now holds
// level to: it returns the level the alert is at after this reading.
// While the value stays past the open level's restore value the alert
// keeps its level until the off-delay has run from the first such
// reading; a reading back inside cancels the clearing. If the value
// falls further during the off-delay, the alert steps to the level it
// first headed for and the next step takes another off-delay, so no
// level is ever left sooner than the off-delay after its restore value
// was passed. A partial return narrows the step to the level now held.
func (r *ThresholdRule) offDelay(st *thresholdState, to sensors.Level, at int64) sensors.Level {
	from := st.level
	switch {
	case to == from:
		st.clearing = false
		return from
	case r.offDur <= 0:
		st.clearing = false
		return to
	case !st.clearing:
		st.clearing, st.clearTo, st.clearSince = true, to, at
	case to.MoreSevere(st.clearTo):
		st.clearTo = to
	}
	if at-st.clearSince < int64(r.offDur) {
		return from
	}
	down := st.clearTo
	st.clearing = false
	if down != to {
		// The value is past the next restore value too; that step's off-
		// delay starts now.
		st.clearing, st.clearTo, st.clearSince = true, to, at
	}
	return down
}

// classify names the change from one level to another.
func classify(from, to sensors.Level) EventType {
	switch {
	case from == to:
		return 0
	case from == sensors.LevelNone:
		return EventFired
	case to == sensors.LevelNone:
		return EventResolved
	case to.MoreSevere(from):
		return EventEscalated
	default:
		return EventDeescalated
	}
}

// tripped is the most severe level whose setpoint v trips.
func (r *ThresholdRule) tripped(v float64) sensors.Level {
	for _, sp := range r.sps {
		if sp.Trips(v) {
			return sp.Level
		}
	}
	return sensors.LevelNone
}

// shift records whether v trips each setpoint.
func (r *ThresholdRule) shift(h [4]uint32, v float64) [4]uint32 {
	for i, sp := range r.sps {
		h[i] <<= 1
		if sp.Trips(v) {
			h[i] |= 1
		}
	}
	return h
}

// confirmed is the most severe level that m of the last n readings
// tripped.
func (r *ThresholdRule) confirmed(h [4]uint32) sensors.Level {
	mask := uint32(1)<<r.n - 1
	if r.n == 32 {
		mask = math.MaxUint32
	}
	for i, sp := range r.sps {
		if bits.OnesCount32(h[i]&mask) >= r.m {
			return sp.Level
		}
	}
	return sensors.LevelNone
}

// held is the most severe level, no more severe than l, whose restore value
// v has not crossed: the level an alert at l stays at given v.
func (r *ThresholdRule) held(v float64, l sensors.Level) sensors.Level {
	for _, sp := range r.sps {
		if !sp.Level.MoreSevere(l) && !sp.Clears(v) {
			return sp.Level
		}
	}
	return sensors.LevelNone
}

func (r *ThresholdRule) setpoint(l sensors.Level) sensors.Setpoint {
	for _, sp := range r.sps {
		if sp.Level == l {
			return sp
		}
	}
	return sensors.Setpoint{}
}

// subjectInfo is what an event says about the sensor it concerns.
type subjectInfo struct {
	site, sensor string
	gateway      string
	device       string // Sparkplug device id, for stale inhibition
	kind         sensors.KindID
	unit         string
}

// event builds the Event for a transition of this rule. It runs only when
// something changed, so it may allocate.
func (r *ThresholdRule) event(tr transition, st thresholdState, s *subjectInfo, at int64) Event {
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
	trip, clear := ">=", "<"
	if r.dir == sensors.Below {
		trip, clear = "<=", ">"
	}
	var op, detail string
	switch tr.typ {
	case EventFired:
		ev.Setpoint, op = r.setpoint(tr.to).Value, trip
		detail = "level " + levelName(tr.to)
	case EventEscalated:
		ev.Setpoint, op = r.setpoint(tr.to).Value, trip
		detail = "level " + levelName(tr.to) + ", up from " + levelName(tr.from)
	case EventDeescalated:
		ev.Setpoint, op = r.setpoint(tr.from).Clear, clear
		detail = "level " + levelName(tr.to) + ", down from " + levelName(tr.from)
	case EventResolved:
		// Resolving means every level up to tr.from was cleared; the last
		// barrier is the least severe level's restore value.
		ev.Setpoint, op = r.sps[len(r.sps)-1].Clear, clear
		detail = "resolved, was level " + levelName(tr.from)
	}
	ev.Message = fmt.Sprintf("%s %s at %s: %s %s %s %s (%s)",
		s.kind, s.sensor, s.site, formatValue(ev.Value), s.unit, op, formatValue(ev.Setpoint), detail)
	return ev
}

// levelName writes a level as "2 orange".
func levelName(l sensors.Level) string {
	return strconv.Itoa(int(l)) + " " + l.Color()
}

// formatValue prints a value the way an operator reads it: "27.3", not
// "27.299999999999997".
func formatValue(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }

// thresholdFamily is the ruleKind of the threshold rules, subject.rules.
type thresholdFamily struct{}

func (thresholdFamily) tick(*Engine, *ruleSet, *subject, int64) {}

func (thresholdFamily) rebase(s *subject, shift func(*int64)) {
	for i := range s.rules {
		st := &s.rules[i].st
		shift(&st.nextSince)
		shift(&st.clearSince)
	}
}

func (thresholdFamily) snapshot(s *subject, out []RuleSnapshot) []RuleSnapshot {
	for _, rs := range s.rules {
		st := rs.st
		if st.level == sensors.LevelNone && st.next == sensors.LevelNone && !st.clearing && st.hist == [4]uint32{} {
			continue
		}
		out = append(out, RuleSnapshot{ID: rs.rule.id, Fingerprint: rs.rule.fp, LevelsFingerprint: rs.rule.levelsFP, Level: st.level, Next: st.next,
			Clearing: st.clearing, ClearTo: st.clearTo, Since: st.since, NextSince: st.nextSince, ClearSince: st.clearSince,
			Value: st.value, Hist: st.hist})
	}
	return out
}

func (thresholdFamily) restore(s *subject, rs RuleSnapshot) (kept, known bool) {
	for i := range s.rules {
		r := &s.rules[i]
		if r.rule.id == rs.ID && r.rule.fp == rs.Fingerprint {
			r.st = thresholdState{level: rs.Level, next: rs.Next, clearing: rs.Clearing, clearTo: rs.ClearTo,
				since: rs.Since, nextSince: rs.NextSince, clearSince: rs.ClearSince, value: rs.Value, hist: rs.Hist}
			return true, true
		}
	}
	for i := range s.rules {
		r := &s.rules[i]
		if r.rule.id == rs.ID && rs.LevelsFingerprint != 0 && r.rule.levelsFP == rs.LevelsFingerprint {
			// Same setpoints, other timing: the alert stands at its level
			// under the same id; what was timed (a pending level, an
			// off-delay running, the M-of-N history) starts again.
			r.st = thresholdState{level: rs.Level, since: rs.Since, value: rs.Value}
			return true, true
		}
	}
	for _, r := range s.rules {
		if r.rule.id == rs.ID {
			return false, true
		}
	}
	return false, false
}

func (thresholdFamily) active(s *subject, out []Alert) []Alert {
	for _, rs := range s.rules {
		if a, ok := activeAlert(s, rs); ok {
			out = append(out, a)
		}
	}
	return out
}

func (thresholdFamily) forget(s *subject, id string) bool {
	for i := range s.rules {
		st := &s.rules[i].st
		if st.level != sensors.LevelNone && alertID(s.rules[i].rule.id, s.site, s.sensor, st.since) == id {
			*st = thresholdState{value: st.value, hist: st.hist}
			return true
		}
	}
	return false
}

func (thresholdFamily) adopt(s *subject, rec Record) bool {
	since := rec.StartsAt.UnixNano()
	for i := range s.rules {
		st := &s.rules[i].st
		if s.rules[i].rule.id != rec.Rule {
			continue
		}
		switch {
		case st.level == sensors.LevelNone && st.next != sensors.LevelNone && alertID(rec.Rule, s.site, s.sensor, st.nextSince) != rec.ID:
			return false // a different, newer condition is pending
		case st.level == sensors.LevelNone:
			st.level, st.since, st.next = rec.Level, since, sensors.LevelNone
		case st.since == since && rec.Level.MoreSevere(st.level):
			st.level = rec.Level
			if !st.next.MoreSevere(st.level) {
				st.next = sensors.LevelNone
			}
		default:
			return false
		}
		st.clearing = false
		return true
	}
	return false
}
