package simulator

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// handTruth is a five-minute run at double speed with a leak on two
// detectors and a gateway outage.
func handTruth() *Truth {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	lead := -10.0
	return &Truth{
		Run: TruthRun{Type: "run", Scenario: "hand", Start: t0, End: t0.Add(5 * time.Minute), Interval: 1, Sensors: 60,
			WallStart: t0.Add(time.Hour), Speed: 2},
		Incidents: []TruthIncident{
			{Type: "incident", ID: "leak", Kind: "gas_spread", Onset: t0.Add(40 * time.Second), End: t0.Add(4 * time.Minute),
				Sensors: []SensorRef{{"hz-01", "GT-201"}, {"hz-01", "GT-202"}},
				Crossings: []TruthCrossing{
					{Site: "hz-01", Sensor: "GT-201", Level: sensors.LevelOrange, At: t0.Add(65 * time.Second)},
					{Site: "hz-01", Sensor: "GT-201", Level: sensors.LevelRed, At: t0.Add(90 * time.Second)},
				},
				Target: &TruthTarget{MaxLevel: sensors.LevelOrange, MinLeadSeconds: &lead}},
			{Type: "incident", ID: "outage", Kind: "gateway_offline", Onset: t0.Add(2 * time.Minute), End: t0.Add(3 * time.Minute),
				Sensors: []SensorRef{{"pipe-01", "PT-101"}}, Gateways: []GatewayRef{{"pipe-01", "gw1"}}, Target: &TruthTarget{}},
		},
	}
}

func ev(id, rule, site, sensor, typ string, level sensors.Level, at time.Time) AlertEvent {
	return AlertEvent{AlertID: id, Rule: rule, Site: site, Sensor: sensor, Type: typ, Level: level, At: at}
}

func TestScoreRun(t *testing.T) {
	tr := handTruth()
	t0, wall0 := tr.Run.Start, tr.Run.WallStart
	// wall maps device elapsed to riskmon's clock at speed 2.
	wall := func(d time.Duration) time.Time { return wall0.Add(d / 2) }
	gas := func(id, sensor, typ string, l sensors.Level, d time.Duration) AlertEvent {
		return ev(id, "combustible_gas_high", "hz-01", sensor, typ, l, t0.Add(d))
	}
	offline := func(id, site, gw string, d time.Duration) AlertEvent {
		return ev(id, "gateway_offline", site, gw, "fired", sensors.LevelOrange, wall(d))
	}
	stale := func(id, site, sensor string, d time.Duration) AlertEvent {
		return ev(id, "sensor_stale", site, sensor, "fired", sensors.LevelBlue, wall(d))
	}
	// What riskmon sees as the simulator stops: every gateway offline,
	// then every sensor silent; and a stale sensor of the outage.
	signOff := []AlertEvent{offline("z1", "hz-01", "gw1", 5*time.Minute), offline("z2", "pipe-01", "gw1", 5*time.Minute+time.Second),
		stale("z3", "coal-01", "CH4-101", 5*time.Minute+30*time.Second), stale("s1", "pipe-01", "PT-101", 2*time.Minute+30*time.Second)}

	tests := []struct {
		name      string
		events    []AlertEvent
		detected  [2]bool
		lead      time.Duration // of the leak
		best      sensors.Level // of the leak
		missed    int
		falseAlts int
	}{
		{"perfect", append([]AlertEvent{
			gas("a", "GT-201", "fired", sensors.LevelBlue, 60*time.Second),
			gas("a", "GT-201", "escalated", sensors.LevelOrange, 66*time.Second),
			gas("a", "GT-201", "escalated", sensors.LevelRed, 91*time.Second),
			gas("a", "GT-201", "resolved", sensors.LevelNone, 200*time.Second),
			offline("b", "pipe-01", "gw1", 2*time.Minute+time.Second),
		}, signOff...), [2]bool{true, true}, 5 * time.Second, sensors.LevelRed, 0, 0},
		{"late and a false alert", []AlertEvent{
			gas("a", "GT-202", "fired", sensors.LevelOrange, 80*time.Second),
			ev("c", "ch4_high", "coal-01", "CH4-101", "fired", sensors.LevelOrange, t0.Add(time.Minute)),
			offline("b", "pipe-01", "gw1", 2*time.Minute+time.Second),
		}, [2]bool{true, true}, -15 * time.Second, sensors.LevelOrange, 1, 1},
		{"too mild", []AlertEvent{
			gas("a", "GT-201", "fired", sensors.LevelBlue, 60*time.Second),
			offline("b", "pipe-01", "gw1", 2*time.Minute+time.Second),
		}, [2]bool{true, true}, 5 * time.Second, sensors.LevelBlue, 1, 0},
		{"outside the window and another gateway", []AlertEvent{
			gas("a", "GT-201", "fired", sensors.LevelOrange, -5*time.Minute),
			offline("d", "gas-01", "gw2", time.Minute),
		}, [2]bool{false, false}, 0, sensors.LevelNone, 2, 1},
		{"nothing", nil, [2]bool{false, false}, 0, sensors.LevelNone, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := ScoreRun(tr, tt.events, ScoreOptions{})
			for i, want := range tt.detected {
				if sc.Incidents[i].Detected != want {
					t.Errorf("%s detected = %v, want %v", sc.Incidents[i].ID, sc.Incidents[i].Detected, want)
				}
			}
			if out := sc.Incidents[1]; out.Detected && (!out.HasDelay || out.Delay != time.Second) {
				t.Errorf("outage delay = %s (known %v), want 1s", out.Delay, out.HasDelay)
			}
			leak := sc.Incidents[0]
			if leak.Detected && (!leak.HasLead || leak.Lead != tt.lead) {
				t.Errorf("lead = %s (known %v), want %s", leak.Lead, leak.HasLead, tt.lead)
			}
			if leak.Best != tt.best {
				t.Errorf("best level = %s, want %s", leak.Best, tt.best)
			}
			if sc.Missed != tt.missed || sc.FalseAlerts != tt.falseAlts {
				t.Errorf("missed %d, false %d; want %d and %d", sc.Missed, sc.FalseAlerts, tt.missed, tt.falseAlts)
			}
			var buf bytes.Buffer
			if err := sc.WriteTable(&buf); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(buf.String(), "per 1,000 sensor-hours") {
				t.Errorf("table:\n%s", buf.String())
			}
		})
	}
}

// TestFalseRate checks the rate's arithmetic: one false alert in five
// minutes of 60 sensors is 5 sensor-hours, 200 per 1,000.
func TestFalseRate(t *testing.T) {
	tr := handTruth()
	sc := ScoreRun(tr, []AlertEvent{ev("c", "ch4_high", "coal-01", "CH4-101", "fired", sensors.LevelOrange, tr.Run.Start.Add(time.Minute))}, ScoreOptions{})
	if sc.SensorHours != 5 || sc.FalsePer1000() != 200 {
		t.Errorf("%g sensor-hours, %g per 1,000; want 5 and 200", sc.SensorHours, sc.FalsePer1000())
	}
}

// TestScoreUnpaced checks that without pacing a condition alert is matched
// by its gateway alone and never counted false.
func TestScoreUnpaced(t *testing.T) {
	tr := handTruth()
	tr.Run.Speed, tr.Run.WallStart = 0, time.Time{}
	far := tr.Run.Start.Add(24 * time.Hour)
	sc := ScoreRun(tr, []AlertEvent{
		ev("b", "gateway_offline", "pipe-01", "gw1", "fired", sensors.LevelOrange, far),
		ev("z", "gateway_offline", "hz-01", "gw1", "fired", sensors.LevelOrange, far),
	}, ScoreOptions{})
	if !sc.Incidents[1].Detected || sc.Incidents[1].HasLead || sc.Incidents[1].HasDelay || sc.FalseAlerts != 0 {
		t.Errorf("outage %+v, false %d", sc.Incidents[1], sc.FalseAlerts)
	}
}

// TestScoreRuleTarget: a target naming a rule is met only by an alert of
// that rule on the incident.
func TestScoreRuleTarget(t *testing.T) {
	tr := handTruth()
	tr.Incidents[1].Target = &TruthTarget{Rule: "gateway_offline"}
	t0, wall0 := tr.Run.Start, tr.Run.WallStart
	stale := ev("s", "sensor_stale", "pipe-01", "PT-101", "fired", sensors.LevelBlue, wall0.Add(75*time.Second))
	offline := ev("b", "gateway_offline", "pipe-01", "gw1", "fired", sensors.LevelOrange, wall0.Add(61*time.Second))
	leak := ev("a", "combustible_gas_high", "hz-01", "GT-201", "fired", sensors.LevelOrange, t0.Add(66*time.Second))
	tests := []struct {
		name   string
		events []AlertEvent
		met    bool
		why    string
	}{
		{"right rule", []AlertEvent{leak, stale, offline}, true, ""},
		{"another rule only", []AlertEvent{leak, stale}, false, "no gateway_offline alert (raised: sensor_stale)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := ScoreRun(tr, tt.events, ScoreOptions{}).Incidents[1]
			if !out.Detected || out.Met != tt.met || out.Why != tt.why {
				t.Errorf("detected %v, met %v (%q); want detected, met %v (%q)", out.Detected, out.Met, out.Why, tt.met, tt.why)
			}
		})
	}
}
