package replay

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/alerting/lifecycle"
	"github.com/riskmon/riskmon/sensors"
)

// TestReplayMatchesService: a methane sensor chattering on its alarm
// setpoint, then climbing through the power-cut level, replayed from CSV,
// gives the event stream the service's engine and flapping hold give the
// same readings live: the same events, levels and times, the fourth raise
// held, the escalation with its time.
func TestReplayMatchesService(t *testing.T) {
	reg := exampleRegistry(t)
	var vals []float64
	for i := range 80 {
		switch {
		case i < 40 && i%4 == 1: // a lone reading over 1.0 every 40 s
			vals = append(vals, 1.05)
		case i >= 50 && i < 60:
			vals = append(vals, 1.6) // over the power-cut level
		default:
			vals = append(vals, 0.4)
		}
	}
	hist := []series{{"coal-01", "CH4-101", vals}}
	flap := lifecycle.FlapOptions{Raises: 3, Window: 10 * time.Minute}

	// The service: the engine emits into the hold, which runs on the
	// wall clock; live, wall and device time agree.
	var live []alerting.Event
	var wall time.Time
	f := flap
	f.Now = func() time.Time { return wall }
	hold, err := lifecycle.NewFlapper(alerting.SinkFunc(func(ev alerting.Event) { live = append(live, ev) }), f)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := alerting.NewEngine(reg, hold, alerting.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		wall = t0.Add(time.Duration(i) * 10 * time.Second)
		eng.Tick(wall)
		hold.Tick(wall)
		eng.Evaluate(sensors.Reading{Site: "coal-01", Sensor: "CH4-101", Value: v, Time: wall, Quality: sensors.QualityGood})
	}

	res, err := RunHeld(context.Background(), reg, alerting.Options{}, flap, CSV{Name: "h.csv", R: strings.NewReader(csvOf(hist))}, Filter{Sensor: "CH4-101"})
	if err != nil {
		t.Fatal(err)
	}
	key := func(evs []alerting.Event) []string {
		var out []string
		for _, ev := range evs {
			if ev.Sensor != "CH4-101" {
				continue
			}
			out = append(out, ev.Type.String()+" "+ev.Rule+" "+ev.Level.String()+" "+ev.At.Format("15:04:05")+" "+ev.AlertID+" "+map[bool]string{true: "held"}[ev.Flapping])
		}
		return out
	}
	got, want := key(res.Events), key(live)
	if !slices.Equal(got, want) {
		t.Fatalf("replay events\n%s\nservice events\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	fired, held := 0, false
	for _, ev := range res.Events {
		if ev.Rule == "ch4_high" && ev.Type == alerting.EventFired {
			fired++
		}
		held = held || ev.Flapping
	}
	if fired != 4 || !held {
		t.Errorf("%d ch4_high raises, held %v; want 4, the fourth held:\n%s", fired, held, strings.Join(got, "\n"))
	}
	// The held alert escalated to red when the value passed 1.5, at the
	// reading that did it, and the alert lists that time.
	a := res.Alerts[len(res.Alerts)-1]
	if !a.Flapping || len(a.Levels) < 2 || a.Levels[len(a.Levels)-1].Level != sensors.LevelRed ||
		!a.Levels[len(a.Levels)-1].At.Equal(t0.Add(500*time.Second)) {
		t.Errorf("held alert %+v, want it escalated to red at %s", a, t0.Add(500*time.Second))
	}
}
