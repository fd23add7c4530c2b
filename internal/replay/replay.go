// Package replay backtests alert rules: it runs stored readings, in
// device-time order, through a fresh alerting engine built from the
// current configuration and rule files, and reports the alerts the rules
// would have raised, so that thresholds can be tuned against real
// history. Readings come from InfluxDB (streamed, a time chunk at a
// time) or from a CSV file.
package replay

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/lifecycle"
	"github.com/riskmon/riskmon/sensors"
)

// Source yields readings in device-time order (ties by site, then
// sensor) to fn, stopping at fn's first error.
type Source interface {
	Readings(ctx context.Context, fn func(sensors.Reading) error) error
}

// Filter selects the readings to replay; empty fields select all.
type Filter struct {
	Site, Sensor string
	// From and To bound device time, [From, To); zero is unbounded.
	From, To time.Time
}

func (f Filter) match(r sensors.Reading) bool {
	return (f.Site == "" || r.Site == f.Site) && (f.Sensor == "" || r.Sensor == f.Sensor) &&
		(f.From.IsZero() || !r.Time.Before(f.From)) && (f.To.IsZero() || r.Time.Before(f.To))
}

// Alert is one alert the rules raised during the replay.
type Alert struct {
	ID   string `json:"alert_id"`
	Rule string `json:"rule"`
	Site string `json:"site"`
	// Sensor is the alert's subject: a sensor, or a group or composite
	// rule id.
	Sensor string         `json:"sensor"`
	Kind   sensors.KindID `json:"kind,omitempty"`
	Unit   string         `json:"unit,omitempty"`
	// Level is the most severe level the alert reached.
	Level   sensors.Level `json:"level"`
	FiredAt time.Time     `json:"fired_at"`
	// ResolvedAt is zero for an alert still open when the readings end.
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	// Peak is the most extreme value on the alarm side while the alert
	// was open: the highest, or the lowest for a low alarm or a falling
	// rate, trend or forecast; see docs/alerting.md#backtesting-with-replay.
	Peak    float64 `json:"peak"`
	Message string  `json:"message"`
	// Levels are the alert's level changes in order: the level it fired
	// at, then each escalation and de-escalation, with their times.
	Levels []LevelChange `json:"levels"`
	// Flapping is set when the alert was held for flapping, as the
	// service would have held it: its later toggles were absorbed.
	Flapping bool `json:"flapping,omitempty"`

	below bool // lower values are worse
}

// LevelChange is an alert reaching a level at a device time.
type LevelChange struct {
	At    time.Time     `json:"at"`
	Level sensors.Level `json:"level"`
}

// Open reports whether the alert was still open at the end.
func (a *Alert) Open() bool { return a.ResolvedAt.IsZero() }

// Result is what a replay found.
type Result struct {
	Alerts []*Alert `json:"alerts"`
	// Readings is how many readings were run through the engine;
	// Unknown how many named a sensor the registry does not have, and
	// Filtered how many the filter left out.
	Readings uint64 `json:"readings"`
	Unknown  uint64 `json:"unknown"`
	Filtered uint64 `json:"filtered"`
	// First and Last are the device times of the first and last reading
	// replayed.
	First time.Time      `json:"first,omitzero"`
	Last  time.Time      `json:"last,omitzero"`
	Stats alerting.Stats `json:"engine"`
	// Events is the alert event stream the service would have passed to
	// its alert lifecycle and notifiers: the rule engine's events after
	// the flapping hold, in order.
	Events []alerting.Event `json:"events"`
	// Quiet are the selected sensors that sent no reading.
	Quiet []string `json:"silent_sensors,omitempty"`
}

// tickEvery is the device-time step at which the replay runs the
// engine's staleness check, as the service does every few seconds on the
// wall clock. Across a gap in the data longer than maxTicks steps the
// checks stop after maxTicks and resume at the next reading: each check
// visits every sensor, and an hour is longer than any kind's stale limit
// (three intervals, at most 30 min), so only the time of a stale alert
// of a sensor with a longer custom limit moves to that reading.
const (
	tickEvery = 10 * time.Second
	maxTicks  = 360
)

// Run builds an engine over reg with opts and runs every reading of src
// that f selects through it. Readings of sensors not in reg are counted
// and skipped. A sensor in the selection that sent no reading at all is
// listed in Result.Quiet rather than given a sensor_stale alert, and a
// sensor_stale raised before a sensor's first reading is dropped: both
// only say that the range starts before the sensor's data does.
//
// The engine's events pass through the flapping hold the service puts
// after it, with the default hold; RunHeld takes the service's.
func Run(ctx context.Context, reg *sensors.Registry, opts alerting.Options, src Source, f Filter) (*Result, error) {
	return RunHeld(ctx, reg, opts, lifecycle.FlapOptions{}, src, f)
}

// RunHeld is Run with the flapping hold set as flap sets it (its Raises
// and Window; it keeps no store and runs on the replay's device time).
func RunHeld(ctx context.Context, reg *sensors.Registry, opts alerting.Options, flap lifecycle.FlapOptions, src Source, f Filter) (*Result, error) {
	opts.Registerer = nil
	res := &Result{Alerts: []*Alert{}, Events: []alerting.Event{}} // [] in JSON, not null
	c := &collector{open: map[string]*Alert{}, bySubject: map[subject][]*Alert{}, opts: opts, res: res}
	c.reg = reg
	rp := &replayer{reg: reg, f: f, res: res, c: c, first: map[subject]time.Time{}}
	// The replay's clock is the device time of the reading being
	// replayed; the hold runs on it as the service's runs on the wall
	// clock.
	flap.Store, flap.Now = nil, func() time.Time { return rp.clock }
	var err error
	if rp.hold, err = lifecycle.NewFlapper(alerting.SinkFunc(c.emit), flap); err != nil {
		return nil, err
	}
	if rp.eng, err = alerting.NewEngine(reg, rp.hold, opts); err != nil {
		return nil, err
	}
	err = src.Readings(ctx, func(r sensors.Reading) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rp.read(r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	rp.finish()
	return res, nil
}

// replayer is the state of one replay between its readings.
type replayer struct {
	reg  *sensors.Registry
	f    Filter
	res  *Result
	c    *collector
	eng  *alerting.Engine
	hold *lifecycle.Flapper
	// clock is the device time the hold runs on; nextTick, in Unix
	// nanoseconds, the next time staleness is checked.
	clock    time.Time
	nextTick int64
	// first is each sensor's first reading: a sensor_stale raised before
	// it only says the replay started before the sensor's data did.
	first map[subject]time.Time
}

// read replays one reading of the source.
func (rp *replayer) read(r sensors.Reading) {
	if !rp.f.match(r) {
		rp.res.Filtered++
		return
	}
	sn, ok := rp.reg.Lookup(r.Site, r.Sensor)
	if !ok {
		rp.res.Unknown++
		return
	}
	r.Kind = sn.Kind
	if rp.res.Readings == 0 {
		rp.res.First = r.Time
		rp.nextTick = r.Time.UnixNano()
	}
	rp.tickUpTo(r.Time)
	rp.clock = r.Time
	rp.res.Readings++
	rp.res.Last = r.Time
	if k := (subject{r.Site, r.Sensor}); rp.first[k].IsZero() {
		rp.first[k] = r.Time
	}
	rp.eng.Evaluate(r)
	if r.Quality != sensors.QualityBad && !math.IsNaN(r.Value) {
		rp.c.observe(r)
	}
}

// tickUpTo checks staleness up to t, at the times the service would
// have checked it, and at most maxTicks times across a gap.
func (rp *replayer) tickUpTo(t time.Time) {
	at := t.UnixNano()
	for n := 0; rp.nextTick <= at && n < maxTicks; n++ {
		rp.tick(time.Unix(0, rp.nextTick))
		rp.nextTick += int64(tickEvery)
	}
	if rp.nextTick <= at {
		rp.tick(t)
		rp.nextTick = at + int64(tickEvery)
	}
}

func (rp *replayer) tick(now time.Time) {
	rp.clock = now
	rp.eng.Tick(now)
	rp.hold.Tick(now)
}

// finish fills in the result once the source is read: the engine's
// stats, the alerts but those stale before a sensor's data, and the
// quiet sensors.
func (rp *replayer) finish() {
	res := rp.res
	res.Stats = rp.eng.Stats()
	for _, a := range rp.c.alerts {
		if f, ok := rp.first[subject{a.Site, a.Sensor}]; a.Rule == alerting.RuleSensorStale && (!ok || a.FiredAt.Before(f)) {
			continue
		}
		res.Alerts = append(res.Alerts, a)
	}
	for _, sn := range rp.reg.Sensors() {
		if _, ok := rp.first[subject{sn.Site, sn.ID}]; !ok && rp.f.match(sensors.Reading{Site: sn.Site, Sensor: sn.ID, Time: rp.f.From}) {
			res.Quiet = append(res.Quiet, sn.Site+"/"+sn.ID)
		}
	}
}

type subject struct{ site, sensor string }

// collector turns the engine's events into alerts.
type collector struct {
	reg       *sensors.Registry
	opts      alerting.Options // to look up a sensor's rule pack
	alerts    []*Alert
	open      map[string]*Alert // by alert id
	bySubject map[subject][]*Alert
	res       *Result
}

func (c *collector) emit(ev alerting.Event) {
	c.res.Events = append(c.res.Events, ev)
	if a := c.open[ev.AlertID]; a != nil && ev.Flapping {
		a.Flapping = true
	}
	switch ev.Type {
	case alerting.EventFired:
		a := &Alert{ID: ev.AlertID, Rule: ev.Rule, Site: ev.Site, Sensor: ev.Sensor, Kind: ev.Kind, Unit: ev.Unit,
			Level: ev.Level, FiredAt: ev.At, Peak: ev.Value, Message: ev.Message, Flapping: ev.Flapping,
			Levels: []LevelChange{{At: ev.At, Level: ev.Level}}}
		a.below = c.below(ev)
		c.alerts = append(c.alerts, a)
		c.open[ev.AlertID] = a
		k := subject{ev.Site, ev.Sensor}
		c.bySubject[k] = append(c.bySubject[k], a)
	case alerting.EventEscalated, alerting.EventDeescalated:
		a := c.open[ev.AlertID]
		if a == nil {
			return
		}
		if ev.Level.MoreSevere(a.Level) {
			a.Level = ev.Level
		}
		a.Levels = append(a.Levels, LevelChange{At: ev.At, Level: ev.Level})
		a.peak(ev.Value)
	case alerting.EventUpdated:
		if a := c.open[ev.AlertID]; a != nil {
			a.Message = ev.Message
		}
	case alerting.EventResolved:
		a := c.open[ev.AlertID]
		if a == nil {
			return
		}
		a.ResolvedAt = ev.At
		delete(c.open, ev.AlertID)
		k := subject{ev.Site, ev.Sensor}
		c.bySubject[k] = slices.DeleteFunc(c.bySubject[k], func(o *Alert) bool { return o == a })
	}
}

// observe folds a reading into the peaks of the sensor's open alerts.
// Exposure and health alerts are left at their event values: their
// subject is the average or the instrument, not the reading.
func (c *collector) observe(r sensors.Reading) {
	for _, a := range c.bySubject[subject{r.Site, r.Sensor}] {
		if valueRule(a.Rule, a.Kind) {
			a.peak(r.Value)
		}
	}
}

func (a *Alert) peak(v float64) {
	if a.below {
		a.Peak = min(a.Peak, v)
	} else {
		a.Peak = max(a.Peak, v)
	}
}

// valueRule reports whether a rule's alerts are about the sensor's value
// itself (threshold, rate, trend, forecast), so readings move its peak.
func valueRule(rule string, kind sensors.KindID) bool {
	switch strings.TrimPrefix(rule, string(kind)) {
	case "_high", "_low", "_rate", "_trend", "_forecast":
		return kind != ""
	}
	return false
}

// below says whether lower values are worse for the alert an event
// raised.
func (c *collector) below(ev alerting.Event) bool {
	suffix := strings.TrimPrefix(ev.Rule, string(ev.Kind))
	switch suffix {
	case "_low":
		return true
	case "_forecast":
		// Heading for a setpoint below the value.
		return ev.Setpoint < ev.Value
	case "_rate", "_trend":
		sn, ok := c.reg.Lookup(ev.Site, ev.Sensor)
		if !ok {
			return false
		}
		p := alerting.PackFor(sn, c.opts)
		if suffix == "_rate" && p.Rate != nil {
			return p.Rate.Direction == sensors.Below
		}
		if suffix == "_trend" && p.Trend != nil {
			return p.Trend.Direction == sensors.Below
		}
	}
	return false
}

// Summary is one line about the result.
func (r *Result) Summary() string {
	var byLevel [5]int
	open := 0
	for _, a := range r.Alerts {
		if a.Level >= sensors.LevelRed && a.Level <= sensors.LevelBlue {
			byLevel[a.Level]++
		}
		if a.Open() {
			open++
		}
	}
	span := "no readings"
	if r.Readings > 0 {
		span = fmt.Sprintf("%d readings from %s to %s", r.Readings, r.First.UTC().Format(time.RFC3339), r.Last.UTC().Format(time.RFC3339))
	}
	s := fmt.Sprintf("%d alerts (%d red, %d orange, %d yellow, %d blue), %d still open at the end; %s",
		len(r.Alerts), byLevel[sensors.LevelRed], byLevel[sensors.LevelOrange], byLevel[sensors.LevelYellow], byLevel[sensors.LevelBlue], open, span)
	if r.Unknown > 0 {
		s += fmt.Sprintf("; %d readings of sensors not in the registry skipped", r.Unknown)
	}
	if r.Stats.Skipped > 0 {
		s += fmt.Sprintf("; %d bad or empty readings not evaluated", r.Stats.Skipped)
	}
	if len(r.Quiet) > 0 {
		s += fmt.Sprintf("; %d selected sensors had no readings", len(r.Quiet))
	}
	return s
}
