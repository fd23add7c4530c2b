package console

import (
	"cmp"
	"slices"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/alarmtext"
	"github.com/riskmon/riskmon/sensors"
)

// Alert states as the API names them.
const (
	StateOpen     = "open"
	StateResolved = "resolved"
)

// Alert is one alert as the API and the board show it: what its last
// condition event says, plus when it began, once resolved when it ended,
// and who acknowledged it if anyone did.
type Alert struct {
	ID     string         `json:"id"`
	State  string         `json:"state"`
	Rule   string         `json:"rule"`
	Site   string         `json:"site"`
	Sector sensors.Sector `json:"sector,omitempty"`
	Sensor string         `json:"sensor"`
	Kind   sensors.KindID `json:"kind"`
	Unit   string         `json:"unit"`
	// Level is the current level, or for a resolved alert the level it
	// had when it ended.
	Level    sensors.Level `json:"level"`
	Color    string        `json:"color"`
	Severity string        `json:"severity"`
	// PeakLevel is the most severe level the alert reached.
	PeakLevel sensors.Level `json:"peak_level"`
	// Value is the reading of the alert's last event (what raised,
	// escalated or resolved it).
	Value float64 `json:"value"`
	// LiveValue and LiveAt are the sensor's latest reading, whatever
	// raised an event; absent for an alert that is not a sensor's or a
	// sensor that has not reported. PeakValue is the worst value since
	// the alert began: the highest, or the lowest for a low alarm.
	LiveValue *float64   `json:"live_value,omitempty"`
	LiveAt    *time.Time `json:"live_at,omitempty"`
	PeakValue float64    `json:"peak_value"`
	Setpoint  float64    `json:"setpoint"`
	// Message is the engine's own text of the last event (English);
	// Text holds what operators read, in both languages.
	Message string     `json:"message"`
	Text    AlertTexts `json:"text"`
	// Location is where the sensor is on its site, from the registry.
	Location string    `json:"location,omitempty"`
	StartsAt time.Time `json:"starts_at"`
	// UpdatedAt is the device time of the alert's last event.
	UpdatedAt  time.Time  `json:"updated_at"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	// Acknowledged is true from an "acknowledged" event until the alert
	// escalates; AckedBy, AckedAt and AckComment come from that event.
	Acknowledged bool       `json:"acknowledged"`
	AckedBy      string     `json:"acked_by,omitempty"`
	AckedAt      *time.Time `json:"acked_at,omitempty"`
	AckComment   string     `json:"ack_comment,omitempty"`
	// Lifecycle is the alert lifecycle state (active_unacknowledged,
	// active_acknowledged, resolved_unacknowledged, latched, or done once
	// cleared and acknowledged) when the console is wired to the lifecycle.
	Lifecycle string `json:"lifecycle,omitempty"`
	// Shelved is the id of the shelf covering the alert, Planned marks a
	// sensor out of service, Flapping an alert held for toggling too
	// often, Late one raised from readings that arrived long after their
	// time (retrospective); all from the alert's last condition event.
	Shelved  string `json:"shelved,omitempty"`
	Planned  bool   `json:"planned,omitempty"`
	Flapping bool   `json:"flapping,omitempty"`
	Late     bool   `json:"late,omitempty"`
	// EventCount counts every event of the alert, also those no longer
	// kept in Events.
	EventCount int `json:"event_count"`
	// Events is filled only by GET /api/v1/alerts/{id}, oldest first.
	Events []alerting.Event `json:"events,omitempty"`
}

// AlertFilter selects alerts; zero fields do not filter.
type AlertFilter struct {
	State  string // StateOpen, StateResolved or "" for both
	Levels []sensors.Level
	Site   string
	Sector sensors.Sector
	Rule   string
	// Acked, when not nil, selects acknowledged (true) or unacknowledged
	// alerts: state=resolved with acked=false is what an operator still
	// has to see under the alert lifecycle.
	Acked *bool
	// Since and Until select the alerts active at some time in
	// [Since, Until): begun before Until and not resolved before Since.
	Since, Until time.Time
}

func (f *AlertFilter) match(a *Alert) bool {
	switch {
	case f.State != "" && a.State != f.State,
		len(f.Levels) > 0 && !slices.Contains(f.Levels, a.Level),
		f.Site != "" && a.Site != f.Site,
		f.Sector != "" && a.Sector != f.Sector,
		f.Rule != "" && a.Rule != f.Rule,
		f.Acked != nil && a.Acknowledged != *f.Acked,
		!f.Until.IsZero() && !a.StartsAt.Before(f.Until),
		!f.Since.IsZero() && a.ResolvedAt != nil && a.ResolvedAt.Before(f.Since):
		return false
	}
	return true
}

// Alerts returns the alerts matching f in board order, most severe first
// and newest first within a level, and how many matched before paging.
// A limit of zero or less means no limit.
func (h *Hub) Alerts(f AlertFilter, limit, offset int) ([]Alert, int) {
	recs := h.alerts.Recent()
	out := make([]Alert, 0, len(recs))
	h.mu.Lock()
	for i := range recs {
		a, ok := h.view(&recs[i], false)
		if ok && f.match(&a) {
			out = append(out, a)
		}
	}
	h.mu.Unlock()
	slices.SortFunc(out, boardOrder)
	total := len(out)
	out = out[min(offset, total):]
	if limit > 0 && limit < len(out) {
		out = out[:limit]
	}
	return out, total
}

// boardOrder puts open alerts before resolved ones, then the most severe
// level first, then the newest first; the id breaks ties so pages are
// stable.
func boardOrder(a, b Alert) int {
	if a.State != b.State {
		if a.State == StateOpen {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(a.Level, b.Level); c != 0 {
		return c
	}
	if c := b.StartsAt.Compare(a.StartsAt); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// Alert returns one alert with its kept events.
func (h *Hub) Alert(id string) (Alert, bool) {
	r, ok := h.alerts.Find(id)
	if !ok {
		return Alert{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.view(&r, true)
}

// lastCondition is the newest event of an alert that says something about
// the process: acknowledgements do not replace it.
func lastCondition(evs []alerting.Event) (alerting.Event, bool) {
	for i := len(evs) - 1; i >= 0; i-- {
		if isCondition(&evs[i]) {
			return evs[i], true
		}
	}
	return alerting.Event{}, false
}

// view builds the API form of a lifecycle record; ok is false for a
// record without a condition event to show. Called with h.mu held.
func (h *Hub) view(r *alerting.Record, events bool) (Alert, bool) {
	ev, ok := lastCondition(r.Events)
	if !ok {
		return Alert{}, false
	}
	lv := ev.TopicLevel()
	a := Alert{
		ID: r.ID, State: StateOpen, Rule: ev.Rule, Site: ev.Site, Sensor: ev.Sensor,
		Kind: ev.Kind, Unit: ev.Unit, Level: lv, Color: lv.Color(), Severity: lv.Severity(),
		PeakLevel: r.MaxLevel, Value: ev.Value, Setpoint: ev.Setpoint, Message: ev.Message,
		StartsAt: cmp.Or(ev.StartsAt, r.StartsAt, r.Events[0].At), UpdatedAt: ev.At,
		EventCount: max(r.EventCount, len(r.Events)),
		Shelved:    ev.Shelved, Planned: ev.Planned, Flapping: ev.Flapping, Late: ev.Late,
	}
	var ack *alerting.Event
	for i := range r.Events {
		e := &r.Events[i]
		if l := e.TopicLevel(); isCondition(e) && l.MoreSevere(a.PeakLevel) {
			a.PeakLevel = l // a record kept before its highest level was
		}
		switch e.Type {
		case alerting.EventAcknowledged:
			ack = e
		case alerting.EventEscalated:
			// A worse level is news and needs acknowledging again, as
			// the alert lifecycle has it.
			ack = nil
		}
	}
	if l, ok, peak := h.liveOf(r); ok {
		v, at := l.value, l.at
		a.LiveValue, a.LiveAt, a.PeakValue = &v, &at, peak
	} else {
		a.PeakValue = peak
	}
	if s, ok := h.registry().reg.Site(ev.Site); ok {
		a.Sector = s.Sector
	}
	a.Text, a.Location = h.describe(ev)
	if ev.Type == alerting.EventResolved {
		a.State = StateResolved
		at := ev.At
		a.ResolvedAt = &at
	}
	if ack != nil {
		at := ack.At
		a.Acknowledged, a.AckedBy, a.AckedAt, a.AckComment = true, ack.By, &at, ack.Comment
	}
	if h.own == nil {
		// The operator's lifecycle: where the alert stands for them.
		a.Lifecycle = r.State.String()
	}
	if events {
		a.Events = r.Events
	}
	return a, true
}

// openBySite returns the open alerts grouped by site, then sensor.
func (h *Hub) openBySite() map[string]map[string][]Alert {
	out := make(map[string]map[string][]Alert)
	recs := h.alerts.Recent()
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range recs {
		a, ok := h.view(&recs[i], false)
		if !ok || a.State != StateOpen {
			continue
		}
		if out[a.Site] == nil {
			out[a.Site] = make(map[string][]Alert)
		}
		out[a.Site][a.Sensor] = append(out[a.Site][a.Sensor], a)
	}
	return out
}

// SiteSummary is one site on the overview: its worst open alert level and
// how many of its sensors alert or are stale.
type SiteSummary struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Sector     sensors.Sector `json:"sector"`
	WorstLevel sensors.Level  `json:"worst_level"` // 0 when nothing is open
	WorstColor string         `json:"worst_color"` // "none" when nothing is open
	OpenAlerts int            `json:"open_alerts"`
	Sensors    int            `json:"sensors"`
	Alerting   int            `json:"alerting"`
	Stale      int            `json:"stale"`
}

// Sites summarises every registered site, sorted by sector in
// sensors.Sectors order, then id. now decides staleness.
func (h *Hub) Sites(now time.Time, staleFactor int) []SiteSummary {
	open := h.openBySite()
	v := h.registry()
	var out []SiteSummary
	for _, site := range v.reg.Sites() {
		s := SiteSummary{ID: site.ID, Name: site.Name, Sector: site.Sector}
		for _, alerts := range open[site.ID] {
			for _, a := range alerts {
				s.OpenAlerts++
				if a.Level.MoreSevere(s.WorstLevel) {
					s.WorstLevel = a.Level
				}
			}
		}
		s.WorstColor = s.WorstLevel.Color()
		for _, sn := range v.bySite[site.ID] {
			s.Sensors++
			switch {
			case len(open[site.ID][sn.ID]) > 0:
				s.Alerting++
			case h.isStale(sn, now, staleFactor):
				s.Stale++
			}
		}
		out = append(out, s)
	}
	order := sensors.Sectors()
	slices.SortStableFunc(out, func(a, b SiteSummary) int {
		return cmp.Compare(sectorRank(order, a.Sector), sectorRank(order, b.Sector))
	})
	return out
}

func sectorRank(order []sensors.Sector, s sensors.Sector) int {
	if i := slices.Index(order, s); i >= 0 {
		return i
	}
	return len(order)
}

// Sensor statuses.
const (
	StatusOK       = "ok"
	StatusAlerting = "alerting"
	// StatusStale is a sensor not heard from for staleFactor times its
	// kind's reporting interval, or never.
	StatusStale = "stale"
)

// SensorView is one sensor of a site with its latest reading.
type SensorView struct {
	ID        string         `json:"id"`
	Kind      sensors.KindID `json:"kind"`
	KindName  string         `json:"kind_name"`
	Unit      string         `json:"unit"`
	Location  string         `json:"location,omitempty"`
	Gateway   string         `json:"gateway,omitempty"`
	Setpoints []SetpointView `json:"setpoints"`
	// Value, At, Received and Quality are absent before the first reading.
	Value      *float64   `json:"value,omitempty"`
	At         *time.Time `json:"at,omitempty"`
	Received   *time.Time `json:"received,omitempty"`
	Quality    string     `json:"quality,omitempty"`
	Status     string     `json:"status"`
	StaleAfter string     `json:"stale_after"`
	OpenAlerts []Alert    `json:"open_alerts"`
	// Text is the kind's name, its unit as written, and the response
	// procedure and consequence of its alarms at this site.
	Text SensorTexts `json:"text"`
}

// SensorText is a sensor's kind and guidance in one language.
type SensorText struct {
	Kind        string `json:"kind"`
	Unit        string `json:"unit"`
	Procedure   string `json:"procedure,omitempty"`
	Consequence string `json:"consequence,omitempty"`
}

// SensorTexts is a sensor's text in both languages.
type SensorTexts struct {
	ZH SensorText `json:"zh"`
	EN SensorText `json:"en"`
}

// SetpointView is one alarm level of a sensor.
type SetpointView struct {
	Level     sensors.Level `json:"level"`
	Color     string        `json:"color"`
	Direction string        `json:"direction"`
	Value     float64       `json:"value"`
	Clear     float64       `json:"clear"`
	// Stage is the instrument alarm stage the setpoint stands for
	// (一级报警 (≥25 %LEL)).
	Stage sensors.Text `json:"stage"`
}

// SiteSensors lists a site's sensors with their latest readings and open
// alerts; ok is false for an unknown site.
func (h *Hub) SiteSensors(site string, now time.Time, staleFactor int) ([]SensorView, bool) {
	v := h.registry()
	if _, ok := v.reg.Site(site); !ok {
		return nil, false
	}
	open := h.openBySite()[site]
	out := []SensorView{}
	for _, sn := range v.bySite[site] {
		out = append(out, h.sensorView(sn, now, staleFactor, open[sn.ID]))
	}
	return out, true
}

// defaultInterval stands in for a kind that does not say how often it
// reports.
const defaultInterval = time.Minute

// staleAfter is how long a sensor may stay silent: staleFactor reporting
// intervals of its kind.
func staleAfter(sn *sensors.Sensor, staleFactor int) time.Duration {
	iv := sn.KindInfo().Interval
	if iv <= 0 {
		iv = defaultInterval
	}
	return iv * time.Duration(staleFactor)
}

// heardAt is when a reading was received, or its device time when ingest
// did not stamp it. Staleness is judged on reception: a gateway with a
// slow clock is not silent.
func heardAt(l latestReading) time.Time {
	if !l.received.IsZero() {
		return l.received
	}
	return l.at
}

// isStale reports whether a sensor has not been heard from within
// staleAfter, or never.
func (h *Hub) isStale(sn *sensors.Sensor, now time.Time, staleFactor int) bool {
	l, ok := h.latestOf(sn.Site, sn.ID)
	return !ok || now.Sub(heardAt(l)) > staleAfter(sn, staleFactor)
}

func (h *Hub) sensorView(sn *sensors.Sensor, now time.Time, staleFactor int, open []Alert) SensorView {
	k := sn.KindInfo()
	after := staleAfter(sn, staleFactor)
	v := SensorView{
		ID: sn.ID, Kind: sn.Kind, KindName: k.Name, Unit: k.Unit, Location: sn.Location, Gateway: sn.Gateway,
		Setpoints: []SetpointView{}, Status: StatusStale, StaleAfter: after.String(), OpenAlerts: open,
	}
	if v.OpenAlerts == nil {
		v.OpenAlerts = []Alert{}
	}
	slices.SortFunc(v.OpenAlerts, boardOrder)
	sps := sn.EffectiveSetpoints()
	for _, sp := range sps {
		rule := string(sn.Kind) + "_high"
		if sp.Direction == sensors.Below {
			rule = string(sn.Kind) + "_low"
		}
		ev := alerting.Event{Rule: rule, Kind: sn.Kind, Unit: k.Unit, Type: alerting.EventFired, Level: sp.Level}
		v.Setpoints = append(v.Setpoints, SetpointView{
			Level: sp.Level, Color: sp.Level.Color(), Direction: sp.Direction.String(), Value: sp.Value, Clear: sp.Clear,
			Stage: sensors.Text{ZH: alarmtext.Stage(ev, sps, alarmtext.Chinese), EN: alarmtext.Stage(ev, sps, alarmtext.English)},
		})
	}
	site, _ := h.registry().reg.Site(sn.Site)
	// The page's guidance is that of the sensor's threshold alarm, the
	// one its setpoints stand for: high, or low for a sensor with only
	// low setpoints (oxygen in a mine).
	rule := string(sn.Kind) + "_high"
	if len(sps) > 0 && !slices.ContainsFunc(sps, func(sp sensors.Setpoint) bool { return sp.Direction == sensors.Above }) {
		rule = string(sn.Kind) + "_low"
	}
	g := alarmtext.GuidanceFor(alerting.Event{Rule: rule, Kind: sn.Kind}, site, h.Guidance())
	for _, l := range []struct {
		lang string
		t    *SensorText
	}{{alarmtext.Chinese, &v.Text.ZH}, {alarmtext.English, &v.Text.EN}} {
		*l.t = SensorText{Kind: alarmtext.KindName(sn.Kind, k, l.lang), Unit: alarmtext.Unit(k.Unit),
			Procedure: g.Procedure.In(l.lang), Consequence: g.Consequence.In(l.lang)}
	}
	if l, ok := h.latestOf(sn.Site, sn.ID); ok {
		val, at := l.value, l.at
		v.Value, v.At, v.Quality = &val, &at, l.quality.String()
		if !l.received.IsZero() {
			rcv := l.received
			v.Received = &rcv
		}
		if now.Sub(heardAt(l)) <= after {
			v.Status = StatusOK
		}
	}
	if len(open) > 0 {
		v.Status = StatusAlerting
	}
	return v
}
