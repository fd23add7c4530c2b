package lifecycle

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/store"
	"github.com/riskmon/riskmon/sensors"
)

// toggler produces the events of an alert that fires and clears, with a
// new id per episode as the engine gives them.
type toggler struct {
	t0 time.Time
	n  int
}

func (g *toggler) fire(sec int, lvl sensors.Level) alerting.Event {
	g.n++
	at := g.t0.Add(time.Duration(sec) * time.Second)
	return alerting.Event{AlertID: fmt.Sprintf("ep%d", g.n), Rule: "ch4_high", Site: "mine-1", Sensor: "CH4-1", Type: alerting.EventFired,
		Level: lvl, At: at, StartsAt: at}
}

func (g *toggler) clear(sec int, lvl sensors.Level) alerting.Event {
	at := g.t0.Add(time.Duration(sec) * time.Second)
	return alerting.Event{AlertID: fmt.Sprintf("ep%d", g.n), Rule: "ch4_high", Site: "mine-1", Sensor: "CH4-1", Type: alerting.EventResolved,
		PrevLevel: lvl, At: at, StartsAt: g.t0}
}

func TestFlapper(t *testing.T) {
	t0 := time.Unix(1764345600, 0).UTC()
	orange, red := sensors.LevelOrange, sensors.LevelRed
	type want struct {
		typ      alerting.EventType
		id       string
		flapping bool
	}
	tests := []struct {
		name string
		// steps: fire or clear at a second; "tick" advances the wall clock.
		steps func(g *toggler, f *Flapper, wall *time.Time) []alerting.Event
		want  []want
	}{
		{"three episodes within the window pass", func(g *toggler, f *Flapper, _ *time.Time) []alerting.Event {
			return []alerting.Event{g.fire(0, orange), g.clear(10, orange), g.fire(20, orange), g.clear(30, orange), g.fire(40, orange), g.clear(50, orange)}
		}, []want{{alerting.EventFired, "ep1", false}, {alerting.EventResolved, "ep1", false}, {alerting.EventFired, "ep2", false}, {alerting.EventResolved, "ep2", false}, {alerting.EventFired, "ep3", false}, {alerting.EventResolved, "ep3", false}}},
		{"raises spread over more than the window are not flapping", func(g *toggler, f *Flapper, _ *time.Time) []alerting.Event {
			return []alerting.Event{g.fire(0, orange), g.clear(10, orange), g.fire(400, orange), g.clear(410, orange), g.fire(700, orange), g.clear(710, orange), g.fire(1300, orange)}
		}, []want{{alerting.EventFired, "ep1", false}, {alerting.EventResolved, "ep1", false}, {alerting.EventFired, "ep2", false}, {alerting.EventResolved, "ep2", false}, {alerting.EventFired, "ep3", false}, {alerting.EventResolved, "ep3", false}, {alerting.EventFired, "ep4", false}}},
		{"fourth raise is held: later toggles are absorbed", func(g *toggler, f *Flapper, _ *time.Time) []alerting.Event {
			return []alerting.Event{g.fire(0, orange), g.clear(10, orange), g.fire(20, orange), g.clear(30, orange), g.fire(40, orange), g.clear(50, orange),
				g.fire(60, orange), g.clear(70, orange), g.fire(80, orange), g.clear(90, orange), g.fire(100, orange)}
		}, []want{{alerting.EventFired, "ep1", false}, {alerting.EventResolved, "ep1", false}, {alerting.EventFired, "ep2", false}, {alerting.EventResolved, "ep2", false}, {alerting.EventFired, "ep3", false}, {alerting.EventResolved, "ep3", false},
			{alerting.EventFired, "ep4", true}}},
		{"a worse level while held escalates the held alert", func(g *toggler, f *Flapper, _ *time.Time) []alerting.Event {
			return []alerting.Event{g.fire(0, orange), g.clear(10, orange), g.fire(20, orange), g.clear(30, orange), g.fire(40, orange), g.clear(50, orange),
				g.fire(60, orange), g.clear(70, orange), g.fire(80, red)}
		}, []want{{alerting.EventFired, "ep1", false}, {alerting.EventResolved, "ep1", false}, {alerting.EventFired, "ep2", false}, {alerting.EventResolved, "ep2", false}, {alerting.EventFired, "ep3", false}, {alerting.EventResolved, "ep3", false},
			{alerting.EventFired, "ep4", true}, {alerting.EventEscalated, "ep4", true}}},
		{"held alert resolves after staying clear for the window", func(g *toggler, f *Flapper, wall *time.Time) []alerting.Event {
			evs := []alerting.Event{g.fire(0, orange), g.clear(10, orange), g.fire(20, orange), g.clear(30, orange), g.fire(40, orange), g.clear(50, orange),
				g.fire(60, orange), g.clear(70, orange)}
			return evs
		}, []want{{alerting.EventFired, "ep1", false}, {alerting.EventResolved, "ep1", false}, {alerting.EventFired, "ep2", false}, {alerting.EventResolved, "ep2", false}, {alerting.EventFired, "ep3", false}, {alerting.EventResolved, "ep3", false},
			{alerting.EventFired, "ep4", true}, {alerting.EventResolved, "ep4", true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []alerting.Event
			wall := t0
			f, err := NewFlapper(alerting.SinkFunc(func(e alerting.Event) { got = append(got, e) }), FlapOptions{Raises: 3, Window: 10 * time.Minute, Now: func() time.Time { return wall }})
			if err != nil {
				t.Fatal(err)
			}
			g := &toggler{t0: t0}
			for _, ev := range tt.steps(g, f, &wall) {
				f.Emit(ev)
			}
			// Not yet a window clear: nothing resolves.
			if n := f.Tick(wall.Add(9 * time.Minute)); n != 0 {
				t.Fatalf("resolved %d held alerts before the window", n)
			}
			f.Tick(wall.Add(10 * time.Minute))
			if len(got) != len(tt.want) {
				t.Fatalf("passed %d events, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				if got[i].Type != w.typ || got[i].AlertID != w.id || got[i].Flapping != w.flapping {
					t.Errorf("event %d = %v %s flapping=%v, want %v %s %v", i, got[i].Type, got[i].AlertID, got[i].Flapping, w.typ, w.id, w.flapping)
				}
			}
		})
	}
}

// A held alert stays held across a restart: its next toggle is absorbed
// and it resolves once clear for the window.
func TestFlapperStateSurvivesRestart(t *testing.T) {
	t0 := time.Unix(1764345600, 0).UTC()
	path := filepath.Join(t.TempDir(), "alerts.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []alerting.Event
	sink := alerting.SinkFunc(func(e alerting.Event) { got = append(got, e) })
	f, _ := NewFlapper(sink, FlapOptions{Store: st.Flapping(), Now: func() time.Time { return t0 }})
	g := &toggler{t0: t0}
	for i := 0; i < 4; i++ {
		f.Emit(g.fire(i*20, sensors.LevelOrange))
		f.Emit(g.clear(i*20+10, sensors.LevelOrange))
	}
	if ids := f.Flapping(); len(ids) != 1 || ids[0] != "ep4" {
		t.Fatalf("flapping %v, want [ep4]", ids)
	}
	st.Close()
	st, err = store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got = nil
	f, err = NewFlapper(sink, FlapOptions{Store: st.Flapping(), Now: func() time.Time { return t0.Add(time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	f.Emit(g.fire(100, sensors.LevelOrange))
	f.Emit(g.clear(110, sensors.LevelOrange))
	if len(got) != 0 {
		t.Fatalf("a toggle of a held alert passed after restart: %+v", got)
	}
	f.Tick(t0.Add(20 * time.Minute))
	if len(got) != 1 || got[0].Type != alerting.EventResolved || got[0].AlertID != "ep4" {
		t.Fatalf("after the window: %+v, want ep4 resolved", got)
	}
}

// TestFlapperDeviceTime: raises are counted and held alerts released on
// the device time the rules run on, whatever the wall clock does: a
// gateway replaying half an hour of buffered data, or a simulation at
// ten times real speed, pages a spike train as often as a live one.
func TestFlapperDeviceTime(t *testing.T) {
	t0 := time.Unix(1764345600, 0).UTC()
	tests := []struct {
		name  string
		lag   time.Duration // wall minus device time at the start
		speed float64       // device seconds per wall second
	}{
		{"live", 0, 1},
		{"device time 30 min behind the wall clock", 30 * time.Minute, 1},
		{"ten times real speed", 0, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wall := t0.Add(tt.lag)
			var got []alerting.Event
			f, err := NewFlapper(alerting.SinkFunc(func(e alerting.Event) { got = append(got, e) }), FlapOptions{Raises: 3, Window: 10 * time.Minute, Now: func() time.Time { return wall }})
			if err != nil {
				t.Fatal(err)
			}
			g := &toggler{t0: t0}
			// A spike train: fired for 10 s every 40 s of device time, 9
			// times, then quiet for 30 min of wall time (the subject's
			// device clock runs on at the wall rate between its events);
			// the service ticks every 5 s of wall time.
			dev := 0
			step := func(devSec int) {
				for dev < devSec {
					dev += 5
					wall = wall.Add(time.Duration(float64(5*time.Second) / tt.speed))
					f.Tick(wall)
				}
			}
			for i := range 9 {
				step(40 * i)
				f.Emit(g.fire(40*i, sensors.LevelOrange))
				step(40*i + 10)
				f.Emit(g.clear(40*i+10, sensors.LevelOrange))
			}
			step(40*9 + int(30*60*tt.speed))
			var pages, resolved int
			for _, ev := range got {
				switch ev.Type {
				case alerting.EventFired:
					pages++
				case alerting.EventResolved:
					resolved++
				}
			}
			// Three raises pass, the fourth is held and stands for the
			// rest; it resolves once clear for the window.
			if pages != 4 || resolved != 4 {
				t.Errorf("%d pages and %d resolutions, want 4 and 4: %v", pages, resolved, types(got))
			}
			last := got[len(got)-1]
			if last.Type != alerting.EventResolved || !last.Flapping {
				t.Fatalf("last event %+v, want the held alert resolved", last)
			}
		})
	}
}

func types(evs []alerting.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.AlertID+":"+ev.Type.String())
	}
	return out
}
