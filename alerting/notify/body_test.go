package notify

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/riskmon/riskmon/alerting/alarmtext"
	"github.com/riskmon/riskmon/sensors"
)

// TestEventBodyCarriesWhatToDo: the JSON of webhooks and MQTT carries the
// event's text in both languages, with the response procedure a rule file
// sets winning over the shipped one, and the shipped one without any.
func TestEventBodyCarriesWhatToDo(t *testing.T) {
	valve := sensors.Text{ZH: "关闭 XV-101 切断阀", EN: "Close shut-off valve XV-101"}
	tests := []struct {
		name     string
		deps     Deps
		wantZH   string
		wantEN   string
		shipped  bool
		wantKind string
	}{
		{"rule file's procedure", Deps{Guidance: func() map[string]sensors.Guidance {
			return map[string]sensors.Guidance{"combustible_gas_high": {Procedure: valve}}
		}}, valve.ZH, valve.EN, false, "可燃气体"},
		{"shipped procedure", Deps{}, "", "", true, "可燃气体"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pub := &fakePublisher{}
			if err := NewMQTTNotifier(pub, tc.deps).Notify(context.Background(), sampleEvent()); err != nil {
				t.Fatal(err)
			}
			if len(pub.msgs) == 0 {
				t.Fatal("nothing published")
			}
			var body struct {
				Key   string          `json:"idempotency_key"`
				Text  alarmtext.Texts `json:"text"`
				Rule  string          `json:"rule"`
				Value float64         `json:"value"`
			}
			if err := json.Unmarshal(pub.msgs[0].payload, &body); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, pub.msgs[0].payload)
			}
			if body.Key == "" || body.Rule != "combustible_gas_high" || body.Value != 27.3 {
				t.Errorf("the event's own fields are missing: %+v", body)
			}
			zh, en := body.Text.ZH, body.Text.EN
			if tc.shipped {
				if zh.Procedure == "" || en.Procedure == "" || zh.Consequence == "" {
					t.Errorf("no shipped procedure or consequence: %+v", body.Text)
				}
			} else if zh.Procedure != tc.wantZH || en.Procedure != tc.wantEN {
				t.Errorf("procedure %q / %q, want %q / %q", zh.Procedure, en.Procedure, tc.wantZH, tc.wantEN)
			}
			if zh.Kind != tc.wantKind || zh.Label == "" || zh.Message == "" {
				t.Errorf("Chinese text incomplete: %+v", zh)
			}
		})
	}
}
