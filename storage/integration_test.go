package storage

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/riskmon/riskmon/internal/testenv"
	"github.com/riskmon/riskmon/sensors"
)

// TestClientIntegration writes ten minutes of two sensors and two alert
// events with the encoders to a real influxd (1.8, v2 API with Flux) and
// reads them back through every reader.
func TestClientIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs influxd")
	}
	srv := testenv.Influx(t)
	c := New(Options{URL: srv.URL, Bucket: srv.Database})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// A reading every 5 s for ten minutes: GT-1 counts up, one of them
	// bad; CO-1 is flat, its first point in the form of releases that
	// stored quality and received on every reading.
	base := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	const n, bad = 120, 115
	var lines []byte
	for i := range n {
		at := base.Add(time.Duration(i) * 5 * time.Second)
		gt := sensors.Reading{Site: "hz-01", Sensor: "GT-1", Kind: "combustible_gas", Sector: sensors.SectorHazchem, Value: float64(i), Time: at}
		if i == bad {
			gt.Quality = sensors.QualityBad
		}
		co := sensors.Reading{Site: "hz-01", Sensor: "CO-1", Kind: "co", Sector: sensors.SectorHazchem, Value: 10, Time: at}
		lines = AppendReading(lines, &gt)
		if i == 0 {
			lines = fmt.Appendf(lines, "reading,kind=co,sector=hazchem,sensor=CO-1,site=hz-01 quality=\"good\",received=%di,value=10 %d\n",
				at.UnixMilli(), at.UnixMilli())
			continue
		}
		lines = AppendReading(lines, &co)
	}
	events := []AlertEvent{
		{Rule: "combustible_gas_high", Site: "hz-01", Sensor: "GT-1", Type: "fired", AlertID: "a1", Message: `"quoted" ${x}`,
			Level: 2, Value: 27.5, Setpoint: 25, At: base.Add(time.Second), Late: true},
		{Rule: "combustible_gas_high", Site: "hz-01", Sensor: "GT-1", Type: "resolved", AlertID: "a1", Message: "back",
			Level: 0, Value: 3, Setpoint: 25, At: base.Add(2 * time.Second), Planned: true, Flapping: true, Shelved: "s1"},
	}
	for i := range events {
		lines = AppendAlertEvent(lines, &events[i])
	}
	if err := c.WriteLines(ctx, string(lines)); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	t.Run("counts", func(t *testing.T) {
		if got, err := c.CountReadings(ctx, base.Add(-time.Minute), base.Add(11*time.Minute)); err != nil || got != 2*n {
			t.Errorf("CountReadings = %d, %v; want %d", got, err, 2*n)
		}
		if got, err := c.CountPoints(ctx, MeasurementAlert, FieldValue, base.Add(-time.Minute), base.Add(time.Minute)); err != nil || got != 2 {
			t.Errorf("CountPoints(alert_event) = %d, %v; want 2", got, err)
		}
	})

	t.Run("readings in chunks", func(t *testing.T) {
		var got []sensors.Reading
		err := c.Readings(ctx, ReadingsQuery{From: base, To: base.Add(10 * time.Minute), Chunk: 3 * time.Minute},
			func(r sensors.Reading) error { got = append(got, r); return nil })
		if err != nil || len(got) != 2*n {
			t.Fatalf("%d readings, %v; want %d", len(got), err, 2*n)
		}
		for i, r := range got {
			at := base.Add(time.Duration(i/2) * 5 * time.Second)
			sensor := []string{"CO-1", "GT-1"}[i%2] // ties by site, then sensor
			if !r.Time.Equal(at) || r.Sensor != sensor || r.Site != "hz-01" {
				t.Fatalf("reading %d: %s/%s at %s, want %s at %s", i, r.Site, r.Sensor, r.Time, sensor, at)
			}
			wantQ := sensors.QualityGood
			if r.Sensor == "GT-1" && i/2 == bad {
				wantQ = sensors.QualityBad
			}
			if r.Quality != wantQ || math.IsNaN(r.Value) {
				t.Fatalf("reading %d: %+v, want quality %s and a value", i, r, wantQ)
			}
		}
		var one int
		err = c.Readings(ctx, ReadingsQuery{From: base, To: base.Add(10 * time.Minute), Site: "hz-01", Sensor: "GT-1"},
			func(r sensors.Reading) error {
				if r.Sensor != "GT-1" {
					t.Errorf("filtered to GT-1, got %s", r.Sensor)
				}
				one++
				return nil
			})
		if err != nil || one != n {
			t.Errorf("GT-1 alone: %d readings, %v; want %d", one, err, n)
		}
	})

	t.Run("recent readings", func(t *testing.T) {
		now := base.Add(10 * time.Minute)
		got := map[string][]float64{}
		err := c.RecentReadings(ctx, []KindRange{
			{Since: now.Add(-2 * time.Minute), Kinds: []sensors.KindID{"combustible_gas"}},
			{Since: now.Add(-5 * time.Minute), Kinds: []sensors.KindID{"co"}},
		}, now, 10, func(r sensors.Reading) { got[r.Sensor] = append(got[r.Sensor], r.Value) })
		if err != nil {
			t.Fatal(err)
		}
		// The newest 10 good ones, oldest first: the bad 115 left out.
		want := map[string][]float64{
			"GT-1": {109, 110, 111, 112, 113, 114, 116, 117, 118, 119},
			"CO-1": {10, 10, 10, 10, 10, 10, 10, 10, 10, 10},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("recent readings %v, want %v", got, want)
		}
	})

	t.Run("aggregates", func(t *testing.T) {
		aggs, err := c.Aggregates(ctx, []sensors.KindID{"co"}, base, base.Add(10*time.Minute), time.Minute)
		if err != nil || len(aggs) != 10 {
			t.Fatalf("%d aggregates, %v; want 10: %+v", len(aggs), err, aggs)
		}
		for i, a := range aggs {
			if a.Sensor != "CO-1" || !a.End.Equal(base.Add(time.Duration(i+1)*time.Minute)) || !a.HasMean || a.Mean != 10 || a.Count != 12 {
				t.Errorf("aggregate %d: %+v, want CO-1's minute to %s: mean 10 of 12", i, a, base.Add(time.Duration(i+1)*time.Minute))
			}
		}
	})

	t.Run("series", func(t *testing.T) {
		pts, err := c.Series(ctx, SeriesQuery{Site: "hz-01", Sensor: "GT-1", From: base, To: base.Add(10 * time.Minute), Step: time.Minute})
		if err != nil || len(pts) != 10 {
			t.Fatalf("%d points, %v; want 10", len(pts), err)
		}
		for k, p := range pts {
			lo := float64(12 * k)
			if !p.At.Equal(base.Add(time.Duration(k)*time.Minute)) || p.Min != lo || p.Max != lo+11 || p.Mean != lo+5.5 {
				t.Errorf("bucket %d: %+v, want min %v max %v mean %v", k, p, lo, lo+11, lo+5.5)
			}
		}
		if _, err := c.Series(ctx, SeriesQuery{Site: "hz-01", Sensor: "GT-1", From: base, To: base.Add(time.Minute)}); err == nil {
			t.Error("no step: no error")
		}
	})

	t.Run("alert events", func(t *testing.T) {
		got, err := c.AlertEvents(ctx, base.Add(-time.Minute))
		if err != nil || len(got) != len(events) {
			t.Fatalf("%d events, %v; want %d", len(got), err, len(events))
		}
		// A table per tag set: sorted here, not by the database.
		slices.SortFunc(got, func(a, b AlertEvent) int { return a.At.Compare(b.At) })
		for i := range got {
			got[i].At = got[i].At.UTC()
			if !reflect.DeepEqual(got[i], events[i]) {
				t.Errorf("event %d:\n got %+v\nwant %+v", i, got[i], events[i])
			}
		}
	})
}
