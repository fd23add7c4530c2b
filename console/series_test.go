package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/storage"
)

// fakeSeries answers from fixed raw readings, bucketing them the way the
// Flux query does, and records the queries it was asked.
type fakeSeries struct {
	mu      sync.Mutex
	raw     []sensors.Reading
	err     error
	queries []storage.SeriesQuery
}

func (f *fakeSeries) Series(_ context.Context, q storage.SeriesQuery) ([]storage.SeriesPoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	if f.err != nil {
		return nil, f.err
	}
	var out []storage.SeriesPoint
	var n int
	for _, r := range f.raw {
		if r.Site != q.Site || r.Sensor != q.Sensor || r.Time.Before(q.From) || !r.Time.Before(q.To) {
			continue
		}
		at := r.Time.Truncate(q.Step)
		if len(out) == 0 || !out[len(out)-1].At.Equal(at) {
			out = append(out, storage.SeriesPoint{At: at, Min: r.Value, Max: r.Value, Mean: r.Value})
			n = 1
			continue
		}
		p := &out[len(out)-1]
		p.Min, p.Max = min(p.Min, r.Value), max(p.Max, r.Value)
		p.Mean = (p.Mean*float64(n) + r.Value) / float64(n+1)
		n++
	}
	return out, nil
}

func TestSeriesStep(t *testing.T) {
	for _, tc := range []struct {
		span time.Duration
		want time.Duration
	}{
		{10 * time.Minute, time.Second},
		{time.Hour, 5 * time.Second},
		{6 * time.Hour, 30 * time.Second},
		{24 * time.Hour, 2 * time.Minute},
		{7 * 24 * time.Hour, 15 * time.Minute},
		{30 * 24 * time.Hour, time.Hour},
		{31 * 24 * time.Hour, 2 * time.Hour},
	} {
		got := seriesStep(t0, t0.Add(tc.span), maxSeriesPoints)
		if got != tc.want {
			t.Errorf("span %s: step %s, want %s", tc.span, got, tc.want)
		}
		if n := tc.span / got; n > maxSeriesPoints {
			t.Errorf("span %s: %d buckets, want at most %d", tc.span, n, maxSeriesPoints)
		}
	}
}

// TestSensorSeries: the endpoint asks the store for a bounded number of
// buckets and answers with them and the sensor's setpoints; a spike stays
// visible as its bucket's maximum.
func TestSensorSeries(t *testing.T) {
	now := t0.Add(2 * time.Hour)
	var raw []sensors.Reading
	for i := range 3600 { // one reading a second over the last hour
		v := 5.0
		if i == 1800 {
			v = 60 // one second of gas
		}
		raw = append(raw, sensors.Reading{Site: "station-c", Sensor: "p-1", Value: v, Time: now.Add(-time.Hour + time.Duration(i)*time.Second)})
	}
	fs := &fakeSeries{raw: raw}
	h := Handler(NewHub(testRegistry(t), HubOptions{}), Options{Series: fs, Now: func() time.Time { return now }})

	rec := get(t, h, "/api/v1/sites/station-c/sensors/p-1/series")
	if rec.Code != http.StatusOK {
		t.Fatalf("series: %d %s", rec.Code, rec.Body)
	}
	var body seriesAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if len(fs.queries) != 1 || !fs.queries[0].From.Equal(now.Add(-time.Hour)) || !fs.queries[0].To.Equal(now) {
		t.Fatalf("queries %+v, want the last hour", fs.queries)
	}
	if body.Step != "5s" || len(body.Points) != 720 {
		t.Fatalf("step %s with %d points, want 5s and 720", body.Step, len(body.Points))
	}
	var peak float64
	for _, p := range body.Points {
		peak = max(peak, p.Max)
	}
	if peak != 60 {
		t.Errorf("the 1-second spike is lost: highest bucket max %v, want 60", peak)
	}
	if body.Unit != "MPa" || len(body.Setpoints) != 1 || body.Setpoints[0].Value != 6.3 || body.Setpoints[0].Color != "orange" {
		t.Errorf("unit %q setpoints %+v, want MPa and the orange 6.3", body.Unit, body.Setpoints)
	}

	// A range of one's own choosing.
	from, to := now.Add(-10*time.Minute).Format(time.RFC3339), now.Format(time.RFC3339)
	rec = get(t, h, "/api/v1/sites/station-c/sensors/p-1/series?from="+from+"&to="+to)
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Step != "1s" || len(body.Points) != 600 {
		t.Fatalf("10 minutes: step %s, %d points (%v), want 1s and 600", body.Step, len(body.Points), err)
	}
}

func TestSensorSeriesErrors(t *testing.T) {
	now := t0
	fs := &fakeSeries{}
	h := Handler(NewHub(testRegistry(t), HubOptions{}), Options{Series: fs, Now: func() time.Time { return now }})
	for _, tc := range []struct {
		url  string
		code int
		want string
	}{
		{"/api/v1/sites/station-c/sensors/nope/series", http.StatusNotFound, "no such sensor"},
		{"/api/v1/sites/nowhere/sensors/p-1/series", http.StatusNotFound, "no such sensor"},
		{"/api/v1/sites/station-c/sensors/p-1/series?from=yesterday", http.StatusBadRequest, "from:"},
		{"/api/v1/sites/station-c/sensors/p-1/series?to=2026-05-01", http.StatusBadRequest, "to:"},
		{"/api/v1/sites/station-c/sensors/p-1/series?from=2026-05-01T09:00:00Z&to=2026-05-01T08:00:00Z", http.StatusBadRequest, "must be before"},
		{"/api/v1/sites/station-c/sensors/p-1/series?from=2025-01-01T00:00:00Z&to=2026-05-01T08:00:00Z", http.StatusBadRequest, "at most"},
	} {
		rec := get(t, h, tc.url)
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.url, rec.Code, rec.Body, tc.code, tc.want)
		}
	}
	if len(fs.queries) != 0 {
		t.Errorf("bad requests reached the store: %+v", fs.queries)
	}
	fs.err = errors.New("connection refused")
	if rec := get(t, h, "/api/v1/sites/station-c/sensors/p-1/series"); rec.Code != http.StatusBadGateway {
		t.Errorf("store down: %d %s, want 502", rec.Code, rec.Body)
	}
	fs.err = context.DeadlineExceeded
	if rec := get(t, h, "/api/v1/sites/station-c/sensors/p-1/series"); rec.Code != http.StatusGatewayTimeout {
		t.Errorf("store slow: %d %s, want 504", rec.Code, rec.Body)
	}
	off := Handler(NewHub(testRegistry(t), HubOptions{}), Options{})
	if rec := get(t, off, "/api/v1/sites/station-c/sensors/p-1/series"); rec.Code != http.StatusNotImplemented {
		t.Errorf("no store: %d, want 501", rec.Code)
	}
}

// TestSensorEvents: the timeline holds the sensor's alert events in time
// order, acknowledgements included, and nothing of other sensors.
func TestSensorEvents(t *testing.T) {
	h := fixtureHub(t)
	ack := ev("a", alerting.EventAcknowledged, sensors.LevelOrange, "plant-a", "gas-1", 6)
	ack.By = "wang"
	h.Event(ack)
	srv := Handler(h, Options{Now: func() time.Time { return t0.Add(time.Hour) }})
	rec := get(t, srv, "/api/v1/sites/plant-a/sensors/gas-2/events")
	var body struct{ Events []alerting.Event }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range body.Events {
		got = append(got, e.AlertID+":"+e.Type.String())
	}
	if strings.Join(got, " ") != "b:fired b:escalated" {
		t.Errorf("gas-2 timeline %v, want b fired then escalated", got)
	}
	rec = get(t, srv, "/api/v1/sites/plant-a/sensors/gas-1/events?from="+t0.Add(5*time.Minute).Format(time.RFC3339))
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Events) != 1 || body.Events[0].By != "wang" {
		t.Errorf("gas-1 timeline from minute 5: %s", rec.Body)
	}
	if rec := get(t, srv, "/api/v1/sites/plant-a/sensors/zz/events"); rec.Code != http.StatusNotFound {
		t.Errorf("unknown sensor: %d", rec.Code)
	}
}
