package store

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/lifecycle"

	"github.com/riskmon/riskmon/sensors"
)

// Open alerts and their acknowledgements come back after a restart; an
// alert that left the list stays gone.
func TestLifecycleRestore(t *testing.T) {
	t0 := time.Unix(1764345600, 0).UTC()
	path := filepath.Join(t.TempDir(), "alerts.db")
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	nop := alerting.SinkFunc(func(alerting.Event) {})
	l := lifecycle.NewLifecycle(nop, lifecycle.LifecycleOptions{Store: st, LatchRed: true, Now: func() time.Time { return t0 }})
	ev := func(id string, typ alerting.EventType, lvl, prev sensors.Level) alerting.Event {
		return alerting.Event{AlertID: id, Rule: "ch4_high", Site: "mine-1", Sensor: id, Type: typ, Level: lvl, PrevLevel: prev, At: t0, StartsAt: t0}
	}
	l.Emit(ev("acked", alerting.EventFired, sensors.LevelOrange, 0))
	l.Emit(ev("latched", alerting.EventFired, sensors.LevelRed, 0))
	l.Emit(ev("latched", alerting.EventResolved, 0, sensors.LevelRed))
	l.Emit(ev("gone", alerting.EventFired, sensors.LevelYellow, 0))
	l.Emit(ev("firing", alerting.EventFired, sensors.LevelBlue, 0))
	if _, err := l.Ack("acked", "li", "on it"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Ack("gone", "li", ""); err != nil {
		t.Fatal(err)
	}
	l.Emit(ev("gone", alerting.EventResolved, 0, sensors.LevelYellow))
	want := map[string]alerting.Record{}
	for _, r := range l.Open() {
		want[r.ID] = r
	}
	if len(want) != 3 {
		t.Fatalf("before restart %d open, want 3", len(want))
	}
	st.Close()

	st, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l = lifecycle.NewLifecycle(nop, lifecycle.LifecycleOptions{Store: st, LatchRed: true})
	n, err := l.Restore()
	if err != nil || n != 3 {
		t.Fatalf("restored %d, %v; want 3", n, err)
	}
	for id, w := range want {
		got, ok := l.Get(id)
		if !ok {
			t.Fatalf("%s missing after restart", id)
		}
		if got.State != w.State || got.AckedBy != w.AckedBy || got.Comment != w.Comment || got.MaxLevel != w.MaxLevel ||
			len(got.Events) != len(w.Events) || !got.StartsAt.Equal(w.StartsAt) {
			t.Fatalf("%s after restart %+v, want %+v", id, got, w)
		}
	}
	// The restored latched alert still needs its acknowledgement.
	if _, err := l.Ack("latched", "wang", ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := l.Get("latched"); ok {
		t.Fatal("latched alert still open after its acknowledgement")
	}
}

func TestLifecycleRemind(t *testing.T) {
	t0 := time.Unix(1764345600, 0).UTC()
	now := t0
	var sent []alerting.Event
	l := lifecycle.NewLifecycle(alerting.SinkFunc(func(alerting.Event) {}), lifecycle.LifecycleOptions{
		Now:    func() time.Time { return now },
		Repeat: map[sensors.Level]time.Duration{sensors.LevelRed: 10 * time.Minute, sensors.LevelOrange: 30 * time.Minute},
		Remind: alerting.SinkFunc(func(e alerting.Event) { sent = append(sent, e) }),
	})
	fire := func(id string, lvl sensors.Level, mark func(*alerting.Event)) {
		e := alerting.Event{AlertID: id, Rule: "r", Site: "s", Sensor: id, Type: alerting.EventFired, Level: lvl, At: now, StartsAt: now}
		if mark != nil {
			mark(&e)
		}
		l.Emit(e)
	}
	fire("red", sensors.LevelRed, nil)
	fire("orange", sensors.LevelOrange, nil)
	fire("yellow", sensors.LevelYellow, nil)
	fire("acked", sensors.LevelRed, nil)
	fire("shelved", sensors.LevelRed, func(e *alerting.Event) { e.Shelved = "x" })
	fire("planned", sensors.LevelRed, func(e *alerting.Event) { e.Planned = true })
	if _, err := l.Ack("acked", "li", ""); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		after time.Duration
		want  []string
	}{
		{9 * time.Minute, nil},
		{10 * time.Minute, []string{"red"}},
		{19 * time.Minute, nil},
		{20 * time.Minute, []string{"red"}},
		{30 * time.Minute, []string{"orange", "red"}},
	}
	for _, tt := range tests {
		now = t0.Add(tt.after)
		sent = nil
		l.Remind(now)
		var got []string
		for _, e := range sent {
			if e.Type != alerting.EventReminder {
				t.Fatalf("reminder of type %v", e.Type)
			}
			got = append(got, e.AlertID)
		}
		if len(got) == 2 && got[0] > got[1] {
			got[0], got[1] = got[1], got[0]
		}
		if len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) || (len(got) > 1 && got[1] != tt.want[1]) {
			t.Fatalf("at +%s reminded %v, want %v", tt.after, got, tt.want)
		}
	}
}

// A change the alert's history already holds is not passed on a second
// time; another change of the same alert is.
func TestLifecycleDropsRepeatedChange(t *testing.T) {
	t0 := time.Unix(1764345600, 0).UTC()
	var passed []alerting.EventType
	l := lifecycle.NewLifecycle(alerting.SinkFunc(func(e alerting.Event) { passed = append(passed, e.Type) }), lifecycle.LifecycleOptions{Now: func() time.Time { return t0 }})
	fired := alerting.Event{AlertID: "a", Rule: "ch4_high", Site: "mine-1", Sensor: "CH4-1", Type: alerting.EventFired, Level: sensors.LevelOrange, At: t0, StartsAt: t0}
	l.Emit(fired)
	again := fired
	again.Message = "redelivered"
	l.Emit(again)
	esc := fired
	esc.Type, esc.Level, esc.PrevLevel, esc.At = alerting.EventEscalated, sensors.LevelRed, sensors.LevelOrange, t0.Add(time.Second)
	l.Emit(esc)
	if len(passed) != 2 || passed[0] != alerting.EventFired || passed[1] != alerting.EventEscalated {
		t.Fatalf("passed %v, want fired then escalated once each", passed)
	}
	if r, _ := l.Get("a"); len(r.Events) != 2 {
		t.Fatalf("history holds %d events, want 2", len(r.Events))
	}
}
