package console

import (
	"encoding/json"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/alarmtext"
)

// AlertText is an alert in one language, as an operator reads it; the
// notifications that carry the event itself read the same words.
type AlertText = alarmtext.Text

// AlertTexts is an alert's text in both languages; the page shows the
// one its operator chose.
type AlertTexts = alarmtext.Texts

// describe renders ev in both languages with what the registry knows of
// its sensor and site, and gives the sensor's location.
func (h *Hub) describe(ev alerting.Event) (AlertTexts, string) {
	return alarmtext.Describe(ev, h.registry().reg, h.Guidance())
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
