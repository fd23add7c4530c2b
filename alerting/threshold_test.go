package alerting

import (
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

const (
	none   = sensors.LevelNone
	red    = sensors.LevelRed
	orange = sensors.LevelOrange
)

// gasRule is GB/T 50493 combustible gas: orange at 25 %LEL, red at 50,
// each restoring 2 %LEL lower.
func gasRule(t *testing.T, forDur time.Duration) *ThresholdRule {
	t.Helper()
	r, err := NewThresholdRule("combustible_gas_high", sensors.Above, []sensors.Setpoint{
		{Level: red, Direction: sensors.Above, Value: 50, Clear: 48},
		{Level: orange, Direction: sensors.Above, Value: 25, Clear: 23},
	}, forDur)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tick is one reading fed to a rule and what must follow from it.
type tick struct {
	at    int     // device time, seconds from the start
	v     float64 // value
	typ   EventType
	phase AlertState
	level sensors.Level // firing level, or the level a pending alert waits for
}

// runTicks feeds ticks through the rule's step function and checks each
// outcome; it returns the events built for the transitions.
func runTicks(t *testing.T, r *ThresholdRule, ticks []tick) []Event {
	t.Helper()
	t0 := time.Date(2026, 11, 28, 16, 0, 0, 0, time.UTC)
	subj := &subjectInfo{site: "hz-01", sensor: "GT-101", kind: "combustible_gas", unit: "%LEL"}
	var st thresholdState
	var events []Event
	for i, tk := range ticks {
		at := t0.Add(time.Duration(tk.at) * time.Second).UnixNano()
		var tr transition
		st, tr = r.step(st, tk.v, at)
		if tr.typ != tk.typ {
			t.Fatalf("tick %d (t=%ds v=%g): event %v, want %v", i, tk.at, tk.v, tr.typ, tk.typ)
		}
		if got := phaseOf(st); got != tk.phase {
			t.Fatalf("tick %d (t=%ds v=%g): phase %v, want %v", i, tk.at, tk.v, got, tk.phase)
		}
		level := st.level
		if level == none {
			level = st.next
		}
		if level != tk.level {
			t.Fatalf("tick %d (t=%ds v=%g): level %v, want %v", i, tk.at, tk.v, level, tk.level)
		}
		if tr.typ != 0 {
			events = append(events, r.event(tr, st, subj, at))
		}
	}
	return events
}

func TestThresholdTransitions(t *testing.T) {
	const inactive, pending, firing = StateInactive, StatePending, StateFiring
	tests := []struct {
		name  string
		For   time.Duration
		ticks []tick
	}{
		{"inactive=>firing", 0, []tick{
			{0, 10, 0, inactive, none},
			{5, 27.3, EventFired, firing, orange},
		}},
		{"inactive=>pending", 30 * time.Second, []tick{
			{0, 27, 0, pending, orange},
		}},
		{"pending=>firing", 30 * time.Second, []tick{
			{0, 27, 0, pending, orange},
			{20, 27, 0, pending, orange},
			{30, 26, EventFired, firing, orange},
		}},
		{"pending=>inactive", 30 * time.Second, []tick{
			{0, 27, 0, pending, orange},
			{10, 20, 0, inactive, none},
			{40, 20, 0, inactive, none},
		}},
		// On-delay per ISA-18.2: the band between setpoint and restore
		// value does not hold a pending alert, so the wait restarts.
		{"pending=>inactive=>pending in band", 30 * time.Second, []tick{
			{0, 27, 0, pending, orange},
			{10, 24, 0, inactive, none},
			{35, 27, 0, pending, orange},
			{60, 27, 0, pending, orange},
			{65, 27, EventFired, firing, orange},
		}},
		{"pending=>firing at the most severe level", 30 * time.Second, []tick{
			{0, 27, 0, pending, orange},
			{20, 55, 0, pending, red},
			{30, 55, EventFired, firing, red},
		}},
		{"firing=>firing in hysteresis band", 0, []tick{
			{0, 27, EventFired, firing, orange},
			{10, 24, 0, firing, orange},
			{20, 23, 0, firing, orange}, // 23 is not below the restore value 23
			{30, 25, 0, firing, orange},
			{40, 22.9, EventResolved, inactive, none},
		}},
		{"firing=>escalated", 0, []tick{
			{0, 27, EventFired, firing, orange},
			{10, 50, EventEscalated, firing, red},
		}},
		{"firing=>escalated after For", 30 * time.Second, []tick{
			{0, 27, 0, pending, orange},
			{30, 27, EventFired, firing, orange},
			{40, 52, 0, firing, orange},
			{60, 52, 0, firing, orange},
			{70, 52, EventEscalated, firing, red},
		}},
		{"escalation wait restarts below the setpoint", 30 * time.Second, []tick{
			{0, 27, 0, pending, orange},
			{30, 27, EventFired, firing, orange},
			{40, 52, 0, firing, orange},
			{50, 49, 0, firing, orange},
			{60, 52, 0, firing, orange},
			{80, 52, 0, firing, orange},
			{90, 52, EventEscalated, firing, red},
		}},
		{"firing=>deescalated", 0, []tick{
			{0, 55, EventFired, firing, red},
			{10, 49, 0, firing, red},
			{20, 48, 0, firing, red},
			{30, 47, EventDeescalated, firing, orange},
			{40, 24, 0, firing, orange},
			{50, 22, EventResolved, inactive, none},
		}},
		// 24 clears red's restore value and is below orange's setpoint, but
		// not past orange's restore value: orange still holds.
		{"firing=>deescalated into the lower band", 0, []tick{
			{0, 55, EventFired, firing, red},
			{10, 24, EventDeescalated, firing, orange},
		}},
		{"firing=>resolved from the top level", 0, []tick{
			{0, 55, EventFired, firing, red},
			{10, 10, EventResolved, inactive, none},
		}},
		{"deescalation needs no For", 30 * time.Second, []tick{
			{0, 55, 0, pending, red},
			{30, 55, EventFired, firing, red},
			{31, 30, EventDeescalated, firing, orange},
			{32, 10, EventResolved, inactive, none},
		}},
		{"resolved=>pending again", 30 * time.Second, []tick{
			{0, 27, 0, pending, orange},
			{30, 27, EventFired, firing, orange},
			{40, 10, EventResolved, inactive, none},
			{50, 27, 0, pending, orange},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runTicks(t, gasRule(t, tt.For), tt.ticks)
		})
	}
}

func TestThresholdRamp(t *testing.T) {
	// Up through both levels and back down, For 30 s, a reading every 10 s.
	ticks := []tick{
		{0, 10, 0, StateInactive, none},
		{10, 26, 0, StatePending, orange},
		{20, 30, 0, StatePending, orange},
		{40, 40, EventFired, StateFiring, orange},
		{50, 51, 0, StateFiring, orange},
		{60, 56, 0, StateFiring, orange},
		{80, 60, EventEscalated, StateFiring, red},
		{90, 49, 0, StateFiring, red},
		{100, 40, EventDeescalated, StateFiring, orange},
		{110, 24, 0, StateFiring, orange},
		{120, 5, EventResolved, StateInactive, none},
	}
	events := runTicks(t, gasRule(t, 30*time.Second), ticks)
	want := []struct {
		typ         EventType
		level, prev sensors.Level
		setpoint    float64
	}{
		{EventFired, orange, none, 25},
		{EventEscalated, red, orange, 50},
		{EventDeescalated, orange, red, 48},
		{EventResolved, none, orange, 23},
	}
	if len(events) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(events), len(want), events)
	}
	startsAt := time.Date(2026, 11, 28, 16, 0, 10, 0, time.UTC)
	for i, w := range want {
		ev := events[i]
		if ev.Type != w.typ || ev.Level != w.level || ev.PrevLevel != w.prev || ev.Setpoint != w.setpoint {
			t.Errorf("event %d: %v level %v prev %v setpoint %g, want %v level %v prev %v setpoint %g",
				i, ev.Type, ev.Level, ev.PrevLevel, ev.Setpoint, w.typ, w.level, w.prev, w.setpoint)
		}
		if ev.AlertID != events[0].AlertID {
			t.Errorf("event %d: alert id %s, want %s as the first", i, ev.AlertID, events[0].AlertID)
		}
		if !ev.StartsAt.Equal(startsAt) {
			t.Errorf("event %d: starts at %v, want the first tripping reading %v", i, ev.StartsAt, startsAt)
		}
	}
}

func TestThresholdNewAlertNewID(t *testing.T) {
	events := runTicks(t, gasRule(t, 0), []tick{
		{0, 27, EventFired, StateFiring, orange},
		{10, 10, EventResolved, StateInactive, none},
		{20, 27, EventFired, StateFiring, orange},
	})
	if events[0].AlertID != events[1].AlertID {
		t.Errorf("resolve changed the alert id: %s then %s", events[0].AlertID, events[1].AlertID)
	}
	if events[2].AlertID == events[0].AlertID {
		t.Errorf("a new alert reused id %s", events[0].AlertID)
	}
}

func TestThresholdMessages(t *testing.T) {
	events := runTicks(t, gasRule(t, 0), []tick{
		{0, 27.3, EventFired, StateFiring, orange},
		{10, 50.5, EventEscalated, StateFiring, red},
		{20, 40, EventDeescalated, StateFiring, orange},
		{30, 12, EventResolved, StateInactive, none},
	})
	want := []string{
		"combustible_gas GT-101 at hz-01: 27.3 %LEL >= 25 (level 2 orange)",
		"combustible_gas GT-101 at hz-01: 50.5 %LEL >= 50 (level 1 red, up from 2 orange)",
		"combustible_gas GT-101 at hz-01: 40 %LEL < 48 (level 2 orange, down from 1 red)",
		"combustible_gas GT-101 at hz-01: 12 %LEL < 23 (resolved, was level 2 orange)",
	}
	for i, w := range want {
		if events[i].Message != w {
			t.Errorf("event %d message\n got %q\nwant %q", i, events[i].Message, w)
		}
	}
}

func TestThresholdBelow(t *testing.T) {
	// Oxygen deficiency, GB/T 50493: orange at 19.5 %VOL, restore above
	// 19.8 (deadband 0.3).
	r, err := NewThresholdRule("oxygen_low", sensors.Below, []sensors.Setpoint{
		{Level: orange, Direction: sensors.Below, Value: 19.5, Clear: 19.8},
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		ticks []tick
		ops   []string // comparison each event's message shows
	}{
		{"inactive=>firing", []tick{
			{0, 20.9, 0, StateInactive, none},
			{10, 19.5, EventFired, StateFiring, orange},
		}, []string{"19.5 %LEL <= 19.5"}},
		{"firing=>firing in hysteresis band", []tick{
			{0, 19.4, EventFired, StateFiring, orange},
			{10, 19.8, 0, StateFiring, orange},
			{20, 19.81, EventResolved, StateInactive, none},
		}, []string{"19.4 %LEL <= 19.5", "19.81 %LEL > 19.8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := runTicks(t, r, tt.ticks)
			for i, op := range tt.ops {
				if !strings.Contains(events[i].Message, op) {
					t.Errorf("event %d message %q does not contain %q", i, events[i].Message, op)
				}
			}
		})
	}
}

func TestThresholdCoalRestore(t *testing.T) {
	// Coal face T1: alarm at 1.0 %CH4, power cut at 1.5, both restore only
	// below 1.0, so red holds all the way down.
	r, err := NewThresholdRule("ch4_high", sensors.Above, []sensors.Setpoint{
		{Level: orange, Direction: sensors.Above, Value: 1.0, Clear: 1.0},
		{Level: red, Direction: sensors.Above, Value: 1.5, Clear: 1.0},
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	runTicks(t, r, []tick{
		{0, 1.0, EventFired, StateFiring, orange},
		{10, 1.6, EventEscalated, StateFiring, red},
		{20, 1.2, 0, StateFiring, red},
		{30, 1.0, 0, StateFiring, red},
		{40, 0.99, EventResolved, StateInactive, none},
	})
}

func TestNewThresholdRuleErrors(t *testing.T) {
	above := func(l sensors.Level, v, c float64) sensors.Setpoint {
		return sensors.Setpoint{Level: l, Direction: sensors.Above, Value: v, Clear: c}
	}
	tests := []struct {
		name string
		id   string
		dir  sensors.Direction
		sps  []sensors.Setpoint
		For  time.Duration
		want string
	}{
		{"no setpoints", "r", sensors.Above, nil, 0, "no setpoints"},
		{"empty id", "", sensors.Above, []sensors.Setpoint{above(orange, 25, 23)}, 0, "empty id"},
		{"negative for", "r", sensors.Above, []sensors.Setpoint{above(orange, 25, 23)}, -time.Second, "negative for"},
		{"level none", "r", sensors.Above, []sensors.Setpoint{above(none, 25, 23)}, 0, "is not 1-4"},
		{"wrong direction", "r", sensors.Below, []sensors.Setpoint{above(orange, 25, 23)}, 0, "direction above in a below rule"},
		{"level twice", "r", sensors.Above, []sensors.Setpoint{above(orange, 25, 23), above(orange, 30, 28)}, 0, "set twice"},
		{"red on the safe side of orange", "r", sensors.Above, []sensors.Setpoint{above(orange, 50, 48), above(red, 25, 23)}, 0, "level 1-red setpoint 25 is below level 2-orange setpoint 50"},
		{"restore on the alarm side", "r", sensors.Above, []sensors.Setpoint{above(orange, 25, 27)}, 0, "restore value 27 is on the alarm side"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewThresholdRule(tt.id, tt.dir, tt.sps, tt.For)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
