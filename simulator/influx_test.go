package simulator

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/internal/testenv"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/storage"
)

// TestScoreFromInfluxIntegration stores alert events in a real influxd
// (1.8, v2 API) the way riskmon does, reads them back with the scorer's
// Flux query and scores them against a hand-made truth.
func TestScoreFromInfluxIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs influxd")
	}
	srv := testenv.Influx(t)
	tr := handTruth()
	t0, wall0 := tr.Run.Start, tr.Run.WallStart
	wall := func(d time.Duration) time.Time { return wall0.Add(d / 2) } // speed 2
	events := []AlertEvent{
		// Before the run: outside the query's range.
		ev("a0", "combustible_gas_high", "hz-01", "GT-201", "fired", sensors.LevelOrange, t0.Add(-time.Hour)),
		ev("a1", "combustible_gas_high", "hz-01", "GT-201", "fired", sensors.LevelOrange, t0.Add(67*time.Second)),
		ev("a1", "combustible_gas_high", "hz-01", "GT-201", "escalated", sensors.LevelRed, t0.Add(91*time.Second)),
		ev("a1", "combustible_gas_high", "hz-01", "GT-201", "resolved", sensors.LevelNone, t0.Add(4*time.Minute)),
		ev("a2", "ch4_high", "coal-01", "CH4-101", "fired", sensors.LevelOrange, t0.Add(2*time.Minute)),
		ev("a3", "gateway_offline", "pipe-01", "gw1", "fired", sensors.LevelOrange, wall(2*time.Minute+3*time.Second)),
		// The simulator signing off.
		ev("z1", "gateway_offline", "hz-01", "gw1", "fired", sensors.LevelOrange, wall(5*time.Minute)),
	}
	var lines []byte
	for i, e := range events {
		e.Message = "event \"" + e.AlertID + "\", with a quote"
		events[i] = e
		lines = storage.AppendAlertEvent(lines, &storage.AlertEvent{Rule: e.Rule, Site: e.Site, Sensor: e.Sensor, Type: e.Type,
			AlertID: e.AlertID, Message: e.Message, Level: uint8(e.Level), Value: 1, Setpoint: 25, At: e.At})
	}
	ctx := context.Background()
	store := storage.New(storage.Options{URL: srv.URL, Bucket: srv.Database})
	defer store.Close()
	if err := store.WriteLines(ctx, string(lines)); err != nil {
		t.Fatal(err)
	}

	got, err := ReadAlertEventsInflux(ctx, store, t0.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b AlertEvent) int { return a.At.Compare(b.At) })
	want := events[1:]
	slices.SortFunc(want, func(a, b AlertEvent) int { return a.At.Compare(b.At) })
	if len(got) != len(want) {
		t.Fatalf("read %d events, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g := got[i]
		g.At = g.At.UTC()
		if !reflect.DeepEqual(g, want[i]) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, g, want[i])
		}
	}

	sc := ScoreRun(tr, got, ScoreOptions{})
	leak, outage := sc.Incidents[0], sc.Incidents[1]
	if !leak.Detected || leak.First.AlertID != "a1" || leak.First.Level != sensors.LevelOrange || leak.Best != sensors.LevelRed {
		t.Errorf("leak: %+v, want detected by a1 at orange, best red", leak)
	}
	if !leak.HasLead || leak.Lead != -2*time.Second || !leak.Met {
		t.Errorf("leak lead %s (has %v), met %v; want -2s, met", leak.Lead, leak.HasLead, leak.Met)
	}
	if !outage.Detected || outage.First.AlertID != "a3" || !outage.Met {
		t.Errorf("outage: %+v, want detected by a3", outage)
	}
	if sc.FalseAlerts != 1 || sc.False[0].AlertID != "a2" || sc.Missed != 0 {
		t.Errorf("false alerts %d (%+v), missed %d; want a2 only, none missed", sc.FalseAlerts, sc.False, sc.Missed)
	}
	var table bytes.Buffer
	if err := sc.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	// 60 sensors for 5 minutes are 5 sensor-hours: one false alert is
	// 200 per 1,000.
	for _, s := range []string{"leak      gas_spread       detected  hz-01/GT-201 combustible_gas_high  2-orange  1-red", "-2s",
		"false alerts: 1 in 5.0 sensor-hours (200.00 per 1,000 sensor-hours)", "targets missed: 0"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
}

// fakeAlertEvents answers AlertEvents from a fixed list, or fails.
type fakeAlertEvents struct {
	evs   []storage.AlertEvent
	err   error
	since time.Time
}

func (f *fakeAlertEvents) AlertEvents(_ context.Context, since time.Time) ([]storage.AlertEvent, error) {
	f.since = since
	return f.evs, f.err
}

// The stored events become the scorer's, level and all; an error of the
// store comes back as it was.
func TestReadAlertEventsInflux(t *testing.T) {
	at := time.Date(2025, 12, 1, 8, 0, 0, 0, time.UTC)
	f := &fakeAlertEvents{evs: []storage.AlertEvent{{Rule: "ch4_high", Site: "coal-01", Sensor: "CH4-101", Type: "fired",
		AlertID: "a1", Message: "m", Level: 3, Value: 1.2, Setpoint: 1, At: at, Late: true}}}
	got, err := ReadAlertEventsInflux(context.Background(), f, at.Add(-time.Minute))
	want := []AlertEvent{{AlertID: "a1", Rule: "ch4_high", Site: "coal-01", Sensor: "CH4-101", Type: "fired",
		Level: sensors.LevelYellow, At: at, Message: "m"}}
	if err != nil || !reflect.DeepEqual(got, want) || !f.since.Equal(at.Add(-time.Minute)) {
		t.Fatalf("got %+v, %v (since %s); want %+v", got, err, f.since, want)
	}
	f.err = errors.New("alert events from http://127.0.0.1:1 bucket riskmon: refused")
	if _, err := ReadAlertEventsInflux(context.Background(), f, at); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("failing store: %v", err)
	}
}
