package lifecycle

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// Alarm-system health after the ISA-18.2 / EEMUA 191 benchmarks: how many
// alarms the operators get, whether they come in floods, which stay
// standing and which chatter, and who raises most of them. An alarm here
// is a fired event: a new annunciation.

// ISA-18.2 benchmark figures.
const (
	healthRateWindow = 10 * time.Minute // alarms are counted per 10 minutes
	floodStart       = 10               // more than 10 in 10 min starts a flood
	floodEnd         = 5                // fewer than 5 in 10 min ends it
	standingAfter    = 24 * time.Hour   // open longer than this is standing
	chatterWindow    = time.Minute      // firing chatterCount times in this is chattering
	chatterCount     = 3
	badActorWindow   = 24 * time.Hour // top-10 lists cover the last day
	badActors        = 10
)

// HealthOptions tune a Health.
type HealthOptions struct {
	// Now is the clock events are timed by on arrival (the operator's
	// clock, not the devices'); default time.Now.
	Now func() time.Time
	// Registerer receives the health metrics; nil registers none.
	Registerer prometheus.Registerer
	// Operators is how many operator positions share the alarms, for the
	// per-operator rate ISA-18.2's benchmarks are stated in; default 1.
	Operators int
}

// Health measures the alarm system from the events passing through it. It
// is a Sink: put it in the chain (engine → Lifecycle → Health → notifiers)
// and it passes every event on. Safe for concurrent use.
type Health struct {
	next      alerting.Sink
	now       func() time.Time
	operators int

	mu         sync.Mutex
	perMinute  countRing // fired events per minute, over the last day
	open       map[string]openAlarm
	chatter    map[subjectKey3][chatterCount]int64 // the last fire times of each alert subject, wall ns
	chattering map[subjectKey3]int64               // subjects that chattered, and when last
	episodes   uint64                              // chattering episodes since start
	rules      map[string]*countRing               // per rule, hourly, over the last day
	sensors    map[subject]*countRing              // per site and sensor, hourly
	flood      bool
	floodSince int64
	floods     uint64
	floodTime  time.Duration
	started    int64

	m healthMetrics
}

type subjectKey3 struct{ rule, site, sensor string }

type openAlarm struct {
	rule, site, sensor         string
	level                      sensors.Level
	since                      int64 // wall ns at fired
	shelved, planned, flapping bool  // marks of its last event
}

// NewHealth returns a Health passing events to next (nil: nowhere).
func NewHealth(next alerting.Sink, opts HealthOptions) (*Health, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Operators <= 0 {
		opts.Operators = 1
	}
	h := &Health{
		next:       orNowhere(next),
		now:        opts.Now,
		operators:  opts.Operators,
		perMinute:  newCountRing(int(badActorWindow/time.Minute), time.Minute),
		open:       map[string]openAlarm{},
		chatter:    map[subjectKey3][chatterCount]int64{},
		chattering: map[subjectKey3]int64{},
		rules:      map[string]*countRing{},
		sensors:    map[subject]*countRing{},
		started:    opts.Now().UnixNano(),
	}
	h.m = newHealthMetrics(h)
	if opts.Registerer != nil {
		if err := h.m.register(opts.Registerer); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Emit records ev and passes it on.
func (h *Health) Emit(ev alerting.Event) {
	now := h.now().UnixNano()
	h.mu.Lock()
	switch ev.Type {
	case alerting.EventFired:
		h.fired(ev, now)
	case alerting.EventEscalated, alerting.EventDeescalated, alerting.EventAcknowledged:
		if a, ok := h.open[ev.AlertID]; ok {
			if ev.Type != alerting.EventAcknowledged {
				a.level = ev.Level
			}
			a.shelved, a.planned, a.flapping = ev.Shelved != "", ev.Planned, ev.Flapping
			h.open[ev.AlertID] = a
		}
	case alerting.EventResolved:
		delete(h.open, ev.AlertID)
	}
	h.updateFlood(now)
	h.mu.Unlock()
	h.next.Emit(ev)
}

func (h *Health) fired(ev alerting.Event, now int64) {
	h.open[ev.AlertID] = openAlarm{rule: ev.Rule, site: ev.Site, sensor: ev.Sensor, level: ev.Level, since: now,
		shelved: ev.Shelved != "", planned: ev.Planned, flapping: ev.Flapping}
	if ev.Shelved != "" || ev.Planned {
		// Not annunciated, so not part of the operator's load.
		return
	}
	h.perMinute.add(now)
	r := h.rules[ev.Rule]
	if r == nil {
		r = ptr(newCountRing(int(badActorWindow/time.Hour), time.Hour))
		h.rules[ev.Rule] = r
	}
	r.add(now)
	sk := subject{ev.Site, ev.Sensor}
	s := h.sensors[sk]
	if s == nil {
		s = ptr(newCountRing(int(badActorWindow/time.Hour), time.Hour))
		h.sensors[sk] = s
	}
	s.add(now)
	// Chattering: the alert of this rule and subject fired chatterCount
	// times within chatterWindow. One episode is counted when it starts.
	k := subjectKey3{ev.Rule, ev.Site, ev.Sensor}
	times := h.chatter[k]
	copy(times[:], times[1:])
	times[chatterCount-1] = now
	h.chatter[k] = times
	if times[0] != 0 && now-times[0] <= int64(chatterWindow) {
		if last, ok := h.chattering[k]; !ok || now-last > int64(chatterWindow) {
			h.episodes++
			h.m.chatters.WithLabelValues(ev.Rule).Inc()
		}
		h.chattering[k] = now
	}
}

// updateFlood starts or ends a flood by the last 10 minutes' count; the
// different start and end counts keep it from flickering.
func (h *Health) updateFlood(now int64) {
	n := h.perMinute.sum(now, int(healthRateWindow/time.Minute))
	switch {
	case !h.flood && n > floodStart:
		h.flood, h.floodSince = true, now
		h.floods++
	case h.flood && n < floodEnd:
		h.flood = false
		h.floodTime += time.Duration(now - h.floodSince)
	}
}

// HealthSnapshot is the alarm system's health at one moment, for the API.
type HealthSnapshot struct {
	At time.Time `json:"at"`
	// Last10Min is how many alarms fired in the last 10 minutes (ISA-18.2:
	// about 1 is very likely acceptable, 2 the most manageable).
	Last10Min int `json:"last_10min"`
	// Avg10Min is the average per 10 minutes over the last day, or since
	// start when that is shorter.
	Avg10Min float64 `json:"avg_10min"`
	// Operators and PerOperator10Min state the last 10 minutes' alarms
	// per operator position, as the benchmarks do.
	Operators        int     `json:"operators"`
	PerOperator10Min float64 `json:"per_operator_10min"`
	// Flood says a flood is on: more than 10 alarms in 10 minutes, until
	// fewer than 5. Floods counts those begun since start, FloodSeconds
	// their total length (ISA-18.2: under 1 % of the time).
	Flood        bool    `json:"flood"`
	Floods       uint64  `json:"floods"`
	FloodSeconds float64 `json:"flood_seconds"`
	// Standing are the alarms open longer than 24 hours, oldest first.
	Standing []StandingAlarm `json:"standing"`
	// Chattering are the alerts that fired 3 or more times within a
	// minute during the last minute; ChatterEpisodes counts such episodes
	// since start.
	Chattering      []BadActor `json:"chattering"`
	ChatterEpisodes uint64     `json:"chatter_episodes"`
	// TopRules and TopSensors are the ten rules and sensors (or groups,
	// or composite rules) that raised the most alarms in the last day.
	TopRules   []BadActor `json:"top_rules"`
	TopSensors []BadActor `json:"top_sensors"`
	// Active counts the alarms open now and annunciated (EEMUA 191's
	// standing alarms at an instant; target under 10); Shelved,
	// OutOfService and Flapping count the open ones shelved, planned
	// (out of service) and held for flapping. Shelved and planned alarms
	// are not counted in the rates or the bad-actor lists: the operator
	// was not alarmed by them.
	// Rate10Min is the day's alarms per 10 minutes of arrival (the same
	// alarms as Last10Min), oldest first, the current partial bucket
	// last, for a chart against the flood line.
	Rate10Min    []RateBucket `json:"rate_10min"`
	Active       int          `json:"active"`
	Shelved      int          `json:"shelved"`
	OutOfService int          `json:"out_of_service"`
	Flapping     int          `json:"flapping"`
}

// StandingAlarm is an alarm open longer than 24 hours.
type StandingAlarm struct {
	ID     string        `json:"id"`
	Rule   string        `json:"rule"`
	Site   string        `json:"site"`
	Sensor string        `json:"sensor"`
	Level  sensors.Level `json:"level"`
	Since  time.Time     `json:"since"`
}

// BadActor is a rule or a sensor with how many alarms it raised.
type BadActor struct {
	Rule   string `json:"rule,omitempty"`
	Site   string `json:"site,omitempty"`
	Sensor string `json:"sensor,omitempty"`
	Count  int    `json:"count"`
}

// RateBucket is how many alarms fired in the 10 minutes from Start.
type RateBucket struct {
	Start time.Time `json:"start"`
	Count int       `json:"count"`
}

// rate10Min sums the per-minute counts of the last day into 10-minute
// buckets on the wall clock's 10-minute marks. Called with h.mu held.
func (h *Health) rate10Min(now int64) []RateBucket {
	h.perMinute.advance(now)
	per := int64(healthRateWindow / time.Minute)
	head := h.perMinute.head / per
	n := int64(len(h.perMinute.b)) / per
	out := make([]RateBucket, 0, n)
	for b := head - n + 1; b <= head; b++ {
		c := 0
		for m := b * per; m < (b+1)*per; m++ {
			if m > h.perMinute.head-int64(len(h.perMinute.b)) && m <= h.perMinute.head {
				c += int(h.perMinute.b[m%int64(len(h.perMinute.b))])
			}
		}
		out = append(out, RateBucket{Start: time.Unix(0, b*int64(healthRateWindow)).UTC(), Count: c})
	}
	return out
}

// Snapshot reports the health now.
func (h *Health) Snapshot() HealthSnapshot {
	nowT := h.now()
	now := nowT.UnixNano()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.updateFlood(now)
	// Empty lists, not nil, so the API gives [] rather than null.
	s := HealthSnapshot{At: nowT.UTC(), Flood: h.flood, Floods: h.floods, ChatterEpisodes: h.episodes,
		Last10Min: h.perMinute.sum(now, int(healthRateWindow/time.Minute)),
		Standing:  []StandingAlarm{}, Chattering: []BadActor{}, TopRules: []BadActor{}, TopSensors: []BadActor{}}
	s.Rate10Min = h.rate10Min(now)
	s.Operators = h.operators
	s.PerOperator10Min = float64(s.Last10Min) / float64(h.operators)
	span := min(time.Duration(now-h.started), badActorWindow)
	if span >= healthRateWindow {
		s.Avg10Min = float64(h.perMinute.sum(now, len(h.perMinute.b))) / (float64(span) / float64(healthRateWindow))
	} else {
		s.Avg10Min = float64(s.Last10Min)
	}
	ft := h.floodTime
	if h.flood {
		ft += time.Duration(now - h.floodSince)
	}
	s.FloodSeconds = ft.Seconds()
	for id, a := range h.open {
		switch {
		case a.planned:
			s.OutOfService++
		case a.shelved:
			s.Shelved++
		default:
			s.Active++
		}
		if a.flapping {
			s.Flapping++
		}
		if now-a.since > int64(standingAfter) {
			s.Standing = append(s.Standing, StandingAlarm{ID: id, Rule: a.rule, Site: a.site, Sensor: a.sensor, Level: a.level, Since: unixTime(a.since)})
		}
	}
	slices.SortFunc(s.Standing, func(a, b StandingAlarm) int { return cmp.Or(a.Since.Compare(b.Since), cmp.Compare(a.ID, b.ID)) })
	for k, last := range h.chattering {
		if now-last > int64(chatterWindow) {
			delete(h.chattering, k) // calm again
			continue
		}
		n := 0
		for _, t := range h.chatter[k] {
			if t != 0 && now-t <= int64(chatterWindow) {
				n++
			}
		}
		s.Chattering = append(s.Chattering, BadActor{Rule: k.rule, Site: k.site, Sensor: k.sensor, Count: n})
	}
	sortActors(s.Chattering)
	for rule, r := range h.rules {
		if n := r.sum(now, len(r.b)); n > 0 {
			s.TopRules = append(s.TopRules, BadActor{Rule: rule, Count: n})
		} else {
			delete(h.rules, rule) // quiet for a day: forget it
		}
	}
	for k, r := range h.sensors {
		if n := r.sum(now, len(r.b)); n > 0 {
			s.TopSensors = append(s.TopSensors, BadActor{Site: k.site, Sensor: k.sensor, Count: n})
		} else {
			delete(h.sensors, k)
		}
	}
	for k, times := range h.chatter {
		if now-times[chatterCount-1] > int64(chatterWindow) {
			delete(h.chatter, k) // its last fire left the window
		}
	}
	s.TopRules = top(s.TopRules)
	s.TopSensors = top(s.TopSensors)
	return s
}

func sortActors(a []BadActor) {
	slices.SortFunc(a, func(x, y BadActor) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.Rule, y.Rule), cmp.Compare(x.Site, y.Site), cmp.Compare(x.Sensor, y.Sensor))
	})
}

func top(a []BadActor) []BadActor {
	sortActors(a)
	return a[:min(len(a), badActors)]
}

func ptr[T any](v T) *T { return &v }

// countRing counts events in fixed-width time buckets over a window.
type countRing struct {
	b     []uint32
	head  int64 // bucket number (time / width) of the newest bucket
	width int64
}

func newCountRing(n int, width time.Duration) countRing {
	return countRing{b: make([]uint32, n), width: int64(width)}
}

func (c *countRing) advance(now int64) {
	slot := now / c.width
	if slot <= c.head {
		return
	}
	n := int64(len(c.b))
	for s := max(c.head+1, slot-n+1); s <= slot; s++ {
		c.b[s%n] = 0
	}
	c.head = slot
}

func (c *countRing) add(now int64) {
	c.advance(now)
	c.b[c.head%int64(len(c.b))]++
}

// sum counts the last k buckets up to now, the current one included.
func (c *countRing) sum(now int64, k int) int {
	c.advance(now)
	n := int64(len(c.b))
	total := 0
	for i := range int64(min(k, len(c.b))) {
		total += int(c.b[(c.head-i)%n])
	}
	return total
}

type healthMetrics struct {
	rate, standing, flood prometheus.GaugeFunc
	floods                prometheus.CounterFunc
	chatters              *prometheus.CounterVec
}

func newHealthMetrics(h *Health) healthMetrics {
	locked := func(f func(now int64) float64) func() float64 {
		return func() float64 {
			now := h.now().UnixNano()
			h.mu.Lock()
			defer h.mu.Unlock()
			return f(now)
		}
	}
	return healthMetrics{
		rate: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "riskmon_alarm_rate_10m",
			Help: "Alarms fired in the last 10 minutes (ISA-18.2 benchmark: about 1 acceptable, 2 manageable, over 10 a flood).",
		}, locked(func(now int64) float64 { return float64(h.perMinute.sum(now, int(healthRateWindow/time.Minute))) })),
		flood: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "riskmon_alarm_flood",
			Help: "1 while an alarm flood is on: more than 10 alarms in 10 minutes, until fewer than 5.",
		}, locked(func(now int64) float64 {
			h.updateFlood(now)
			if h.flood {
				return 1
			}
			return 0
		})),
		floods: prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "riskmon_alarm_floods_total",
			Help: "Alarm floods begun.",
		}, locked(func(now int64) float64 { h.updateFlood(now); return float64(h.floods) })),
		standing: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "riskmon_alarm_standing",
			Help: "Alarms open longer than 24 hours.",
		}, locked(func(now int64) float64 {
			n := 0
			for _, a := range h.open {
				if now-a.since > int64(standingAfter) {
					n++
				}
			}
			return float64(n)
		})),
		chatters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskmon_alarm_chattering_total",
			Help: "Chattering episodes (an alert fired 3 or more times within a minute) by rule.",
		}, []string{"rule"}),
	}
}

func (m healthMetrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.rate, m.flood, m.floods, m.standing, m.chatters} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// subject is one sensor of a site, as the health counts its alarms.
type subject struct{ site, sensor string }

// unixTime turns the nanoseconds the counters keep back into a time.
func unixTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }
