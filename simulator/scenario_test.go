package simulator

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestShippedScenarios loads every scenario under scenarios/ and checks
// that its ground truth has what its targets need.
func TestShippedScenarios(t *testing.T) {
	files, err := filepath.Glob("scenarios/*.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("scenarios: %v %v", files, err)
	}
	start := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			sc, err := LoadScenario(f)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := sc.Truth(start)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := tr.WriteJSONL(&buf); err != nil {
				t.Fatal(err)
			}
			t.Log("\n" + buf.String())
			back, err := ReadTruth(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if len(back.Incidents) != len(sc.Incidents) {
				t.Fatalf("read back %d incidents, want %d", len(back.Incidents), len(sc.Incidents))
			}
			for _, inc := range back.Incidents {
				if inc.Target != nil && inc.Target.MinLeadSeconds != nil && len(inc.Crossings) == 0 {
					t.Errorf("incident %s has a lead target but crosses no setpoint", inc.ID)
				}
				if len(inc.Sensors) == 0 && len(inc.Gateways) == 0 {
					t.Errorf("incident %s affects no sensor and no gateway", inc.ID)
				}
			}
		})
	}
}

func TestParseScenarioErrors(t *testing.T) {
	tests := []struct {
		file string
		want []string // every one must be in the error
	}{
		{"unknown-field.yaml", []string{"unknown-field.yaml:6:", "line 12", `unknown field "peek"`}},
		{"unknown-type.yaml", []string{"unknown-type.yaml:4:", `unknown type "explosion"`, "gas_leak"}},
		{"unknown-sensor.yaml", []string{"unknown-sensor.yaml:4:", "no sensor hz-01/GT-999"}},
		{"bad-duration.yaml", []string{"bad-duration.yaml:4:", "line 8", "soon"}},
		{"bad-target.yaml", []string{"bad-target.yaml:11:", "purple", "bad-target.yaml:13:", `no incident "leek"`}},
		{"top-level-typo.yaml", []string{"line 2", "durration"}},
		{"too-long.yaml", []string{"too-long.yaml:4:", "after the scenario's duration 1m0s"}},
		{"nested-field.yaml", []string{"line 13", `unknown field "presure"`}},
		{"duplicate-id.yaml", []string{"duplicate-id.yaml:5:", "duplicate id", "no gateway hz-01/gw9"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := LoadScenario(filepath.Join("testdata", tt.file))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestMaxSpeed: a targeted outage of a methane sensor (10 s interval,
// stale after 30 s) of 15 min is seen within its first half up to
// 450 s / 31 s times real time; untargeted outages set no limit.
func TestMaxSpeed(t *testing.T) {
	sc, err := LoadScenario("scenarios/sensor-faults.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sc.MaxSpeed(), 450.0/31; math.Abs(got-want) > 1e-9 {
		t.Errorf("max speed %g, want %g", got, want)
	}
	sc.Targets = nil
	if got := sc.MaxSpeed(); !math.IsInf(got, 1) {
		t.Errorf("without targets: max speed %g, want +Inf", got)
	}
}

func TestTargetRuleName(t *testing.T) {
	src := "duration: 5m\nincidents:\n  - {id: s, type: stuck_sensor, site: gas-01, sensor: PT-101, start: 1m, duration: 2m}\ntargets:\n  - {incident: s, rule: Sensor-Stuck}\n"
	_, err := ParseScenario("r.yaml", strings.NewReader(src))
	if err == nil || !strings.Contains(err.Error(), `r.yaml:5: target "s": rule "Sensor-Stuck" is not a rule name`) {
		t.Errorf("err = %v", err)
	}
}

// TestScenarioReplaysAnyTime: a scenario pins its daily cycle, so its
// ground truth relative to the start is the same at any hour; a fleet
// on the real clock moves with it (the runaway TT-104 follows the day).
func TestScenarioReplaysAnyTime(t *testing.T) {
	sc, err := LoadScenario("scenarios/tank-overfill.yaml")
	if err != nil {
		t.Fatal(err)
	}
	offsets := func(sc *Scenario, start time.Time) []time.Duration {
		tr, err := sc.Truth(start)
		if err != nil {
			t.Fatal(err)
		}
		var out []time.Duration
		for _, inc := range tr.Incidents {
			for _, c := range inc.Crossings {
				out = append(out, c.At.Sub(start))
			}
		}
		return out
	}
	night, afternoon := time.Date(2026, 7, 1, 19, 0, 0, 0, time.UTC), time.Date(2026, 7, 2, 7, 0, 0, 0, time.UTC)
	if a, b := offsets(sc, night), offsets(sc, afternoon); fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("pinned: crossings %v at night, %v in the afternoon", a, b)
	}
	sc.Fleet.TimeOfDay = nil
	if a, b := offsets(sc, night), offsets(sc, afternoon); fmt.Sprint(a) == fmt.Sprint(b) {
		t.Errorf("real clock: the same crossings %v at night and in the afternoon", a)
	}
}
