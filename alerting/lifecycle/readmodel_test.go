package lifecycle

import (
	"fmt"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// TestReadModel: the lifecycle answers for the alerts that left the list
// too (done, bounded), takes acknowledgements made elsewhere, reopens an
// alert whose condition returns, and forgets an acknowledgement once the
// alert escalates.
func TestReadModel(t *testing.T) {
	t0 := time.Unix(1764345600, 0).UTC()
	ev := func(id string, typ alerting.EventType, lvl, prev sensors.Level, sec int) alerting.Event {
		return alerting.Event{AlertID: id, Rule: "combustible_gas_high", Site: "hz-01", Sensor: "GT-101", Type: typ,
			Level: lvl, PrevLevel: prev, At: t0.Add(time.Duration(sec) * time.Second), StartsAt: t0}
	}
	ackOf := func(id string, sec int) alerting.Event {
		e := ev(id, alerting.EventAcknowledged, sensors.LevelOrange, sensors.LevelOrange, sec)
		e.By = "li.na"
		return e
	}
	tests := []struct {
		name       string
		opts       LifecycleOptions
		events     []alerting.Event
		id         string
		wantFound  bool
		wantState  alerting.LifecycleState
		wantAcked  string
		wantCount  int
		wantRecent int
	}{
		{"closed alerts stay findable as done", LifecycleOptions{}, []alerting.Event{
			ev("a", alerting.EventFired, sensors.LevelOrange, 0, 0), ackOf("a", 1),
			ev("a", alerting.EventResolved, 0, sensors.LevelOrange, 2),
		}, "a", true, alerting.StateDone, "li.na", 3, 1},
		{"closed alerts are bounded, oldest forgotten", LifecycleOptions{KeepClosed: 2, CloseCleared: true}, []alerting.Event{
			ev("a", alerting.EventFired, sensors.LevelOrange, 0, 0), ev("a", alerting.EventResolved, 0, sensors.LevelOrange, 1),
			ev("b", alerting.EventFired, sensors.LevelOrange, 0, 2), ev("b", alerting.EventResolved, 0, sensors.LevelOrange, 3),
			ev("c", alerting.EventFired, sensors.LevelOrange, 0, 4), ev("c", alerting.EventResolved, 0, sensors.LevelOrange, 5),
		}, "a", false, 0, "", 0, 2},
		{"an acknowledgement made elsewhere is taken", LifecycleOptions{}, []alerting.Event{
			ev("a", alerting.EventFired, sensors.LevelOrange, 0, 0), ackOf("a", 1),
		}, "a", true, alerting.StateActiveAcked, "li.na", 2, 1},
		{"an acknowledgement after a close-on-clear is kept", LifecycleOptions{CloseCleared: true}, []alerting.Event{
			ev("a", alerting.EventFired, sensors.LevelOrange, 0, 0), ev("a", alerting.EventResolved, 0, sensors.LevelOrange, 1),
			ackOf("a", 2),
		}, "a", true, alerting.StateDone, "li.na", 3, 1},
		{"an acknowledgement of an unknown alert makes none", LifecycleOptions{}, []alerting.Event{
			ackOf("zz", 1),
		}, "zz", false, 0, "", 0, 0},
		{"escalation forgets the acknowledgement", LifecycleOptions{}, []alerting.Event{
			ev("a", alerting.EventFired, sensors.LevelOrange, 0, 0), ackOf("a", 1),
			ev("a", alerting.EventEscalated, sensors.LevelRed, sensors.LevelOrange, 2),
		}, "a", true, alerting.StateActiveUnacked, "", 3, 1},
		{"a condition back on a cleared alert reopens it", LifecycleOptions{}, []alerting.Event{
			ev("a", alerting.EventFired, sensors.LevelOrange, 0, 0), ev("a", alerting.EventResolved, 0, sensors.LevelOrange, 1),
			ev("a", alerting.EventFired, sensors.LevelOrange, 0, 2),
		}, "a", true, alerting.StateActiveUnacked, "", 3, 1},
		{"a condition back on a done alert reopens it with its history", LifecycleOptions{CloseCleared: true}, []alerting.Event{
			ev("a", alerting.EventFired, sensors.LevelOrange, 0, 0), ev("a", alerting.EventResolved, 0, sensors.LevelOrange, 1),
			ev("a", alerting.EventFired, sensors.LevelOrange, 0, 2),
		}, "a", true, alerting.StateActiveUnacked, "", 3, 1},
		{"the same change seen again on a done alert is dropped", LifecycleOptions{CloseCleared: true}, []alerting.Event{
			ev("a", alerting.EventFired, sensors.LevelOrange, 0, 0), ev("a", alerting.EventResolved, 0, sensors.LevelOrange, 1),
			ev("a", alerting.EventFired, sensors.LevelOrange, 0, 0),
		}, "a", true, alerting.StateDone, "", 2, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var passed int
			l := NewLifecycle(alerting.SinkFunc(func(alerting.Event) { passed++ }), tc.opts)
			for _, e := range tc.events {
				l.Emit(e)
			}
			r, ok := l.Find(tc.id)
			if ok != tc.wantFound {
				t.Fatalf("Find(%s) found %v, want %v", tc.id, ok, tc.wantFound)
			}
			if ok && (r.State != tc.wantState || r.AckedBy != tc.wantAcked || r.EventCount != tc.wantCount) {
				t.Errorf("record: state %v, acked by %q, %d events; want %v, %q, %d", r.State, r.AckedBy, r.EventCount,
					tc.wantState, tc.wantAcked, tc.wantCount)
			}
			if got := len(l.Recent()); got != tc.wantRecent {
				t.Errorf("Recent holds %d alerts, want %d", got, tc.wantRecent)
			}
			if open, isOpen := l.Get(tc.id); isOpen && open.State == alerting.StateDone {
				t.Errorf("a done alert is still on the open list: %+v", open)
			}
			if passed == 0 && len(tc.events) > 0 && tc.id != "zz" {
				t.Error("nothing passed on to the next stage")
			}
		})
	}
}

// TestLoadFillsSubject: a record made of events alone takes its subject
// from them, so it can be found by sensor.
func TestLoadFillsSubject(t *testing.T) {
	l := NewLifecycle(nil, LifecycleOptions{})
	evs := []alerting.Event{{AlertID: "r1", Type: alerting.EventFired, Rule: "co_high", Site: "mine-b", Sensor: "CO-3", Level: sensors.LevelOrange}}
	if n := l.Load([]alerting.Record{{ID: "r1", Events: evs}, {ID: "empty"}}); n != 1 {
		t.Fatalf("loaded %d records, want 1 (a record with neither events nor state is nothing)", n)
	}
	r, ok := l.Find("r1")
	if got := fmt.Sprint(r.Rule, " ", r.Site, " ", r.Sensor); !ok || got != "co_high mine-b CO-3" {
		t.Errorf("loaded record subject %q (found %v)", got, ok)
	}
}
