package notify

import (
	"encoding/json"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/alarmtext"
	"github.com/riskmon/riskmon/sensors"
)

// IdempotencyHeader is the request header that carries the event's
// IdempotencyKey on webhooks, as a structured-field string (quoted), after
// the IETF draft "The Idempotency-Key HTTP Header Field".
const IdempotencyHeader = "Idempotency-Key"

// EventBody is the JSON every channel that sends the event itself carries
// (webhooks, MQTT): the event's own fields (alerting.Event's JSON, with
// its level's color and severity), its idempotency_key, so a receiver
// can drop the copies at-least-once delivery may make, and its text in
// both languages as the console shows it (what, level and stage, the
// reading, the response procedure and consequence), so a receiver that
// pages people can say what to do without a table of its own.
func EventBody(ev alerting.Event, text alarmtext.Texts) ([]byte, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	t, err := json.Marshal(text)
	if err != nil {
		return nil, err
	}
	key := ev.IdempotencyKey()
	out := make([]byte, 0, len(b)+len(t)+len(key)+32)
	out = append(out, `{"idempotency_key":"`...)
	out = append(out, key...)
	out = append(out, `","text":`...)
	out = append(out, t...)
	out = append(out, ',')
	return append(out, b[1:]...), nil
}

// texts renders ev in both languages with what deps know of its sensor,
// site and rule (Deps.Registry, Deps.Guidance).
func (deps Deps) texts(ev alerting.Event) alarmtext.Texts {
	var reg *sensors.Registry
	if deps.Registry != nil {
		reg = deps.Registry()
	}
	var rules map[string]sensors.Guidance
	if deps.Guidance != nil {
		rules = deps.Guidance()
	}
	t, _ := alarmtext.Describe(ev, reg, rules)
	return t
}
