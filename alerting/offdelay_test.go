package alerting

import (
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// TestOffDelayTransitions: with an off-delay the alert leaves a level
// only once the value has stayed past its restore value for the delay,
// in device time; a return cancels the clearing. Gas rule: orange 25
// (restore 23), red 50 (restore 48); off-delay 30 s.
func TestOffDelayTransitions(t *testing.T) {
	const inactive, pending, firing = StateInactive, StatePending, StateFiring
	tests := []struct {
		name  string
		For   time.Duration
		ticks []tick
	}{
		{"firing=>clearing=>resolved", 0, []tick{
			{0, 27, EventFired, firing, orange},
			{10, 20, 0, firing, orange}, // clearing starts
			{30, 20, 0, firing, orange},
			{40, 20, EventResolved, inactive, none}, // 30 s past 23
		}},
		{"firing=>clearing=>firing: a return cancels", 0, []tick{
			{0, 27, EventFired, firing, orange},
			{10, 20, 0, firing, orange},
			{30, 24, 0, firing, orange}, // back inside the band: clearing cancelled
			{40, 20, 0, firing, orange}, // a new clearing starts here
			{60, 20, 0, firing, orange}, // 50 s after the first pass, but only 20 s of this one
			{70, 20, EventResolved, inactive, none},
		}},
		{"firing=>clearing=>deescalated", 0, []tick{
			{0, 55, EventFired, firing, red},
			{10, 40, 0, firing, red},                   // past 48, still above 23: heading for orange
			{40, 40, EventDeescalated, firing, orange}, // 30 s past 48
		}},
		{"red=>clearing through both restore values=>deescalated=>resolved", 0, []tick{
			{0, 55, EventFired, firing, red},
			{10, 40, 0, firing, red},                   // heading for orange
			{20, 10, 0, firing, red},                   // past 23 as well: orange's clearing waits its turn
			{40, 10, EventDeescalated, firing, orange}, // red left 30 s after 48 was passed
			{60, 10, 0, firing, orange},                // orange's off-delay runs from 40
			{70, 10, EventResolved, inactive, none},    // 30 s after it started
		}},
		{"partial return narrows the step", 0, []tick{
			{0, 55, EventFired, firing, red},
			{10, 10, 0, firing, red},                   // heading for none
			{20, 30, 0, firing, red},                   // back in the orange band: heading for orange
			{40, 30, EventDeescalated, firing, orange}, // 30 s past 48 throughout
		}},
		{"clearing holds through an escalation wait", 30 * time.Second, []tick{
			{0, 27, 0, pending, orange},
			{30, 27, EventFired, firing, orange},
			{40, 20, 0, firing, orange},
			{50, 52, 0, firing, orange}, // cancels the clearing, escalation waits out For
			{80, 52, EventEscalated, firing, red},
		}},
		{"pending is unaffected: it ends at once", 30 * time.Second, []tick{
			{0, 27, 0, pending, orange},
			{10, 20, 0, inactive, none},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := gasRule(t, tt.For).WithOffDelay(30 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			events := runTicks(t, r, tt.ticks)
			for _, ev := range events {
				if ev.Type == EventResolved && ev.Setpoint != 23 {
					t.Errorf("resolved event setpoint %g, want the restore value 23", ev.Setpoint)
				}
			}
		})
	}
}

func TestOffDelayOptions(t *testing.T) {
	e, err := NewEngine(testRegistry(t), nil, Options{
		OffDelay:     time.Minute,
		KindOffDelay: map[sensors.KindID]time.Duration{"oxygen": 10 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{"GT-101": time.Minute, "AT-201": 10 * time.Second, "CH4-T1": time.Minute}
	for sensor, d := range want {
		s := e.rules().subjects[subjectKey{map[bool]string{true: "cm-01", false: "hz-01"}[sensor == "CH4-T1"], sensor}]
		for _, rs := range s.rules {
			if got := rs.rule.OffDelay(); got != d {
				t.Errorf("%s %s: off-delay %s, want %s", sensor, rs.rule.ID(), got, d)
			}
		}
	}
	if _, err := gasRule(t, 0).WithOffDelay(-time.Second); err == nil {
		t.Error("negative off-delay accepted")
	}
}

// TestOffDelayEngine: through the engine, a dip below the restore value
// shorter than the off-delay raises nothing new: the alert stays one.
func TestOffDelayEngine(t *testing.T) {
	var sink collect
	e, err := NewEngine(testRegistry(t), &sink, Options{OffDelay: 20 * time.Second,
		Pack: func(*sensors.Sensor) RulePack { return RulePack{} }})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []float64{30, 30, 10, 10, 30, 10, 10, 10, 10, 10} {
		e.Evaluate(reading("hz-01", "GT-101", 5*i, v))
		if i == 6 {
			if a := e.Active(); len(a) != 1 || a[0].State != StateFiring || !a[0].Clearing {
				t.Fatalf("active %+v, want the alert firing and clearing", a)
			}
		}
	}
	evs := sink.all()
	if len(evs) != 2 || evs[0].Type != EventFired || evs[1].Type != EventResolved || evs[0].AlertID != evs[1].AlertID {
		t.Fatalf("events %+v, want one alert fired and resolved", evs)
	}
	if got := evs[1].At.Sub(t0); got != 45*time.Second {
		t.Errorf("resolved at %s, want 45s: 20 s after the value last passed the restore value, at 25s", got)
	}
}

// TestThresholdTimingPerSensor: Options.Threshold changes one sensor's
// timing and leaves the kind's defaults to the others.
func TestThresholdTimingPerSensor(t *testing.T) {
	e, err := NewEngine(testRegistry(t), nil, Options{
		For: 10 * time.Second, OffDelay: time.Minute,
		Threshold: func(s *sensors.Sensor, tm *ThresholdTiming) {
			if s.ID == "GT-102" {
				tm.For, tm.MOfN = 0, MOfN{M: 2, N: 3}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for sensor, want := range map[string]ThresholdTiming{
		"GT-101": {For: 10 * time.Second, OffDelay: time.Minute},
		"GT-102": {OffDelay: time.Minute, MOfN: MOfN{M: 2, N: 3}},
	} {
		r := e.rules().subjects[subjectKey{"hz-01", sensor}].rules[0].rule
		if got := (ThresholdTiming{For: r.For(), OffDelay: r.OffDelay(), MOfN: r.MOfN()}); got != want {
			t.Errorf("%s: timing %+v, want %+v", sensor, got, want)
		}
	}
	if _, err := NewEngine(testRegistry(t), nil, Options{Threshold: func(_ *sensors.Sensor, tm *ThresholdTiming) { tm.OffDelay = -1 }}); err == nil {
		t.Error("a negative off-delay from Threshold was accepted")
	}
}
