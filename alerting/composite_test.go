package alerting

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmon/riskmon/sensors"
)

// compositeEngine is two methane heads, a wind speed sensor and a flow
// meter with no rules of its own, and the given composite rule.
func compositeEngine(t testing.TB, r CompositeRule) (*Engine, *[]Event) {
	t.Helper()
	reg := fleetRegistry(t, 2, "ch4", "wind_speed", "flow")
	r.Site = "s-1"
	if r.ID == "" {
		r.ID = "gas_no_air"
	}
	var got []Event
	e, err := NewEngine(reg, SinkFunc(func(ev Event) { got = append(got, ev) }), Options{
		KindPack:   map[sensors.KindID]RulePack{"ch4": {}, "wind_speed": {}, "flow": {}},
		Composite:  []CompositeRule{r},
		Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return e, &got
}

func TestExprName(t *testing.T) {
	for in, want := range map[string]string{"CH4-101": "CH4_101", "ws.2/a": "ws_2_a", "101-A": "_101_A", "ok_1": "ok_1"} {
		if got := ExprName(in); got != want {
			t.Errorf("ExprName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCompositeRules(t *testing.T) {
	type change struct {
		typ   EventType
		sec   int
		since int
	}
	const gasNoAir = "ch4_0 >= 1.0 && wind_speed_0 < 0.25"
	tests := []struct {
		name     string
		rule     CompositeRule
		readings []groupReading
		want     []change
	}{{
		name:     "fires once every value is known, resolves when it stops holding",
		rule:     CompositeRule{Expr: gasNoAir},
		readings: []groupReading{{"ch4-0", 0, 1.2}, {"wind_speed-0", 5, 0.1}, {"ch4-0", 8, 1.3}, {"wind_speed-0", 10, 0.5}},
		want:     []change{{EventFired, 5, 5}, {EventResolved, 10, 5}},
	}, {
		name: "for delays it and keeps the start",
		rule: CompositeRule{Expr: gasNoAir, For: 20 * time.Second},
		readings: []groupReading{{"ch4-0", 0, 1.2}, {"wind_speed-0", 5, 0.1}, {"ch4-0", 15, 1.2},
			{"ch4-0", 25, 1.2}, {"ch4-0", 30, 0.5}},
		want: []change{{EventFired, 25, 5}, {EventResolved, 30, 5}},
	}, {
		name:     "a pending condition that stops holding raises nothing",
		rule:     CompositeRule{Expr: gasNoAir, For: 20 * time.Second},
		readings: []groupReading{{"ch4-0", 0, 1.2}, {"wind_speed-0", 5, 0.1}, {"ch4-0", 15, 0.5}, {"ch4-0", 30, 1.2}},
	}, {
		name:     "an old value stops evaluation and keeps the state",
		rule:     CompositeRule{Expr: gasNoAir, MaxAge: 20 * time.Second},
		readings: []groupReading{{"ch4-0", 0, 1.2}, {"wind_speed-0", 5, 0.1}, {"ch4-0", 40, 0.1}, {"wind_speed-0", 45, 0.1}},
		want:     []change{{EventFired, 5, 5}, {EventResolved, 45, 5}},
	}, {
		name: "firing=>clearing=>resolved after the off-delay",
		rule: CompositeRule{Expr: gasNoAir, OffDelay: 20 * time.Second},
		readings: []groupReading{{"ch4-0", 0, 1.2}, {"wind_speed-0", 5, 0.1}, {"wind_speed-0", 10, 0.5},
			{"wind_speed-0", 25, 0.5}, {"wind_speed-0", 30, 0.5}},
		want: []change{{EventFired, 5, 5}, {EventResolved, 30, 5}},
	}, {
		name: "firing=>clearing=>firing: holding again cancels the clearing",
		rule: CompositeRule{Expr: gasNoAir, OffDelay: 20 * time.Second},
		readings: []groupReading{{"ch4-0", 0, 1.2}, {"wind_speed-0", 5, 0.1}, {"wind_speed-0", 10, 0.5},
			{"wind_speed-0", 20, 0.1}, {"ch4-0", 22, 1.2}, {"wind_speed-0", 25, 0.5}, {"ch4-0", 40, 1.2}, {"wind_speed-0", 45, 0.5}},
		want: []change{{EventFired, 5, 5}, {EventResolved, 45, 5}},
	}, {
		name:     "arithmetic and builtins",
		rule:     CompositeRule{Expr: "abs(ch4_0 - ch4_1) > 0.5 or max(ch4_0, ch4_1) >= 2 * 1.5"},
		readings: []groupReading{{"ch4-0", 0, 0.2}, {"ch4-1", 0, 0.6}, {"ch4-1", 5, 0.8}, {"ch4-1", 10, 3}, {"ch4-0", 15, 3}},
		want:     []change{{EventFired, 5, 5}},
	}, {
		name:     "a sensor without rules of its own",
		rule:     CompositeRule{Expr: "flow_0 > 100 && !(ch4_0 < 0.5)"},
		readings: []groupReading{{"flow-0", 0, 150}, {"ch4-0", 1, 0.7}, {"flow-0", 5, 50}},
		want:     []change{{EventFired, 1, 1}, {EventResolved, 5, 1}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, got := compositeEngine(t, tt.rule)
			for _, r := range tt.readings {
				e.Evaluate(sensors.Reading{Site: "s-1", Sensor: r.sensor, Time: t0.Add(time.Duration(r.sec) * time.Second), Value: r.v})
			}
			var have []change
			for _, ev := range *got {
				if ev.Rule == "gas_no_air" {
					have = append(have, change{ev.Type, int(ev.At.Sub(t0) / time.Second), int(ev.StartsAt.Sub(t0) / time.Second)})
				}
			}
			if len(have) != len(tt.want) {
				t.Fatalf("events %v, want %v", have, tt.want)
			}
			for i := range have {
				if have[i] != tt.want[i] {
					t.Errorf("event %d: %v, want %v", i, have[i], tt.want[i])
				}
			}
		})
	}
}

func TestCompositeEventAndActive(t *testing.T) {
	e, got := compositeEngine(t, CompositeRule{Expr: "ch4_0 >= 1.0 && wind_speed_0 < 0.25", Level: sensors.LevelOrange, For: 20 * time.Second})
	e.Evaluate(sensors.Reading{Site: "s-1", Sensor: "ch4-0", Time: t0, Value: 1.2})
	e.Evaluate(sensors.Reading{Site: "s-1", Sensor: "wind_speed-0", Time: t0.Add(time.Second), Value: 0.1})
	ruleOnly := func(all []Alert) []Alert {
		var out []Alert
		for _, a := range all {
			if a.Rule == "gas_no_air" {
				out = append(out, a)
			}
		}
		return out
	}
	act := ruleOnly(e.Active())
	if len(act) != 1 || act[0].State != StatePending || act[0].Sensor != "gas_no_air" || act[0].Level != sensors.LevelOrange {
		t.Fatalf("active %+v, want the pending rule", act)
	}
	e.Evaluate(sensors.Reading{Site: "s-1", Sensor: "ch4-0", Time: t0.Add(21 * time.Second), Value: 1.2})
	var evs []Event
	for _, ev := range *got {
		if ev.Rule == "gas_no_air" {
			evs = append(evs, ev)
		}
	}
	if len(evs) != 1 {
		t.Fatalf("events %+v", evs)
	}
	ev := evs[0]
	want := "gas_no_air at s-1: ch4_0 >= 1.0 && wind_speed_0 < 0.25 holds (ch4-0 1.2, wind_speed-0 0.1)"
	if ev.Sensor != "gas_no_air" || ev.Level != sensors.LevelOrange || ev.Message != want || ev.AlertID != act[0].ID {
		t.Errorf("event %+v\nwant message %q and id %s", ev, want, act[0].ID)
	}
	if act := ruleOnly(e.Active()); len(act) != 1 || act[0].State != StateFiring || act[0].ID != ev.AlertID {
		t.Errorf("active %+v, want the firing rule", act)
	}
}

func TestCompositeErrors(t *testing.T) {
	reg := fleetRegistry(t, 1, "ch4", "wind_speed")
	tests := []struct {
		name string
		r    CompositeRule
		want string
	}{
		{"unknown sensor", CompositeRule{ID: "r", Site: "s-1", Expr: "ch4_9 > 1"}, "unknown name ch4_9"},
		{"not a bool", CompositeRule{ID: "r", Site: "s-1", Expr: "ch4_0 + 1"}, "expected bool"},
		{"syntax", CompositeRule{ID: "r", Site: "s-1", Expr: "ch4_0 >"}, "expression"},
		{"unsupported", CompositeRule{ID: "r", Site: "s-1", Expr: "ch4_0 in [1, 2]"}, "not supported"},
		{"unsupported builtin", CompositeRule{ID: "r", Site: "s-1", Expr: "round(ch4_0) > 1"}, "not supported"},
		{"no sensor", CompositeRule{ID: "r", Site: "s-1", Expr: "1 > 0"}, "reads no sensor"},
		{"no id", CompositeRule{Site: "s-1", Expr: "ch4_0 > 1"}, "needs an id"},
		{"unknown site", CompositeRule{ID: "r", Site: "s-9", Expr: "ch4_0 > 1"}, "no site"},
		{"bad level", CompositeRule{ID: "r", Site: "s-1", Expr: "ch4_0 > 1", Level: 9}, "level 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewEngine(reg, nil, Options{Composite: []CompositeRule{tt.r}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	r := CompositeRule{ID: "r", Site: "s-1", Expr: "ch4_0 > 1"}
	if _, err := NewEngine(reg, nil, Options{Composite: []CompositeRule{r, r}}); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate rules: error %v", err)
	}
}

func TestEvaluateCompositeDoesNotAllocate(t *testing.T) {
	e, _ := compositeEngine(t, CompositeRule{Expr: "ch4_0 >= 1.0 && wind_speed_0 < 0.25 || abs(ch4_0 - ch4_1) > 2"})
	ids := [...]string{"ch4-0", "ch4-1", "wind_speed-0"}
	i := 0
	step := func() {
		e.Evaluate(sensors.Reading{Site: "s-1", Sensor: ids[i%3], Time: t0.Add(time.Duration(i) * time.Second), Value: 0.3 + 0.01*float64(i%4)})
		i++
	}
	for range 100 {
		step()
	}
	if n := testing.AllocsPerRun(1000, step); n != 0 {
		t.Errorf("Evaluate allocates %g times per reading of a composite's sensor", n)
	}
	if s := e.Stats(); s.Fired != 0 {
		t.Errorf("alerts fired: %+v", s)
	}
}

// BenchmarkEvaluateComposite is a reading of a sensor that one composite
// rule of three sensors reads, no transitions.
func BenchmarkEvaluateComposite(b *testing.B) {
	e, _ := compositeEngine(b, CompositeRule{Expr: "ch4_0 >= 1.0 && wind_speed_0 < 0.25 || abs(ch4_0 - ch4_1) > 2"})
	ids := [...]string{"ch4-0", "ch4-1", "wind_speed-0"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e.Evaluate(sensors.Reading{Site: "s-1", Sensor: ids[i%3], Time: t0.Add(time.Duration(i) * time.Second), Value: 0.3 + 0.01*float64(i%4)})
	}
}
