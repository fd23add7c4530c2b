package alarmtext

import (
	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// Text is an alert event in one language, as an operator reads it: on
// the console's board and in every notification that carries the event
// itself (webhooks, MQTT).
type Text struct {
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
	// Message is the event's reading against its setpoint.
	Message string `json:"message"`
	// Procedure and Consequence are what to do and what is at stake.
	Procedure   string `json:"procedure,omitempty"`
	Consequence string `json:"consequence,omitempty"`
}

// Texts is an event's text in both languages.
type Texts struct {
	ZH Text `json:"zh"`
	EN Text `json:"en"`
}

// Describe renders ev in both languages with what reg (nil: the shipped
// catalog's defaults only) knows of its sensor and site, and rules' (the
// rule files') guidance, which wins over the site's; it also gives the
// sensor's location on its site.
func Describe(ev alerting.Event, reg *sensors.Registry, rules map[string]sensors.Guidance) (Texts, string) {
	var (
		sps      []sensors.Setpoint
		kind     *sensors.Kind
		location string
		site     *sensors.Site
	)
	if reg != nil {
		if sn, ok := reg.Lookup(ev.Site, ev.Sensor); ok {
			sps, kind, location = sn.EffectiveSetpoints(), sn.KindInfo(), sn.Location
		} else if k, ok := reg.Catalog().Kind(ev.Kind); ok {
			sps, kind = k.Resolve(k.Setpoints), k
		}
		site, _ = reg.Site(ev.Site)
	} else if k, ok := sensors.DefaultCatalog().Kind(ev.Kind); ok {
		sps, kind = k.Resolve(k.Setpoints), k
	}
	g := GuidanceFor(ev, site, rules)
	one := func(lang string) Text {
		t := Text{
			What: Title(ev.Rule, ev.Kind, kind, lang), Level: LevelName(ev.TopicLevel(), lang),
			Stage: Stage(ev, sps, lang), Label: Label(ev, sps, lang),
			Unit: Unit(ev.Unit), Message: Message(ev, lang),
			Procedure: g.Procedure.In(lang), Consequence: g.Consequence.In(lang),
		}
		if ev.Kind != "" {
			t.Kind = KindName(ev.Kind, kind, lang)
		}
		return t
	}
	return Texts{ZH: one(Chinese), EN: one(English)}, location
}
