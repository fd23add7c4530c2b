package console

import (
	"testing"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/lifecycle"
	"github.com/riskmon/riskmon/sensors"
)

// TestHubServesTheLifecycle: wired as the service wires it, the hub keeps
// no alerts of its own. What the board lists, one alert's detail and the
// counts all come from the lifecycle, so an acknowledgement made through
// the lifecycle and a latched red alarm show as the lifecycle has them.
func TestHubServesTheLifecycle(t *testing.T) {
	life := lifecycle.NewLifecycle(nil, lifecycle.LifecycleOptions{LatchRed: true})
	h := NewHub(testRegistry(t), HubOptions{Alerts: life})
	life.SetNext(h)

	life.Emit(ev("red", alerting.EventFired, sensors.LevelRed, "plant-a", "gas-1", 0))
	life.Emit(ev("orange", alerting.EventFired, sensors.LevelOrange, "plant-a", "gas-2", 0))
	if _, err := life.Ack("orange", "zhang.wei", "crew sent"); err != nil {
		t.Fatal(err)
	}
	life.Emit(ev("red", alerting.EventResolved, sensors.LevelRed, "plant-a", "gas-1", 2))
	life.Emit(ev("orange", alerting.EventResolved, sensors.LevelOrange, "plant-a", "gas-2", 3))

	tests := []struct {
		id        string
		state     string
		lifecycle string
		acked     bool
	}{
		{"red", StateResolved, alerting.StateLatched.String(), false},
		{"orange", StateResolved, "done", true},
	}
	for _, tc := range tests {
		a, ok := h.Alert(tc.id)
		if !ok || a.State != tc.state || a.Lifecycle != tc.lifecycle || a.Acknowledged != tc.acked {
			t.Errorf("%s: found %v, state %q lifecycle %q acknowledged %v; want %q %q %v",
				tc.id, ok, a.State, a.Lifecycle, a.Acknowledged, tc.state, tc.lifecycle, tc.acked)
		}
	}
	unacked := false
	if _, total := h.Alerts(AlertFilter{State: StateResolved, Acked: &unacked}, 0, 0); total != 1 {
		t.Errorf("resolved and unacknowledged: %d alerts, want the latched red one", total)
	}
	if st := h.Stats(); st.Open != 0 || st.Resolved != 2 || st.Events != 5 {
		t.Errorf("stats %+v, want 0 open, 2 resolved, 5 events", st)
	}

	// The lifecycle's answer is the hub's: once the red one is
	// acknowledged, it is done on the board too, with no event needed
	// by the hub to learn it.
	if _, err := life.Ack("red", "li.na", ""); err != nil {
		t.Fatal(err)
	}
	if a, _ := h.Alert("red"); a.Lifecycle != "done" || !a.Acknowledged || a.AckedBy != "li.na" {
		t.Errorf("red after its acknowledgement: lifecycle %q acknowledged %v by %q", a.Lifecycle, a.Acknowledged, a.AckedBy)
	}
}
