package alerting

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// Rules of sensor groups.
const (
	// RuleSensorDisagreement is a sensor-health alert: members of a group
	// that should read alike differ beyond the tolerance while one of them
	// alarms, so one of them is wrong (a methane head reading 0 beside
	// one at 1.2 %).
	RuleSensorDisagreement = "sensor_disagreement"
	// RuleGroupVote is the group's hard alarm: at least Vote members trip
	// their most severe setpoint, so one faulty head cannot raise it.
	RuleGroupVote = "group_vote"
)

// Group is a set of co-located or redundant sensors of one kind that
// should read alike.
type Group struct {
	// ID names the group; its alerts carry it as their subject (Sensor).
	ID   string
	Site string
	// Sensors are the members' ids at Site: at least two, of one kind,
	// each with setpoints.
	Sensors []string
	// Tolerance is the largest spread (highest minus lowest latest value,
	// in the kind's unit) that is not a disagreement. Zero turns the
	// sensor_disagreement rule off.
	Tolerance float64
	// Vote is how many members must trip their most severe setpoint (red
	// for the catalog kinds) to raise group_vote, red. Zero turns the
	// rule off; it must not exceed the number of members.
	Vote int
	// MaxAge is how old, in device time, a member's latest reading may be
	// and still count; older members neither vote nor disagree. Default
	// 3 × the kind's interval, the point at which sensor_stale raises.
	MaxAge time.Duration
}

// group is a compiled Group with its state. Members sit in different
// shards, so a group has its own lock, always taken after the shard's.
type group struct {
	id, site string
	kind     sensors.KindID
	unit     string
	tol      float64
	vote     int
	maxAge   int64
	fp       uint64 // fingerprint of the definition; see Snapshot

	mu      sync.Mutex
	members []member
	dis     exposureState // sensor_disagreement
	voted   exposureState // group_vote
}

// member is one sensor of a group: its setpoints and latest reading.
type member struct {
	id  string
	sps []sensors.Setpoint // resolved, so Clear is set
	top sensors.Level      // the most severe level among sps
	at  int64              // device time of the latest reading, Unix ns; 0 before it
	v   float64
	// Hysteresis flags, set when a setpoint trips and cleared when every
	// one clears, like the threshold rules.
	alarming bool // some setpoint trips
	tripping bool // a setpoint of level top trips
}

// link is a subject's place in a group (g) or composite rule (c): the
// i-th member or referenced sensor.
type link struct {
	g *group
	c *composite
	i int
}

// compileGroups checks the configured groups and ties them to their
// members' subjects.
func compileGroups(reg *sensors.Registry, subjects map[subjectKey]*subject, gs []Group) ([]*group, error) {
	var out []*group
	var errs []error
	seen := map[string]bool{}
	for _, cfg := range gs {
		g, err := compileGroup(reg, subjects, cfg)
		if err == nil && seen[cfg.Site+"/"+cfg.ID] {
			err = errors.New("duplicate group id")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("group %s/%s: %w", cfg.Site, cfg.ID, err))
			continue
		}
		seen[cfg.Site+"/"+cfg.ID] = true
		for i, m := range g.members {
			s := subjects[subjectKey{g.site, m.id}]
			s.links = append(s.links, link{g: g, i: i})
		}
		out = append(out, g)
	}
	return out, errors.Join(errs...)
}

func compileGroup(reg *sensors.Registry, subjects map[subjectKey]*subject, cfg Group) (*group, error) {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if cfg.ID == "" {
		bad("a group needs an id")
	}
	if len(cfg.Sensors) < 2 {
		bad("a group needs at least two sensors, has %d", len(cfg.Sensors))
	}
	if cfg.Tolerance < 0 || math.IsNaN(cfg.Tolerance) {
		bad("tolerance %g must not be negative", cfg.Tolerance)
	}
	if cfg.Vote < 0 || cfg.Vote > len(cfg.Sensors) {
		bad("vote %d must be between 0 and the %d members", cfg.Vote, len(cfg.Sensors))
	}
	if cfg.Tolerance == 0 && cfg.Vote == 0 {
		bad("neither tolerance nor vote is set: the group has no rule")
	}
	g := &group{id: cfg.ID, site: cfg.Site, tol: cfg.Tolerance, vote: cfg.Vote, maxAge: int64(cfg.MaxAge)}
	var kind *sensors.Kind
	dup := map[string]bool{}
	for _, id := range cfg.Sensors {
		s, ok := reg.Lookup(cfg.Site, id)
		switch {
		case !ok:
			bad("no sensor %s at site %s", id, cfg.Site)
			continue
		case dup[id]:
			bad("sensor %s listed twice", id)
			continue
		case kind != nil && s.Kind != kind.ID:
			bad("sensor %s is %s, the group is %s: members must measure the same thing", id, s.Kind, kind.ID)
			continue
		case kind != nil && s.KindInfo().Unit != kind.Unit:
			// Readings are compared as they come, and the tolerance is
			// one number: both need one unit.
			bad("sensor %s reports in %s, the group's other members in %s: members must report in one unit", id, s.KindInfo().Unit, kind.Unit)
			continue
		}
		dup[id] = true
		kind = s.KindInfo()
		sps := kind.Resolve(s.EffectiveSetpoints())
		if len(sps) == 0 || subjects[subjectKey{cfg.Site, id}] == nil {
			bad("sensor %s has no setpoints", id)
			continue
		}
		m := member{id: id, sps: sps, top: sps[0].Level}
		for _, sp := range sps {
			if sp.Level.MoreSevere(m.top) {
				m.top = sp.Level
			}
		}
		g.members = append(g.members, m)
	}
	if kind != nil {
		g.kind, g.unit = kind.ID, kind.Unit
		if g.maxAge == 0 {
			g.maxAge = int64(3 * kind.Interval)
		}
	}
	if g.maxAge <= 0 {
		bad("max age %s must be positive", time.Duration(g.maxAge))
	}
	parts := []any{"group", g.id, g.site, g.kind, g.tol, g.vote, g.maxAge}
	for _, m := range g.members {
		parts = append(parts, m.id, m.top, fmt.Sprint(m.sps))
	}
	g.fp = fingerprint(parts...)
	return g, errors.Join(errs...)
}

// update records a member's reading and its flags.
func (m *member) update(v float64, at int64) {
	m.v, m.at = v, at
	m.alarming = holds(m.sps, m.alarming, v, sensors.LevelNone)
	m.tripping = holds(m.sps, m.tripping, v, m.top)
}

// holds applies the setpoints' hysteresis to a flag: it sets when one of
// the setpoints of level (any level for LevelNone) trips and clears only
// when all of them clear.
func holds(sps []sensors.Setpoint, on bool, v float64, level sensors.Level) bool {
	for _, sp := range sps {
		if level != sensors.LevelNone && sp.Level != level {
			continue
		}
		if sp.Trips(v) || (on && !sp.Clears(v)) {
			return true
		}
	}
	return false
}

// disagreementHold is the fraction of the tolerance an open disagreement
// holds down to, so a spread sitting on the tolerance does not flap.
const disagreementHold = 0.8

// evaluateGroup runs a group's rules after member i read v at device time
// at. Members whose latest reading is older than maxAge before at are
// left out. It does not allocate unless an alert changes.
func (e *Engine) evaluateGroup(g *group, i int, v float64, at int64, late bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.members[i].update(v, at)
	fresh, alarming, tripping := 0, false, 0
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range g.members {
		m := &g.members[i]
		if m.at == 0 || m.at < at-g.maxAge {
			continue
		}
		fresh++
		lo, hi = min(lo, m.v), max(hi, m.v)
		alarming = alarming || m.alarming
		if m.tripping {
			tripping++
		}
	}
	spread := 0.0
	if fresh > 1 {
		spread = hi - lo
	}
	if g.tol > 0 {
		open := g.dis.level != sensors.LevelNone
		limit := g.tol
		if open {
			limit *= disagreementHold
		}
		want := fresh > 1 && alarming && spread > limit
		e.stepGroup(g, RuleSensorDisagreement, &g.dis, want, sensors.LevelYellow, spread, at, late)
	}
	if g.vote > 0 {
		e.stepGroup(g, RuleGroupVote, &g.voted, tripping >= g.vote, sensors.LevelRed, float64(tripping), at, late)
	}
}

// stepGroup moves a group alert to want at the given level and emits the
// change.
func (e *Engine) stepGroup(g *group, rule string, st *exposureState, want bool, level sensors.Level, value float64, at int64, late bool) {
	from := st.level
	st.value = value
	if want {
		st.level = level
		if from == sensors.LevelNone {
			st.since = at
		}
	} else {
		st.level = sensors.LevelNone
	}
	typ := classify(from, st.level)
	if typ == 0 {
		return
	}
	tr := transition{typ: typ, from: from, to: st.level}
	e.record(rule, tr)
	e.logTransition(g.site, g.id, rule, earlyPhase(from), earlyPhase(st.level), value, at)
	ev := g.event(rule, tr, *st, at)
	ev.Late = late
	e.sink.Emit(ev)
}

// event builds a group alert's Event: the subject is the group id. For
// sensor_disagreement Value is the spread and Setpoint the tolerance; for
// group_vote Value is how many members trip and Setpoint the vote needed.
func (g *group) event(rule string, tr transition, st exposureState, at int64) Event {
	ev := Event{
		AlertID:   alertID(rule, g.site, g.id, st.since),
		Rule:      rule,
		Site:      g.site,
		Sensor:    g.id,
		Kind:      g.kind,
		Unit:      g.unit,
		Type:      tr.typ,
		Level:     tr.to,
		PrevLevel: tr.from,
		Value:     st.value,
		At:        unixTime(at),
		StartsAt:  unixTime(st.since),
	}
	var b strings.Builder
	for i, m := range g.members {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(m.id + " ")
		if m.at == 0 || m.at < at-g.maxAge {
			b.WriteString("no recent reading")
		} else {
			b.WriteString(formatValue(m.v))
		}
	}
	head := fmt.Sprintf("group %s at %s (%s): ", g.id, g.site, b.String())
	fired := tr.typ == EventFired
	switch rule {
	case RuleSensorDisagreement:
		ev.Setpoint = g.tol
		if fired {
			ev.Message = fmt.Sprintf("%smembers differ by %s %s (tolerance %s) while one alarms; sensor fault suspected",
				head, formatValue(st.value), g.unit, formatValue(g.tol))
		} else {
			ev.Message = fmt.Sprintf("%smembers agree again (sensor_disagreement resolved)", head)
		}
	case RuleGroupVote:
		ev.Setpoint = float64(g.vote)
		if fired {
			ev.Message = fmt.Sprintf("%s%d of %d members trip their highest setpoint (vote %d)", head, int(st.value), len(g.members), g.vote)
		} else {
			ev.Message = fmt.Sprintf("%sfewer than %d members trip (group_vote resolved)", head, g.vote)
		}
	}
	return ev
}

// activeGroups lists the open group alerts.
func (set *ruleSet) activeGroups(out []Alert) []Alert {
	for _, g := range set.groups {
		g.mu.Lock()
		for _, p := range [...]struct {
			rule string
			st   exposureState
		}{{RuleSensorDisagreement, g.dis}, {RuleGroupVote, g.voted}} {
			if p.st.level == sensors.LevelNone {
				continue
			}
			var last int64
			for _, m := range g.members {
				last = max(last, m.at)
			}
			out = append(out, Alert{ID: alertID(p.rule, g.site, g.id, p.st.since), Rule: p.rule, Site: g.site, Sensor: g.id,
				Kind: g.kind, Unit: g.unit, State: StateFiring, Level: p.st.level, Value: p.st.value,
				LastAt: unixTime(last), Since: unixTime(p.st.since)})
		}
		g.mu.Unlock()
	}
	return out
}
