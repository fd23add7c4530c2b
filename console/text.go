package console

import (
	"encoding/json"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/alarmtext"
	"github.com/riskmon/riskmon/sensors"
)

// AlertText is an alert in one language, as an operator reads it
// (alarmtext renders it; notifications read the same words).
type AlertText struct {
	// What the alarm is, without the rule id: 可燃气体高限报警.
	What string `json:"what"`
	// Level is the four-colour level (红色), Stage the instrument alarm
	// stage with its setpoint (二级报警 (≥50 %LEL)) or 预警, Label both.
	Level string `json:"level"`
	Stage string `json:"stage,omitempty"`
	Label string `json:"label"`
	// Kind and Unit are the sensor kind's name and its unit as written
	// (℃, mg/m³).
	Kind string `json:"kind,omitempty"`
	Unit string `json:"unit,omitempty"`
	// Message is the last event's reading against its setpoint.
	Message string `json:"message"`
	// Procedure and Consequence are what to do and what is at stake.
	Procedure   string `json:"procedure,omitempty"`
	Consequence string `json:"consequence,omitempty"`
}

// AlertTexts is an alert's text in both languages; the page shows the
// one its operator chose.
type AlertTexts struct {
	ZH AlertText `json:"zh"`
	EN AlertText `json:"en"`
}

// describe renders ev in both languages with what the registry knows of
// its sensor and site, and gives the sensor's location.
func (h *Hub) describe(ev alerting.Event) (AlertTexts, string) {
	reg := h.registry().reg
	var (
		sps      []sensors.Setpoint
		kind     *sensors.Kind
		location string
	)
	if sn, ok := reg.Lookup(ev.Site, ev.Sensor); ok {
		sps, kind, location = sn.EffectiveSetpoints(), sn.KindInfo(), sn.Location
	} else if k, ok := reg.Catalog().Kind(ev.Kind); ok {
		sps, kind = k.Resolve(k.Setpoints), k
	}
	site, _ := reg.Site(ev.Site)
	g := alarmtext.GuidanceFor(ev, site, h.Guidance())
	one := func(lang string) AlertText {
		t := AlertText{
			What: alarmtext.Title(ev.Rule, ev.Kind, kind, lang), Level: alarmtext.LevelName(ev.TopicLevel(), lang),
			Stage: alarmtext.Stage(ev, sps, lang), Label: alarmtext.Label(ev, sps, lang),
			Unit: alarmtext.Unit(ev.Unit), Message: alarmtext.Message(ev, lang),
			Procedure: g.Procedure.In(lang), Consequence: g.Consequence.In(lang),
		}
		if ev.Kind != "" {
			t.Kind = alarmtext.KindName(ev.Kind, kind, lang)
		}
		return t
	}
	return AlertTexts{ZH: one(alarmtext.Chinese), EN: one(alarmtext.English)}, location
}

// streamEvent is an alert event as the stream sends it: the event's own
// JSON with its text and the sensor's location added, so the page can
// draw a row or a banner without asking for the alert.
func (h *Hub) streamEvent(ev alerting.Event) ([]byte, error) {
	data, err := json.Marshal(ev)
	if err != nil || ev.Type == alerting.EventAcknowledged {
		return data, err
	}
	text, location := h.describe(ev)
	extra, err := json.Marshal(struct {
		Text     AlertTexts `json:"text"`
		Location string     `json:"location,omitempty"`
	}{text, location})
	if err != nil {
		return nil, err
	}
	// Event has its own MarshalJSON, which an embedding struct would
	// inherit and so drop the extra fields: join the two objects.
	out := make([]byte, 0, len(data)+len(extra))
	out = append(out, data[:len(data)-1]...)
	out = append(out, ',')
	return append(out, extra[1:]...), nil
}
