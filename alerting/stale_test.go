package alerting

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// received is a reading taken in at wall time t0+recv s, with a device
// time that is deliberately far off: staleness must not look at it.
func received(sensor string, recv int, v float64) sensors.Reading {
	return sensors.Reading{Site: "hz-01", Sensor: sensor, Value: v,
		Time: t0.Add(-time.Hour), Received: t0.Add(time.Duration(recv) * time.Second)}
}

func TestStaleTransitions(t *testing.T) {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	// LT-1 is a tank level: interval 10 s, stale after 30 s.
	type step struct {
		tick    int // wall seconds of a Tick, or -1
		reading int // wall seconds a reading was received, or -1
		want    string
	}
	tests := []struct {
		name    string
		inhibit bool
		steps   []step
	}{
		{"inactive => firing => resolved", false, []step{
			{-1, 0, ""},
			{29, -1, ""}, // 29 s silent: not yet
			{30, -1, "fired"},
			{60, -1, ""}, // one alert, not one per Tick
			{-1, 61, "resolved"},
			{62, -1, ""},
		}},
		{"never heard counts from the first Tick", false, []step{
			{0, -1, ""},
			{29, -1, ""},
			{30, -1, "fired"},
		}},
		{"readings keep it quiet", false, []step{
			{-1, 0, ""}, {20, 20, ""}, {45, 40, ""}, {69, -1, ""},
		}},
		{"inhibited by an offline gateway", true, []step{
			{-1, 0, ""}, {30, -1, ""}, {300, -1, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sink collect
			var asked []string
			e, err := NewEngine(earlyRegistry(t), &sink, Options{
				KindPack: map[sensors.KindID]RulePack{"tank_level": {Stale: &StaleConfig{}}},
				Inhibit: func(site, _, gw, _ string) bool {
					asked = append(asked, site+"/"+gw)
					return tt.inhibit
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			for i, st := range tt.steps {
				n := len(sink.all())
				if st.tick >= 0 {
					e.Tick(at(st.tick))
				}
				if st.reading >= 0 {
					e.Evaluate(received("LT-1", st.reading, 12))
				}
				var got []string
				for _, ev := range sink.all()[n:] {
					if ev.Sensor == "LT-1" {
						got = append(got, ev.Type.String())
					}
				}
				if strings.Join(got, ",") != st.want {
					t.Fatalf("step %d %+v: events %q, want %q", i, st, got, st.want)
				}
			}
			if tt.inhibit && !slices.Contains(asked, "hz-01/gw-2") {
				t.Errorf("inhibit asked about %q, want hz-01/gw-2", asked)
			}
		})
	}
}

func TestStaleEvent(t *testing.T) {
	var sink collect
	e, err := NewEngine(earlyRegistry(t), &sink, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.Evaluate(received("LT-1", 0, 12.5))
	e.Tick(t0.Add(45 * time.Second))
	var evs []Event
	for _, ev := range sink.all() {
		if ev.Sensor == "LT-1" {
			evs = append(evs, ev)
		}
	}
	if len(evs) != 1 {
		t.Fatalf("events %+v, want one", evs)
	}
	ev := evs[0]
	want := "tank_level LT-1 at hz-01: no reading received for 45s (expected every 10s); last value 12.5 m"
	if ev.Rule != RuleSensorStale || ev.Level != sensors.LevelBlue || ev.Message != want || !ev.At.Equal(t0.Add(45*time.Second)) {
		t.Errorf("event %+v\nwant rule sensor_stale, level blue, message %q", ev, want)
	}
	if a := e.Active(); !slices.ContainsFunc(a, func(a Alert) bool { return a.Rule == RuleSensorStale && a.ID == ev.AlertID }) {
		t.Errorf("active %+v lacks the stale alert", a)
	}
	// A bad-quality reading still shows the sensor is talking.
	e.Evaluate(sensors.Reading{Site: "hz-01", Sensor: "LT-1", Quality: sensors.QualityBad, Received: t0.Add(50 * time.Second)})
	if last := sink.all()[len(sink.all())-1]; last.Type != EventResolved || last.AlertID != ev.AlertID {
		t.Errorf("after a bad reading: %+v, want the stale alert resolved", last)
	}
}

// TestStaleLastValueByDeviceTime: a gateway replays an older reading after
// a newer one; the stale alert shows the newest by device time.
func TestStaleLastValueByDeviceTime(t *testing.T) {
	var sink collect
	e, err := NewEngine(earlyRegistry(t), &sink, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.Evaluate(sensors.Reading{Site: "hz-01", Sensor: "LT-1", Value: 5, Time: t0.Add(10 * time.Second), Received: t0})
	e.Evaluate(sensors.Reading{Site: "hz-01", Sensor: "LT-1", Value: 9, Time: t0.Add(5 * time.Second), Received: t0.Add(time.Second), Historical: true})
	e.Tick(t0.Add(46 * time.Second))
	var msgs []string
	for _, ev := range sink.all() {
		if ev.Rule == RuleSensorStale {
			msgs = append(msgs, ev.Message)
		}
	}
	if len(msgs) != 1 || !strings.HasSuffix(msgs[0], "last value 5 m") {
		t.Fatalf("stale events %q, want one whose last value is 5 m (device time 10 s), not the replayed 9 m", msgs)
	}
}
