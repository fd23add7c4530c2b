package alerting

import (
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

func TestThresholdMOfN(t *testing.T) {
	const inactive, pending, firing = StateInactive, StatePending, StateFiring
	tests := []struct {
		name  string
		For   time.Duration
		ticks []tick
	}{
		{"lone spikes never confirm", 0, []tick{
			{0, 30, 0, inactive, none},
			{5, 10, 0, inactive, none},
			{10, 10, 0, inactive, none},
			{15, 30, 0, inactive, none},
			{20, 10, 0, inactive, none},
			{25, 10, 0, inactive, none},
			{30, 30, 0, inactive, none},
		}},
		{"inactive=>firing on the third of five", 0, []tick{
			{0, 30, 0, inactive, none},
			{5, 10, 0, inactive, none}, // a dropped-out reading does not restart the count
			{10, 30, 0, inactive, none},
			{15, 30, EventFired, firing, orange},
		}},
		{"firing=>firing escalates on three of five at red", 0, []tick{
			{0, 30, 0, inactive, none},
			{5, 30, 0, inactive, none},
			{10, 60, EventFired, firing, orange}, // three trip orange, one red
			{15, 60, 0, firing, orange},
			{20, 60, EventEscalated, firing, red},
		}},
		{"firing=>inactive on one reading past the restore value", 0, []tick{
			{0, 30, 0, inactive, none},
			{5, 30, 0, inactive, none},
			{10, 30, EventFired, firing, orange},
			{15, 20, EventResolved, inactive, none},
		}},
		{"confirmed=>pending=>firing with For", 10 * time.Second, []tick{
			{0, 30, 0, inactive, none},
			{5, 30, 0, inactive, none},
			{10, 30, 0, pending, orange}, // confirmed: For runs from here
			{15, 10, 0, pending, orange}, // still three of the last five
			{20, 30, EventFired, firing, orange},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := gasRule(t, tt.For).WithMOfN(3, 5)
			if err != nil {
				t.Fatal(err)
			}
			runTicks(t, r, tt.ticks)
		})
	}
	for _, bad := range []MOfN{{-1, 5}, {3, 2}, {1, 33}} {
		if _, err := gasRule(t, 0).WithMOfN(bad.M, bad.N); err == nil {
			t.Errorf("WithMOfN(%d, %d) accepted", bad.M, bad.N)
		}
	}
}

func TestEngineMOfNOptions(t *testing.T) {
	e, err := NewEngine(testRegistry(t), nil, Options{MOfN: MOfN{2, 3}, KindMOfN: map[sensors.KindID]MOfN{"oxygen": {}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range e.rules().subjects {
		for _, rs := range s.rules {
			want := MOfN{2, 3}
			if s.kind == "oxygen" {
				want = MOfN{}
			}
			if got := rs.rule.MOfN(); got != want {
				t.Errorf("%s %s: m of n %v, want %v", s.sensor, rs.rule.ID(), got, want)
			}
		}
	}
}
