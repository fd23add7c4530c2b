package notify

import (
	"encoding/json"

	"github.com/riskmon/riskmon/alerting"
)

// IdempotencyHeader is the request header that carries the event's
// IdempotencyKey on webhooks, as a structured-field string (quoted), after
// the IETF draft "The Idempotency-Key HTTP Header Field".
const IdempotencyHeader = "Idempotency-Key"

// EventBody is the JSON every channel that sends the event itself carries
// (webhooks, MQTT): the event's own fields (alerting.Event's JSON, with
// its level's color and severity) and its idempotency_key, so a receiver
// can drop the copies at-least-once delivery may make.
func EventBody(ev alerting.Event) ([]byte, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	key := ev.IdempotencyKey()
	out := make([]byte, 0, len(b)+len(key)+24)
	out = append(out, `{"idempotency_key":"`...)
	out = append(out, key...)
	out = append(out, `",`...)
	return append(out, b[1:]...), nil
}
