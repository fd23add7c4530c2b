package alerting

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmon/riskmon/sensors"
)

// TestLateReadings: every case of the late and out-of-order policy in
// docs/alerting.md. The first reading of each case raises an alert (27
// %LEL on a gas detector without on-delay), so its event shows the mark.
func TestLateReadings(t *testing.T) {
	recv := func(after time.Duration) time.Time { return t0.Add(after) }
	tests := []struct {
		name      string
		lateAfter time.Duration
		r         sensors.Reading
		late      bool
	}{
		{"live: received at once", 0, sensors.Reading{Received: recv(time.Second)}, false},
		{"live: received just within the default 2 min", 0, sensors.Reading{Received: recv(2 * time.Minute)}, false},
		{"late: received past the default 2 min", 0, sensors.Reading{Received: recv(2*time.Minute + time.Millisecond)}, true},
		{"late: historical mark, received at once", 0, sensors.Reading{Historical: true, Received: recv(time.Second)}, true},
		{"late: past a configured 10 s", 10 * time.Second, sensors.Reading{Received: recv(11 * time.Second)}, true},
		{"live: no receive time", 0, sensors.Reading{}, false},
		{"live: receive-time check off", -1, sensors.Reading{Received: recv(time.Hour)}, false},
		{"late: check off, historical mark", -1, sensors.Reading{Historical: true}, true},
		// A device clock running ahead is clock skew (ingest counts it),
		// not lateness.
		{"live: device time ahead of receive time", 0, sensors.Reading{Received: t0.Add(-10 * time.Minute)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sink collect
			e, err := NewEngine(testRegistry(t), &sink, Options{LateAfter: tt.lateAfter})
			if err != nil {
				t.Fatal(err)
			}
			r := tt.r
			r.Site, r.Sensor, r.Value, r.Time = "hz-01", "GT-101", 27, t0
			e.Evaluate(r)
			evs := sink.all()
			if len(evs) != 1 || evs[0].Type != EventFired {
				t.Fatalf("events %+v, want one fired", evs)
			}
			if evs[0].Late != tt.late {
				t.Errorf("Late = %v, want %v", evs[0].Late, tt.late)
			}
			if got, want := e.Stats().Late, map[bool]uint64{true: 1}[tt.late]; got != want {
				t.Errorf("Stats().Late = %d, want %d", got, want)
			}
		})
	}
}

// TestLateReplayThenLive: a gateway back from an outage replays its
// buffer (historical, in order) before live data resumes. The replay is
// evaluated on device time, so the alert it shows is raised with its
// real StartsAt and marked late; the live reading that ends it is not.
func TestLateReplayThenLive(t *testing.T) {
	var sink collect
	reg := prometheus.NewRegistry()
	e, err := NewEngine(testRegistry(t), &sink, Options{For: 10 * time.Second, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Hour)
	for i, v := range []float64{10, 27, 28, 29, 30} {
		e.Evaluate(sensors.Reading{Site: "hz-01", Sensor: "GT-101", Value: v, Time: t0.Add(time.Duration(i) * 5 * time.Second),
			Historical: true, Received: now})
	}
	e.Evaluate(sensors.Reading{Site: "hz-01", Sensor: "GT-101", Value: 5, Time: now, Received: now})
	evs := sink.all()
	if len(evs) != 2 {
		t.Fatalf("events %+v, want fired and resolved", evs)
	}
	if evs[0].Type != EventFired || !evs[0].Late || !evs[0].StartsAt.Equal(t0.Add(5*time.Second)) {
		t.Errorf("fired %+v: want late, starting at the device time of the first tripping reading", evs[0])
	}
	if evs[1].Type != EventResolved || evs[1].Late || evs[1].AlertID != evs[0].AlertID {
		t.Errorf("resolved %+v: want the same alert, not late", evs[1])
	}
	if got := metricValue(t, reg, "riskmon_alert_late_readings_total", nil); got != 5 {
		t.Errorf("late readings metric %g, want 5", got)
	}
}

// TestOutOfOrderPolicy: older than the last evaluated reading is ignored
// by every rule and counted; the same device time is a duplicate, which
// steps threshold rules again (same result) but feeds no window; newer
// is evaluated, however late.
func TestOutOfOrderPolicy(t *testing.T) {
	var sink collect
	e, err := NewEngine(testRegistry(t), &sink, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev := func(sec int, v float64) { e.Evaluate(reading("hz-01", "GT-101", sec, v)) }
	ev(10, 30) // fired
	ev(5, 10)  // older: ignored, the alert stays
	if n := len(sink.all()); n != 1 {
		t.Fatalf("an older reading changed the alert: %+v", sink.all())
	}
	if st := e.Stats(); st.OutOfOrder != 1 || st.Evaluations != 1 {
		t.Errorf("stats %+v, want 1 out of order, 1 evaluated", st)
	}
	win := e.rules().subjects[subjectKey{"hz-01", "GT-101"}].win
	ev(10, 30) // duplicate
	if win.n != 1 {
		t.Errorf("duplicate fed the window: %d samples", win.n)
	}
	if n := len(sink.all()); n != 1 {
		t.Errorf("duplicate raised an event: %+v", sink.all())
	}
	e.Evaluate(sensors.Reading{Site: "hz-01", Sensor: "GT-101", Value: 10, Time: t0.Add(15 * time.Second), Received: t0.Add(time.Hour)})
	evs := sink.all()
	if len(evs) != 2 || evs[1].Type != EventResolved || !evs[1].Late {
		t.Errorf("newer but late reading: events %+v, want a late resolve", evs)
	}
	// An older reading is not evaluated, but the sensor is talking: it
	// ends a stale alert, and that resolution is not late.
	e.Tick(t0.Add(2 * time.Hour))
	e.Evaluate(sensors.Reading{Site: "hz-01", Sensor: "GT-101", Value: 10, Time: t0, Received: t0.Add(2*time.Hour + time.Second)})
	evs = sink.all()
	if len(evs) != 4 || evs[2].Rule != RuleSensorStale || evs[2].Type != EventFired ||
		evs[3].Rule != RuleSensorStale || evs[3].Type != EventResolved || evs[3].Late {
		t.Errorf("events %+v, want GT-101 stale, then resolved (not late) by the older reading", evs)
	}
	if e.Stats().OutOfOrder != 2 {
		t.Errorf("stats %+v, want 2 out of order", e.Stats())
	}
}
