package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

func exampleRegistry(t testing.TB) *sensors.Registry {
	t.Helper()
	reg, err := sensors.LoadFile(sensors.DefaultCatalog(), "../../deploy/examples/fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

var t0 = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)

// series is the readings of one sensor every 10 s from t0.
type series struct {
	site, sensor string
	values       []float64
}

// history is ten minutes of a coal face: methane rises through both
// setpoints and falls back, oxygen dips below its low setpoint, the air
// speed sensor falls silent after two minutes while the rest report on.
func history() []series {
	var ch4, o2, ws []float64
	for i := range 60 {
		switch {
		case i >= 20 && i < 26:
			ch4 = append(ch4, 1.1+0.1*float64(i-20)) // 1.1 … 1.6
		case i >= 26 && i < 30:
			ch4 = append(ch4, 1.2)
		default:
			ch4 = append(ch4, 0.4)
		}
		switch {
		case i >= 40 && i < 45:
			o2 = append(o2, 19.5-0.25*float64(i-40)) // 19.5 … 18.5
		default:
			o2 = append(o2, 20.8)
		}
		if i < 12 {
			ws = append(ws, 1.5)
		}
	}
	return []series{{"coal-01", "CH4-101", ch4}, {"coal-01", "O2-104", o2}, {"coal-01", "WS-105", ws}}
}

// csvOf writes the series grouped by sensor, as DCS exports are, with
// times alternately in epoch ms and RFC 3339; it is not in time order.
func csvOf(ss []series) string {
	var b strings.Builder
	b.WriteString("site,sensor,time,value,quality\n")
	for _, s := range ss {
		for i, v := range s.values {
			at := t0.Add(time.Duration(i) * 10 * time.Second)
			ts := at.Format(time.RFC3339)
			if i%2 == 1 {
				ts = fmt.Sprint(at.UnixMilli())
			}
			fmt.Fprintf(&b, "%s,%s,%s,%g,good\n", s.site, s.sensor, ts, v)
		}
	}
	return b.String()
}

func find(t *testing.T, res *Result, rule, sensor string) *Alert {
	t.Helper()
	for _, a := range res.Alerts {
		if a.Rule == rule && a.Sensor == sensor {
			return a
		}
	}
	t.Fatalf("no %s alert of %s in %+v", rule, sensor, res.Alerts)
	return nil
}

func at(i int) time.Time { return t0.Add(time.Duration(i) * 10 * time.Second) }

func TestReplayCSV(t *testing.T) {
	reg := exampleRegistry(t)
	src := CSV{Name: "history.csv", R: strings.NewReader(csvOf(history()))}
	res, err := Run(context.Background(), reg, alerting.Options{}, src, Filter{Site: "coal-01"})
	if err != nil {
		t.Fatal(err)
	}
	// Methane: orange at the first reading at 1.0 or more (i=20), red
	// at 1.5 (i=24), resolved at the first reading below 1.0 (i=30).
	ch4 := find(t, res, "ch4_high", "CH4-101")
	if !ch4.FiredAt.Equal(at(20)) || !ch4.ResolvedAt.Equal(at(30)) || ch4.Level != sensors.LevelRed || ch4.Peak != 1.6 {
		t.Errorf("ch4_high: fired %s resolved %s level %v peak %g; want %s, %s, red, 1.6",
			ch4.FiredAt, ch4.ResolvedAt, ch4.Level, ch4.Peak, at(20), at(30))
	}
	// Oxygen is a low alarm: its peak is the lowest value.
	o2 := find(t, res, "o2_mine_low", "O2-104")
	if !o2.FiredAt.Equal(at(40)) || o2.Peak != 18.5 || !o2.ResolvedAt.Equal(at(45)) {
		t.Errorf("o2_mine_low: fired %s resolved %s peak %g; want %s, %s, 18.5", o2.FiredAt, o2.ResolvedAt, o2.Peak, at(40), at(45))
	}
	// The air speed sensor stopped after its reading at i=11; stale is
	// 3 intervals (30 s), checked every 10 s of device time.
	ws := find(t, res, alerting.RuleSensorStale, "WS-105")
	if d := ws.FiredAt.Sub(at(11)); d < 30*time.Second || d > 30*time.Second+tickEvery {
		t.Errorf("sensor_stale of WS-105 fired %s after its last reading, want 30-40 s", d)
	}
	if !ws.Open() {
		t.Errorf("sensor_stale of WS-105 resolved at %s without a reading", ws.ResolvedAt)
	}
	// Sensors of the site without a single reading are listed, not
	// given stale alerts.
	for _, a := range res.Alerts {
		if a.Rule == alerting.RuleSensorStale && a.Sensor != "WS-105" {
			t.Errorf("stale alert for %s, which sent nothing", a.Sensor)
		}
	}
	if len(res.Quiet) != 7 || res.Readings != 60+60+12 {
		t.Errorf("quiet %v, readings %d; want the 7 other coal-01 sensors and 132 readings", res.Quiet, res.Readings)
	}
	// Alerts are listed in the order they fired.
	for i := 1; i < len(res.Alerts); i++ {
		if res.Alerts[i].FiredAt.Before(res.Alerts[i-1].FiredAt) {
			t.Errorf("alert %d fired before alert %d", i, i-1)
		}
	}

	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ch4_high", "o2_mine_low", "1-red", "(open)", "1.6 %CH4", res.Summary()} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := res.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Alerts  []Alert `json:"alerts"`
		Summary string  `json:"summary"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Alerts) != len(res.Alerts) || back.Summary != res.Summary() {
		t.Errorf("JSON does not round-trip (%v):\n%s", err, js.String())
	}
}

func TestReplayFilters(t *testing.T) {
	reg := exampleRegistry(t)
	text := csvOf(history()) + "coal-01,CH4-999,2026-11-30T08:00:00Z,5\n"
	src := CSV{Name: "h.csv", R: strings.NewReader(text)}
	res, err := Run(context.Background(), reg, alerting.Options{}, src,
		Filter{Sensor: "O2-104", From: at(10), To: at(43)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Readings != 33 || !res.First.Equal(at(10)) || !res.Last.Equal(at(42)) {
		t.Errorf("replayed %d readings %s..%s, want 33 from %s to %s", res.Readings, res.First, res.Last, at(10), at(42))
	}
	for _, a := range res.Alerts {
		if a.Sensor != "O2-104" {
			t.Errorf("alert of %s outside the filter", a.Sensor)
		}
	}
	// Cut off at i=42, the oxygen alert is still open at the end.
	if o2 := find(t, res, "o2_mine_low", "O2-104"); !o2.Open() {
		t.Errorf("o2_mine_low resolved at %s, after --to", o2.ResolvedAt)
	}
	res, err = Run(context.Background(), reg, alerting.Options{}, CSV{Name: "h.csv", R: strings.NewReader(text)}, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Unknown != 1 {
		t.Errorf("unknown = %d, want the one CH4-999 reading", res.Unknown)
	}
}

func TestCSVProblems(t *testing.T) {
	text := "coal-01,CH4-101,2026-11-30T08:00:00Z,0.4\n" +
		"coal-01,CH4-101,yesterday,0.4\n" +
		"coal-01,CH4-101,2026-11-30T08:00:10Z,lots\n" +
		"coal-01,CH4-101,2026-11-30T08:00:20Z,0.4,fine\n" +
		"coal-01,CH4-101\n" +
		",CH4-101,2026-11-30T08:00:30Z,0.4\n" +
		"coal-01,CH4-101,2026-11-30T08:00:40Z,,bad\n"
	_, err := CSV{Name: "x.csv", R: strings.NewReader(text)}.read()
	var le *sensors.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("err %v, want a *sensors.LoadError", err)
	}
	want := []string{
		"x.csv:2: time \"yesterday\"",
		"x.csv:3: value \"lots\" is not a number",
		"x.csv:4: unknown quality \"fine\"",
		"x.csv:5: want site,sensor,time,value[,quality], got 2 columns",
		"x.csv:6: site and sensor must not be empty",
	}
	if len(le.Problems) != len(want) {
		t.Fatalf("problems:\n%v", err)
	}
	for i, w := range want {
		if !strings.HasPrefix(le.Problems[i].String(), w) {
			t.Errorf("problem %d = %s, want prefix %s", i, le.Problems[i], w)
		}
	}
}

// TestReplayLongGap: across hours without data the staleness checks
// still raise sensor_stale when it is due, and the reading after the gap
// resolves it.
func TestReplayLongGap(t *testing.T) {
	reg := exampleRegistry(t)
	text := "coal-01,CH4-101,2026-11-30T08:00:00Z,0.4\n" +
		"coal-01,CH4-101,2026-11-30T08:00:10Z,0.4\n" +
		"coal-01,CH4-101,2026-11-30T18:00:00Z,0.4\n"
	res, err := Run(context.Background(), reg, alerting.Options{}, CSV{Name: "gap.csv", R: strings.NewReader(text)}, Filter{Site: "coal-01"})
	if err != nil {
		t.Fatal(err)
	}
	a := find(t, res, alerting.RuleSensorStale, "CH4-101")
	if d := a.FiredAt.Sub(at(1)); d < 30*time.Second || d > 30*time.Second+tickEvery {
		t.Errorf("stale fired %s after the last reading, want 30-40 s", d)
	}
	if want := t0.Add(10 * time.Hour); !a.ResolvedAt.Equal(want) {
		t.Errorf("stale resolved at %s, want %s", a.ResolvedAt, want)
	}
}

// TestReplayKindPackDirection: a falling-rate rule a kind's pack sets
// (a rule file's kinds section) is a low alarm, so its peak is the
// lowest value, as the engine that raised it reads the pack.
func TestReplayKindPackDirection(t *testing.T) {
	reg := exampleRegistry(t)
	// Steady, then falling 0.1 every 10 s to its lowest, then steady.
	ch4 := []float64{0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.4, 0.3, 0.2, 0.1}
	for range 16 {
		ch4 = append(ch4, 0.1)
	}
	opts := alerting.Options{KindPack: map[sensors.KindID]alerting.RulePack{
		"ch4": {Rate: &alerting.RateConfig{Direction: sensors.Below, Limit: 0.3, Per: time.Minute, Window: 30 * time.Second}},
	}}
	src := CSV{Name: "history.csv", R: strings.NewReader(csvOf([]series{{"coal-01", "CH4-101", ch4}}))}
	res, err := Run(context.Background(), reg, opts, src, Filter{Site: "coal-01"})
	if err != nil {
		t.Fatal(err)
	}
	a := find(t, res, "ch4_rate", "CH4-101")
	if a.Peak != 0.1 {
		t.Errorf("ch4_rate peak %g, want the lowest value read while it was open", a.Peak)
	}
}
