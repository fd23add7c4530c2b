package console

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/riskmon/riskmon/internal/testenv"
	"github.com/riskmon/riskmon/storage"
)

// TestInfluxSeriesIntegration stores an hour of one-second readings in a
// real influxd (1.8, v2 API with Flux) as ingest writes them, and reads
// them back through the sensor series endpoint: bounded buckets, each
// with the min, max and mean of its readings, the spike kept, and nothing
// of the other sensors.
func TestInfluxSeriesIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: runs influxd")
	}
	srv := testenv.Influx(t)
	// On a 2-minute edge, so the hour is exactly 30 of the day's buckets.
	now := time.Now().UTC().Truncate(2 * time.Minute)
	start := now.Add(-time.Hour)
	var b strings.Builder
	line := func(site, sensor, kind string, v float64, at time.Time) {
		fmt.Fprintf(&b, "reading,kind=%s,sector=pipeline,sensor=%s,site=%s quality=\"good\",received=%di,value=%g %d\n",
			kind, sensor, site, at.UnixMilli(), v, at.UnixMilli())
	}
	for i := range 3600 {
		at := start.Add(time.Duration(i) * time.Second)
		v := 5 + float64(i%5) // 5,6,7,8,9 within every 5-second bucket: mean 7
		if i == 1802 {
			v = 60 // one second of overpressure
		}
		line("station-c", "p-1", "line_pressure", v, at)
		line("station-c", "p-2", "line_pressure", 99, at) // not ours: same site, other sensor
		line("plant-a", "p-1", "line_pressure", 99, at)   // not ours: same sensor id, other site
	}
	src := storage.New(storage.Options{URL: srv.URL, Bucket: srv.Database})
	defer src.Close()
	ctx := context.Background()
	if err := src.WriteLines(ctx, b.String()); err != nil {
		t.Fatal(err)
	}

	h := Handler(NewHub(testRegistry(t), HubOptions{}), Options{Series: src, Now: func() time.Time { return now }})
	began := time.Now()
	rec := get(t, h, "/api/v1/sites/station-c/sensors/p-1/series")
	first := time.Since(began)
	began = time.Now()
	_ = get(t, h, "/api/v1/sites/station-c/sensors/p-1/series")
	// Figures for docs/console.md, not limits.
	t.Logf("an hour of 1 s readings as the series answer: first query %s, again %s", first, time.Since(began))
	if rec.Code != 200 {
		t.Fatalf("series: %d %s", rec.Code, rec.Body)
	}
	var body seriesAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Step != "5s" || len(body.Points) != 720 {
		t.Fatalf("step %s with %d points, want 5s and 720", body.Step, len(body.Points))
	}
	for i, p := range body.Points {
		if want := start.Add(time.Duration(i) * 5 * time.Second); !p.At.Equal(want) {
			t.Fatalf("point %d at %s, want the bucket start %s", i, p.At, want)
		}
		wantMax, wantMean := 9.0, 7.0
		if p.At.Equal(start.Add(1800 * time.Second)) {
			wantMax, wantMean = 60, (5+6+60+8+9)/5.0
		}
		if p.Min != 5 || p.Max != wantMax || math.Abs(p.Mean-wantMean) > 1e-9 {
			t.Fatalf("bucket %s: min %v max %v mean %v, want 5, %v, %v", p.At, p.Min, p.Max, p.Mean, wantMax, wantMean)
		}
	}

	// A day's range over the same data: fewer, wider buckets, the spike
	// still the top of its bucket.
	pts, err := src.Series(ctx, storage.SeriesQuery{Site: "station-c", Sensor: "p-1", From: now.Add(-24 * time.Hour), To: now, Step: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var peak float64
	for _, p := range pts {
		peak = max(peak, p.Max)
	}
	if len(pts) != 30 || peak != 60 {
		t.Fatalf("a day in 2-minute buckets: %d points, peak %v; want 30 and 60", len(pts), peak)
	}
	// Nothing stored for this one.
	pts, err = src.Series(ctx, storage.SeriesQuery{Site: "station-c", Sensor: "p-9", From: start, To: now, Step: 5 * time.Second})
	if err != nil || len(pts) != 0 {
		t.Fatalf("unknown series: %d points, %v", len(pts), err)
	}
}
