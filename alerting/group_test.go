package alerting

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmon/riskmon/sensors"
)

// groupEngine is three methane heads (alarm 1.0 %, red 1.5 %, restore
// below 1.0 %, interval 10 s) in one group, with no early-warning pack.
func groupEngine(t testing.TB, g Group) (*Engine, *[]Event) {
	t.Helper()
	reg := fleetRegistry(t, 3, "ch4", "flow", "co")
	g.Site, g.ID = "s-1", "face-1"
	if g.Sensors == nil {
		g.Sensors = []string{"ch4-0", "ch4-1", "ch4-2"}
	}
	var got []Event
	e, err := NewEngine(reg, SinkFunc(func(ev Event) { got = append(got, ev) }), Options{
		KindPack:   map[sensors.KindID]RulePack{"ch4": {}},
		Groups:     []Group{g},
		Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return e, &got
}

type groupReading struct {
	sensor string
	sec    int
	v      float64
}

func TestGroupRules(t *testing.T) {
	type change struct {
		rule string
		typ  EventType
		sec  int
	}
	tests := []struct {
		name     string
		g        Group
		readings []groupReading
		want     []change
	}{{
		name: "one head at zero while its neighbour alarms",
		g:    Group{Tolerance: 0.5},
		readings: []groupReading{{"ch4-0", 0, 0.1}, {"ch4-1", 0, 0.1}, {"ch4-2", 0, 0.1},
			{"ch4-0", 10, 1.2}, {"ch4-1", 12, 1.1}, {"ch4-2", 15, 1.0}},
		want: []change{{RuleSensorDisagreement, EventFired, 10}, {RuleSensorDisagreement, EventResolved, 15}},
	}, {
		name:     "a spread without an alarm is not a disagreement",
		g:        Group{Tolerance: 0.5},
		readings: []groupReading{{"ch4-0", 0, 0.9}, {"ch4-1", 0, 0.2}, {"ch4-2", 0, 0.1}},
	}, {
		// 0.45 is over 0.8 × 0.5, so the open alert holds.
		name: "an open disagreement holds down to 80 % of the tolerance",
		g:    Group{Tolerance: 0.5},
		readings: []groupReading{{"ch4-0", 0, 1.2}, {"ch4-1", 0, 0.6}, {"ch4-1", 5, 0.75},
			{"ch4-1", 10, 0.85}},
		want: []change{{RuleSensorDisagreement, EventFired, 0}, {RuleSensorDisagreement, EventResolved, 10}},
	}, {
		name:     "a stale member does not disagree",
		g:        Group{Tolerance: 0.5},
		readings: []groupReading{{"ch4-0", 0, 0}, {"ch4-1", 40, 1.2}},
	}, {
		name: "two of three vote red; restore below 1.0 %",
		g:    Group{Vote: 2},
		readings: []groupReading{{"ch4-0", 0, 1.6}, {"ch4-1", 5, 1.6}, {"ch4-0", 10, 1.2},
			{"ch4-0", 15, 0.9}},
		want: []change{{RuleGroupVote, EventFired, 5}, {RuleGroupVote, EventResolved, 15}},
	}, {
		name:     "one head at red is not a group alarm",
		g:        Group{Vote: 2},
		readings: []groupReading{{"ch4-0", 0, 3}, {"ch4-1", 5, 0.2}, {"ch4-2", 5, 0.2}},
	}, {
		name:     "a member older than max age does not vote",
		g:        Group{Vote: 2},
		readings: []groupReading{{"ch4-0", 0, 1.6}, {"ch4-1", 31, 1.6}},
	}, {
		name:     "max age is configurable",
		g:        Group{Vote: 2, MaxAge: time.Minute},
		readings: []groupReading{{"ch4-0", 0, 1.6}, {"ch4-1", 31, 1.6}},
		want:     []change{{RuleGroupVote, EventFired, 31}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, got := groupEngine(t, tt.g)
			for _, r := range tt.readings {
				e.Evaluate(sensors.Reading{Site: "s-1", Sensor: r.sensor, Time: t0.Add(time.Duration(r.sec) * time.Second), Value: r.v})
			}
			var have []change
			for _, ev := range *got {
				if ev.Sensor == "face-1" {
					have = append(have, change{ev.Rule, ev.Type, int(ev.At.Sub(t0) / time.Second)})
				}
			}
			if len(have) != len(tt.want) {
				t.Fatalf("group events %v, want %v", have, tt.want)
			}
			for i := range have {
				if have[i] != tt.want[i] {
					t.Errorf("event %d: %v, want %v", i, have[i], tt.want[i])
				}
			}
		})
	}
}

func TestGroupEvent(t *testing.T) {
	e, got := groupEngine(t, Group{Tolerance: 0.5, Vote: 2})
	e.Evaluate(sensors.Reading{Site: "s-1", Sensor: "ch4-0", Time: t0, Value: 0})
	e.Evaluate(sensors.Reading{Site: "s-1", Sensor: "ch4-1", Time: t0.Add(time.Second), Value: 1.2})
	var ev *Event
	for i := range *got {
		if (*got)[i].Rule == RuleSensorDisagreement {
			ev = &(*got)[i]
		}
	}
	if ev == nil {
		t.Fatalf("no disagreement in %+v", *got)
	}
	if ev.Sensor != "face-1" || ev.Kind != "ch4" || ev.Level != sensors.LevelYellow || ev.Value != 1.2 || ev.Setpoint != 0.5 {
		t.Errorf("event %+v", ev)
	}
	want := "group face-1 at s-1 (ch4-0 0, ch4-1 1.2, ch4-2 no recent reading): members differ by 1.2 %CH4 (tolerance 0.5) while one alarms; sensor fault suspected"
	if ev.Message != want {
		t.Errorf("message %q\nwant    %q", ev.Message, want)
	}
	var found bool
	for _, a := range e.Active() {
		if a.Rule == RuleSensorDisagreement {
			found = a.ID == ev.AlertID && a.Sensor == "face-1" && a.Level == sensors.LevelYellow
		}
	}
	if !found {
		t.Errorf("active %+v, want the disagreement", e.Active())
	}
}

func TestGroupErrors(t *testing.T) {
	reg := fleetRegistry(t, 2, "ch4", "flow", "co")
	tests := []struct {
		name string
		g    Group
		want string
	}{
		{"unknown sensor", Group{ID: "g", Site: "s-1", Sensors: []string{"ch4-0", "ch4-9"}, Vote: 2}, "no sensor ch4-9"},
		{"mixed kinds", Group{ID: "g", Site: "s-1", Sensors: []string{"ch4-0", "co-0"}, Vote: 2}, "must measure the same thing"},
		{"vote over members", Group{ID: "g", Site: "s-1", Sensors: []string{"ch4-0", "ch4-1"}, Vote: 3}, "vote 3"},
		{"one member", Group{ID: "g", Site: "s-1", Sensors: []string{"ch4-0"}, Vote: 1}, "at least two"},
		{"no rule", Group{ID: "g", Site: "s-1", Sensors: []string{"ch4-0", "ch4-1"}}, "no rule"},
		{"twice", Group{ID: "g", Site: "s-1", Sensors: []string{"ch4-0", "ch4-0"}, Vote: 2}, "listed twice"},
		{"no setpoints", Group{ID: "g", Site: "s-1", Sensors: []string{"flow-0", "flow-1"}, Vote: 2}, "no setpoints"},
		{"no id", Group{Site: "s-1", Sensors: []string{"ch4-0", "ch4-1"}, Vote: 2}, "needs an id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewEngine(reg, nil, Options{Groups: []Group{tt.g}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	g := Group{ID: "g", Site: "s-1", Sensors: []string{"ch4-0", "ch4-1"}, Vote: 2}
	if _, err := NewEngine(reg, nil, Options{Groups: []Group{g, g}}); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate groups: error %v", err)
	}

	// CO heads of one kind, one reporting in mg/m3 and one in ppm: 20
	// mg/m3 is about 17 ppm, so their readings cannot be compared as
	// they come.
	mixed, err := sensors.LoadYAML(sensors.DefaultCatalog(), "fleet.yaml", strings.NewReader(`
sites:
  - id: s-1
    name: Site 1
    sector: hazchem
    sensors:
      - {id: co-a, kind: co, unit: mg/m3, gateway: gw1, location: Pump room}
      - {id: co-b, kind: co, unit: ppm, gateway: gw1, location: Pump room}
`))
	if err != nil {
		t.Fatal(err)
	}
	g = Group{ID: "g", Site: "s-1", Sensors: []string{"co-a", "co-b"}, Tolerance: 5}
	if _, err := NewEngine(mixed, nil, Options{Groups: []Group{g}}); err == nil || !strings.Contains(err.Error(), "must report in one unit") {
		t.Errorf("mixed units: error %v", err)
	}
}

func TestEvaluateGroupDoesNotAllocate(t *testing.T) {
	e, _ := groupEngine(t, Group{Tolerance: 0.5, Vote: 2})
	ids := [...]string{"ch4-0", "ch4-1", "ch4-2"}
	i := 0
	step := func() {
		e.Evaluate(sensors.Reading{Site: "s-1", Sensor: ids[i%3], Time: t0.Add(time.Duration(i) * time.Second),
			Value: 0.3 + 0.01*float64(i%4)})
		i++
	}
	for range 100 {
		step()
	}
	if n := testing.AllocsPerRun(1000, step); n != 0 {
		t.Errorf("Evaluate allocates %g times per reading of a group member", n)
	}
	if s := e.Stats(); s.Fired != 0 {
		t.Errorf("alerts fired: %+v", s)
	}
}

// BenchmarkEvaluateGroup is a methane head in a group of three with both
// group rules, no transitions.
func BenchmarkEvaluateGroup(b *testing.B) {
	e, _ := groupEngine(b, Group{Tolerance: 0.5, Vote: 2})
	ids := [...]string{"ch4-0", "ch4-1", "ch4-2"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e.Evaluate(sensors.Reading{Site: "s-1", Sensor: ids[i%3], Time: t0.Add(time.Duration(i) * time.Second), Value: 0.3 + 0.01*float64(i%4)})
	}
}

// TestGroupsConcurrent evaluates members of a group and the sensors of a
// composite rule, which sit in different shards, from several goroutines
// while Active reads; run with -race.
func TestGroupsConcurrent(t *testing.T) {
	reg := fleetRegistry(t, 3, "ch4", "wind_speed")
	e, err := NewEngine(reg, nil, Options{
		Groups:    []Group{{ID: "g", Site: "s-1", Sensors: []string{"ch4-0", "ch4-1", "ch4-2"}, Tolerance: 0.5, Vote: 2}},
		Composite: []CompositeRule{{ID: "c", Site: "s-1", Expr: "ch4_0 >= 1 && wind_speed_0 < 0.25"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := [...]string{"ch4-0", "ch4-1", "ch4-2", "wind_speed-0"}
	done := make(chan struct{})
	for w := range len(ids) {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 500 {
				e.Evaluate(sensors.Reading{Site: "s-1", Sensor: ids[w], Time: t0.Add(time.Duration(i) * time.Second), Value: float64(i%20) / 10})
			}
		}()
	}
	for range 50 {
		e.Active()
	}
	for range ids {
		<-done
	}
}

// TestAdoptGroupAlert: a group's vote fired after the last save and the
// alert store kept it open; the restored engine takes it up under its id,
// so it is not raised again and its resolve is of that alert.
func TestAdoptGroupAlert(t *testing.T) {
	first, got := groupEngine(t, Group{Vote: 2})
	eval := func(e *Engine, rs ...groupReading) {
		for _, r := range rs {
			e.Evaluate(sensors.Reading{Site: "s-1", Sensor: r.sensor, Time: t0.Add(time.Duration(r.sec) * time.Second), Value: r.v})
		}
	}
	eval(first, groupReading{"ch4-0", 0, 1.6})
	snap := first.AlertSnapshot() // the last save before the crash
	eval(first, groupReading{"ch4-1", 5, 1.6})
	votes := func(evs []Event) []Event {
		var out []Event
		for _, ev := range evs {
			if ev.Rule == RuleGroupVote {
				out = append(out, ev)
			}
		}
		return out
	}
	firstVotes := votes(*got)
	if len(firstVotes) != 1 || firstVotes[0].Type != EventFired {
		t.Fatalf("first engine: %+v, want the vote fired", firstVotes)
	}
	fired := firstVotes[0]
	next, after := groupEngine(t, Group{Vote: 2})
	next.Restore(snap)
	if n := next.Adopt([]Record{{ID: fired.AlertID, Rule: fired.Rule, Site: "s-1", Sensor: "face-1",
		State: StateActiveUnacked, Level: fired.Level, StartsAt: fired.StartsAt}}); n != 1 {
		t.Fatalf("adopted %d, want the group alert", n)
	}
	// The reading after the save comes again, then the heads clear.
	eval(next, groupReading{"ch4-1", 5, 1.6}, groupReading{"ch4-0", 10, 0.5}, groupReading{"ch4-1", 15, 0.5})
	if v := votes(*after); len(v) != 1 || v[0].Type != EventResolved || v[0].AlertID != fired.AlertID {
		t.Fatalf("vote events after the restart %+v, want only %s resolved", v, fired.AlertID)
	}
}
