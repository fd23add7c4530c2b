package lifecycle

import (
	"errors"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

func TestLifecycle(t *testing.T) {
	t0 := time.Unix(1764345600, 0).UTC()
	ev := func(id string, typ alerting.EventType, lvl, prev sensors.Level, sec int) alerting.Event {
		return alerting.Event{AlertID: id, Rule: "combustible_gas_high", Site: "hz-01", Sensor: "GT-101", Type: typ,
			Level: lvl, PrevLevel: prev, At: t0.Add(time.Duration(sec) * time.Second), StartsAt: t0}
	}
	type step struct {
		name  string
		ev    *alerting.Event // an event from the engine, or
		ack   string          // an acknowledgement of this alert id
		err   error
		state alerting.LifecycleState // of alert "a" after the step; 0: not in the list
	}
	fired := ev("a", alerting.EventFired, sensors.LevelOrange, 0, 0)
	escal := ev("a", alerting.EventEscalated, sensors.LevelRed, sensors.LevelOrange, 10)
	resolved := ev("a", alerting.EventResolved, 0, sensors.LevelRed, 20)
	resolvedOrange := ev("a", alerting.EventResolved, 0, sensors.LevelOrange, 20)
	tests := []struct {
		name  string
		latch bool
		steps []step
	}{
		{"fired => acked => resolved: gone", false, []step{
			{name: "fired", ev: &fired, state: alerting.StateActiveUnacked},
			{name: "ack", ack: "a", state: alerting.StateActiveAcked},
			{name: "resolved", ev: &resolvedOrange, state: 0},
		}},
		{"resolved unacknowledged stays until acked", false, []step{
			{name: "fired", ev: &fired, state: alerting.StateActiveUnacked},
			{name: "resolved", ev: &resolvedOrange, state: alerting.StateClearedUnacked},
			{name: "ack", ack: "a", state: 0},
			{name: "ack again", ack: "a", err: ErrNoAlert, state: 0},
		}},
		{"escalation needs a new acknowledgement", false, []step{
			{name: "fired", ev: &fired, state: alerting.StateActiveUnacked},
			{name: "ack", ack: "a", state: alerting.StateActiveAcked},
			{name: "escalated", ev: &escal, state: alerting.StateActiveUnacked},
		}},
		{"latched red stays latched after it clears", true, []step{
			{name: "fired", ev: &fired, state: alerting.StateActiveUnacked},
			{name: "escalated", ev: &escal, state: alerting.StateActiveUnacked},
			{name: "resolved", ev: &resolved, state: alerting.StateLatched},
			{name: "ack", ack: "a", state: 0},
		}},
		{"latching leaves orange alone", true, []step{
			{name: "fired", ev: &fired, state: alerting.StateActiveUnacked},
			{name: "resolved", ev: &resolvedOrange, state: alerting.StateClearedUnacked},
		}},
		{"unknown alert", false, []step{{name: "ack", ack: "zz", err: ErrNoAlert}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out []alerting.Event
			l := NewLifecycle(alerting.SinkFunc(func(e alerting.Event) { out = append(out, e) }), LifecycleOptions{LatchRed: tt.latch, Now: func() time.Time { return t0.Add(time.Minute) }})
			for _, s := range tt.steps {
				before := len(out)
				if s.ev != nil {
					l.Emit(*s.ev)
					if len(out) != before+1 || out[before].Type != s.ev.Type {
						t.Fatalf("%s: event not passed on", s.name)
					}
				} else {
					_, err := l.Ack(s.ack, "operator1", "checked on site")
					if !errors.Is(err, s.err) {
						t.Fatalf("%s: Ack error = %v, want %v", s.name, err, s.err)
					}
					if err == nil {
						ack := out[len(out)-1]
						if ack.Type != alerting.EventAcknowledged || ack.By != "operator1" || ack.Comment != "checked on site" || ack.AlertID != s.ack {
							t.Fatalf("%s: acknowledgement event %+v", s.name, ack)
						}
					}
				}
				r, ok := l.Get("a")
				if s.state == 0 && ok {
					t.Fatalf("%s: alert still listed as %s", s.name, r.State)
				}
				if s.state != 0 && (!ok || r.State != s.state) {
					t.Fatalf("%s: state %s (listed %v), want %s", s.name, r.State, ok, s.state)
				}
			}
		})
	}
}

func TestLifecycleOrderAndHistory(t *testing.T) {
	t0 := time.Unix(1764345600, 0).UTC()
	l := NewLifecycle(alerting.SinkFunc(func(alerting.Event) {}), LifecycleOptions{MaxEvents: 2})
	l.Emit(alerting.Event{AlertID: "y", Type: alerting.EventFired, Level: sensors.LevelYellow, StartsAt: t0})
	l.Emit(alerting.Event{AlertID: "r", Type: alerting.EventFired, Level: sensors.LevelOrange, StartsAt: t0})
	l.Emit(alerting.Event{AlertID: "r", Type: alerting.EventEscalated, Level: sensors.LevelRed, PrevLevel: sensors.LevelOrange, StartsAt: t0})
	l.Emit(alerting.Event{AlertID: "r", Type: alerting.EventDeescalated, Level: sensors.LevelOrange, PrevLevel: sensors.LevelRed, StartsAt: t0})
	l.Emit(alerting.Event{AlertID: "o", Type: alerting.EventFired, Level: sensors.LevelOrange, StartsAt: t0.Add(time.Second)})
	open := l.Open()
	if len(open) != 3 || open[0].ID != "o" || open[1].ID != "r" || open[2].ID != "y" {
		t.Fatalf("order %v", []string{open[0].ID, open[1].ID, open[2].ID})
	}
	if len(open[1].Events) != 2 || open[1].MaxLevel != sensors.LevelRed {
		t.Fatalf("history of r: %d events, max level %v", len(open[1].Events), open[1].MaxLevel)
	}
	if _, err := l.Ack("y", " ", ""); err == nil {
		t.Fatal("acknowledged without a user")
	}
}
