package notify

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/lifecycle"
	"github.com/riskmon/riskmon/sensors"
)

// t0 is the device time of sampleEvent's condition.
var t0 = time.Date(2026, 11, 28, 16, 0, 0, 0, time.UTC)

// sampleEvent is an orange combustible-gas alert fired at t0+30s.
func sampleEvent() alerting.Event {
	return alerting.Event{
		AlertID: "0123456789abcdef", Rule: "combustible_gas_high", Site: "hz-01", Sensor: "GT-101",
		Kind: "combustible_gas", Unit: "%LEL", Type: alerting.EventFired, Level: sensors.LevelOrange,
		Value: 27.3, Setpoint: 25, At: t0.Add(30 * time.Second), StartsAt: t0,
		Message: "combustible_gas GT-101 at hz-01: 27.3 %LEL >= 25 (level 2 orange)",
	}
}

type published struct {
	topic    string
	qos      byte
	retained bool
	payload  []byte
}

// fakePublisher records what it is asked to publish.
type fakePublisher struct {
	msgs []published
	err  error
}

func (f *fakePublisher) Publish(topic string, qos byte, retained bool, payload []byte) error {
	f.msgs = append(f.msgs, published{topic, qos, retained, payload})
	return f.err
}

func TestMQTTNotifier(t *testing.T) {
	escalated := sampleEvent()
	escalated.Type, escalated.Level, escalated.PrevLevel, escalated.Value, escalated.Setpoint =
		alerting.EventEscalated, sensors.LevelRed, sensors.LevelOrange, 52.5, 50
	resolved := sampleEvent()
	resolved.Type, resolved.Level, resolved.PrevLevel, resolved.Value, resolved.Setpoint =
		alerting.EventResolved, sensors.LevelNone, sensors.LevelOrange, 12, 23
	oddSite := sampleEvent()
	oddSite.Site = "zone/a+#"

	tests := []struct {
		name      string
		ev        alerting.Event
		wantTopic string
		wantJSON  map[string]any
	}{
		{"fired", sampleEvent(), "riskmon/v1/alerts/hz-01/2-orange", map[string]any{
			"alert_id": "0123456789abcdef", "rule": "combustible_gas_high", "site": "hz-01", "sensor": "GT-101",
			"kind": "combustible_gas", "unit": "%LEL", "type": "fired",
			"level": 2.0, "color": "orange", "severity": "major", "prev_level": 0.0,
			"value": 27.3, "setpoint": 25.0,
			"at": "2026-11-28T16:00:30Z", "starts_at": "2026-11-28T16:00:00Z",
			"message": "combustible_gas GT-101 at hz-01: 27.3 %LEL >= 25 (level 2 orange)",
		}},
		{"escalated", escalated, "riskmon/v1/alerts/hz-01/1-red", map[string]any{
			"type": "escalated", "level": 1.0, "color": "red", "severity": "critical", "prev_level": 2.0, "value": 52.5, "setpoint": 50.0,
		}},
		// A resolve is filed under the level that ended, so subscribers
		// of that level see the alert close.
		{"resolved", resolved, "riskmon/v1/alerts/hz-01/2-orange", map[string]any{
			"type": "resolved", "level": 0.0, "color": "none", "severity": "none", "prev_level": 2.0, "setpoint": 23.0,
		}},
		{"site kept to one topic level", oddSite, "riskmon/v1/alerts/zone_a__/2-orange", map[string]any{
			"site": "zone/a+#",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &fakePublisher{}
			n := NewMQTTNotifier(pub, Deps{})
			if err := n.Notify(context.Background(), tt.ev); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if len(pub.msgs) != 1 {
				t.Fatalf("%d publishes, want 1", len(pub.msgs))
			}
			m := pub.msgs[0]
			if m.topic != tt.wantTopic || m.qos != 1 || m.retained {
				t.Errorf("published to %q qos %d retained %v, want %q qos 1 not retained", m.topic, m.qos, m.retained, tt.wantTopic)
			}
			var got map[string]any
			if err := json.Unmarshal(m.payload, &got); err != nil {
				t.Fatalf("payload %s: %v", m.payload, err)
			}
			for k, want := range tt.wantJSON {
				if got[k] != want {
					t.Errorf("payload %s = %#v, want %#v", k, got[k], want)
				}
			}
		})
	}
}

func TestMQTTNotifierErrors(t *testing.T) {
	boom := errors.New("boom")
	n := NewMQTTNotifier(&fakePublisher{err: boom}, Deps{})
	if err := n.Notify(context.Background(), sampleEvent()); !errors.Is(err, boom) {
		t.Errorf("err = %v, want the publisher's error wrapped", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	pub := &fakePublisher{}
	if err := NewMQTTNotifier(pub, Deps{}).Notify(ctx, sampleEvent()); !errors.Is(err, context.Canceled) || len(pub.msgs) != 0 {
		t.Errorf("err = %v with %d publishes, want cancelled before publishing", err, len(pub.msgs))
	}
}

// fakeToken is a paho token that completes when done is closed.
type fakeToken struct {
	done chan struct{}
	err  error
}

func (f *fakeToken) Wait() bool { <-f.done; return true }
func (f *fakeToken) WaitTimeout(d time.Duration) bool {
	select {
	case <-f.done:
		return true
	case <-time.After(d):
		return false
	}
}
func (f *fakeToken) Done() <-chan struct{} { return f.done }
func (f *fakeToken) Error() error          { return f.err }

// fakePaho implements the one mqtt.Client method PahoPublisher calls; the
// embedded interface panics on any other.
type fakePaho struct {
	mqtt.Client
	tok     *fakeToken
	topic   string
	payload any
}

func (f *fakePaho) Publish(topic string, qos byte, retained bool, payload any) mqtt.Token {
	f.topic, f.payload = topic, payload
	return f.tok
}

func TestPahoPublisher(t *testing.T) {
	closed := make(chan struct{})
	close(closed)
	refused := errors.New("not connected")
	tests := []struct {
		name string
		tok  *fakeToken
		want error
	}{
		{"acknowledged", &fakeToken{done: closed}, nil},
		{"error", &fakeToken{done: closed, err: refused}, refused},
		{"no acknowledgement", &fakeToken{done: make(chan struct{})}, ErrPublishTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &fakePaho{tok: tt.tok}
			p := NewPahoPublisher(c, 10*time.Millisecond)
			err := p.Publish("riskmon/v1/alerts/hz-01/1-red", 1, false, []byte("{}"))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if c.topic != "riskmon/v1/alerts/hz-01/1-red" || string(c.payload.([]byte)) != "{}" {
				t.Errorf("client got %q %v", c.topic, c.payload)
			}
		})
	}
}

// sinkFunc adapts a function to alerting.Sink.
type sinkFunc func(alerting.Event)

func (f sinkFunc) Emit(ev alerting.Event) { f(ev) }

// TestRedSubscriberLearnsTheEnd: an alert fired orange, escalated to red,
// went back to orange and ended. A subscriber of 1-red alone must see it
// fire red, come down, and end; one of 2-orange sees all four changes; no
// other level hears of it.
func TestRedSubscriberLearnsTheEnd(t *testing.T) {
	pub := &fakePublisher{}
	n := NewMQTTNotifier(pub, Deps{})
	life := lifecycle.NewLifecycle(sinkFunc(func(ev alerting.Event) {
		if err := n.Notify(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}), lifecycle.LifecycleOptions{})
	ev := sampleEvent()
	steps := []struct {
		typ        alerting.EventType
		level, was sensors.Level
	}{
		{alerting.EventFired, sensors.LevelOrange, sensors.LevelNone},
		{alerting.EventEscalated, sensors.LevelRed, sensors.LevelOrange},
		{alerting.EventDeescalated, sensors.LevelOrange, sensors.LevelRed},
		{alerting.EventResolved, sensors.LevelNone, sensors.LevelOrange},
	}
	for i, st := range steps {
		ev.Type, ev.Level, ev.PrevLevel, ev.At = st.typ, st.level, st.was, t0.Add(time.Duration(i)*time.Minute)
		life.Emit(ev)
	}
	byTopic := map[string][]string{}
	for _, m := range pub.msgs {
		var got alerting.Event
		if err := json.Unmarshal(m.payload, &got); err != nil {
			t.Fatal(err)
		}
		byTopic[m.topic] = append(byTopic[m.topic], got.Type.String())
	}
	want := map[string][]string{
		"riskmon/v1/alerts/hz-01/1-red":    {"escalated", "deescalated", "resolved"},
		"riskmon/v1/alerts/hz-01/2-orange": {"fired", "deescalated", "resolved"},
	}
	if len(byTopic) != len(want) {
		t.Fatalf("published on %v, want only %v", byTopic, want)
	}
	for topic, w := range want {
		if got := byTopic[topic]; strings.Join(got, ",") != strings.Join(w, ",") {
			t.Errorf("%s got %v, want %v", topic, got, w)
		}
	}
}
