package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/storage"
)

// SeriesSource reads a sensor's stored readings, bucketed: each point is
// the minimum, maximum and mean of one Step-long bucket, so a short spike
// shows as its maximum even when a long range is drawn.
// *storage.Client reads InfluxDB; tests use a fake.
type SeriesSource interface {
	Series(ctx context.Context, q storage.SeriesQuery) ([]storage.SeriesPoint, error)
}

// seriesPoint is one bucket of a series answer: At is its start.
type seriesPoint struct {
	At   time.Time `json:"t"`
	Min  float64   `json:"min"`
	Max  float64   `json:"max"`
	Mean float64   `json:"mean"`
}

// Series limits.
const (
	// maxSeriesPoints bounds the buckets of one answer: more than a chart
	// a few hundred pixels wide can show, few enough to draw at once.
	maxSeriesPoints = 720
	// maxSeriesRange bounds how far back one request reaches, so a typo
	// cannot ask InfluxDB for a year of raw points.
	maxSeriesRange = 31 * 24 * time.Hour
	// defaultSeriesRange is what the sensor page draws.
	defaultSeriesRange = time.Hour
	// seriesTimeout bounds the query; a stalled InfluxDB must not hold
	// the page's request for ever.
	seriesTimeout = 15 * time.Second
)

// seriesSteps are the bucket widths a query may use: round numbers, so
// bucket edges fall on the minute or the hour and the chart's axis reads
// well.
var seriesSteps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// seriesStep is the smallest round bucket width that keeps [from, to) within
// maxPoints buckets (one more when from is not on a bucket edge).
func seriesStep(from, to time.Time, maxPoints int) time.Duration {
	span := to.Sub(from)
	for _, st := range seriesSteps {
		if span <= st*time.Duration(maxPoints) {
			return st
		}
	}
	return seriesSteps[len(seriesSteps)-1]
}

// seriesAnswer is the body of GET /api/v1/sites/{site}/sensors/{sensor}/series.
type seriesAnswer struct {
	Site      string         `json:"site"`
	Sensor    string         `json:"sensor"`
	Kind      string         `json:"kind"`
	KindName  string         `json:"kind_name"`
	Unit      string         `json:"unit"`
	From      time.Time      `json:"from"`
	To        time.Time      `json:"to"`
	Step      string         `json:"step"`
	Setpoints []SetpointView `json:"setpoints"`
	Points    []seriesPoint  `json:"points"`
}

func (s *server) sensorSeries(w http.ResponseWriter, r *http.Request) {
	site, sensor := r.PathValue("site"), r.PathValue("sensor")
	sn, ok := s.hub.registry().reg.Lookup(site, sensor)
	if !ok {
		writeError(w, http.StatusNotFound, "no such sensor: "+site+"/"+sensor)
		return
	}
	if s.opts.Series == nil {
		writeError(w, http.StatusNotImplemented, "this console has no reading store to draw from")
		return
	}
	from, to, err := s.parseRange(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	step := seriesStep(from, to, maxSeriesPoints)
	ctx, cancel := context.WithTimeout(r.Context(), seriesTimeout)
	defer cancel()
	pts, err := s.opts.Series.Series(ctx, storage.SeriesQuery{Site: site, Sensor: sensor, From: from, To: to, Step: step})
	if err != nil {
		s.log.Warn("console: series query failed", "site", site, "sensor", sensor, "err", err)
		code := http.StatusBadGateway
		if errors.Is(err, context.DeadlineExceeded) {
			code = http.StatusGatewayTimeout
		}
		writeError(w, code, "reading store: "+err.Error())
		return
	}
	points := make([]seriesPoint, len(pts))
	for i, p := range pts {
		points[i] = seriesPoint{At: p.At, Min: p.Min, Max: p.Max, Mean: p.Mean}
	}
	v := s.hub.sensorView(sn, s.opts.Now(), s.opts.StaleFactor, nil)
	writeJSON(w, seriesAnswer{Site: site, Sensor: sensor, Kind: string(sn.Kind), KindName: v.KindName, Unit: v.Unit,
		From: from, To: to, Step: step.String(), Setpoints: v.Setpoints, Points: points})
}

// parseRange reads from= and to= (RFC 3339); to defaults to now, from to
// an hour before to.
func (s *server) parseRange(r *http.Request) (from, to time.Time, err error) {
	q := r.URL.Query()
	if to, err = parseTime(q.Get("to")); err != nil {
		return from, to, fmt.Errorf("to: %w", err)
	}
	if to.IsZero() {
		to = s.opts.Now()
	}
	if from, err = parseTime(q.Get("from")); err != nil {
		return from, to, fmt.Errorf("from: %w", err)
	}
	if from.IsZero() {
		from = to.Add(-defaultSeriesRange)
	}
	switch {
	case !from.Before(to):
		return from, to, fmt.Errorf("from (%s) must be before to (%s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	case to.Sub(from) > maxSeriesRange:
		return from, to, fmt.Errorf("from..to spans %s; at most %s per request", to.Sub(from), maxSeriesRange)
	}
	return from.UTC(), to.UTC(), nil
}

// sensorEvents is the body of GET /api/v1/sites/{site}/sensors/{sensor}/events.
type sensorEvents struct {
	Site   string    `json:"site"`
	Sensor string    `json:"sensor"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	// Events are as the stream sends them: with their text in both
	// languages.
	Events []json.RawMessage `json:"events"`
}

func (s *server) sensorEvents(w http.ResponseWriter, r *http.Request) {
	site, sensor := r.PathValue("site"), r.PathValue("sensor")
	if _, ok := s.hub.registry().reg.Lookup(site, sensor); !ok {
		writeError(w, http.StatusNotFound, "no such sensor: "+site+"/"+sensor)
		return
	}
	from, to, err := s.parseRange(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	evs := s.hub.SensorEvents(site, sensor, from, to)
	out := sensorEvents{Site: site, Sensor: sensor, From: from, To: to, Events: make([]json.RawMessage, 0, len(evs))}
	for _, ev := range evs {
		data, err := s.hub.streamEvent(ev)
		if err != nil {
			s.log.Error("console: drop unencodable alert event", "alert_id", ev.AlertID, "err", err)
			continue
		}
		out.Events = append(out.Events, data)
	}
	writeJSON(w, out)
}

// SensorEvents returns the kept events of a sensor's alerts with time in
// [from, to), oldest first: fired, level changes, acknowledgements and
// the end. It reaches as far back as the lifecycle keeps alerts (the open
// ones and the recently closed ones); older history is in InfluxDB
// (alert_event).
func (h *Hub) SensorEvents(site, sensor string, from, to time.Time) []alerting.Event {
	out := []alerting.Event{}
	for _, r := range h.alerts.Recent() {
		// By the alert's subject: acknowledgements carry it too, but the
		// record is what ties every event to one sensor.
		if r.Site != site || r.Sensor != sensor {
			continue
		}
		for _, ev := range r.Events {
			if !ev.At.Before(from) && ev.At.Before(to) {
				out = append(out, ev)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b alerting.Event) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		if a.AlertID != b.AlertID {
			if a.AlertID < b.AlertID {
				return -1
			}
			return 1
		}
		return 0
	})
	return out
}
