package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/ingest"
	"github.com/riskmon/riskmon/sensors"
)

// warmupTimeout bounds the start-up queries: a slow or absent InfluxDB
// delays monitoring by at most this much, then rules start cold.
const warmupTimeout = 10 * time.Second

// warmupSamples is how many of each sensor's newest readings a warm-up
// takes at most: the engine's window holds 32.
const warmupSamples = 32

// warmupMaxLookback caps how far back a warm-up reads, whatever a rule's
// window: beyond it the query would scan too much history.
const warmupMaxLookback = 24 * time.Hour

// WarmStats says what a warm-up did.
type WarmStats struct {
	Cold, Warmed, Readings, Queries int
}

// warmUp fills the windows of the sensors that start without recent
// state from InfluxDB's recent history, before ingest starts, so a trend
// or forecast rule is not blind for its first window. Failures are
// logged: the rules then start cold, as they did before.
func (s *Service) warmUp(ctx context.Context) WarmStats {
	if len(s.Engine.Cold(time.Now())) == 0 {
		return WarmStats{}
	}
	ctx, cancel := context.WithTimeout(ctx, warmupTimeout)
	defer cancel()
	token, err := s.cfg.InfluxToken()
	if err != nil {
		s.log.Warn("warm-up skipped", "err", err)
		return WarmStats{}
	}
	c := influxdb2.NewClientWithOptions(s.cfg.InfluxDB.URL, token, influxdb2.DefaultOptions().SetHTTPRequestTimeout(uint(warmupTimeout/time.Second)))
	defer c.Close()
	start := time.Now()
	st, err := WarmUp(ctx, c.QueryAPI(s.cfg.InfluxDB.Org), s.cfg.InfluxDB.Bucket, s.Engine, start)
	if err != nil {
		s.log.Warn("warm-up from InfluxDB failed; windowed rules start cold", "err", err, "cold", st.Cold, "warmed", st.Warmed)
		return st
	}
	if st.Cold > 0 {
		s.log.Info("rule windows warmed from InfluxDB", "cold", st.Cold, "warmed", st.Warmed, "readings", st.Readings,
			"queries", st.Queries, "took", time.Since(start).Round(time.Millisecond))
	}
	return st
}

// WarmUp queries the recent readings of the engine's cold sensors (see
// Engine.Cold) and feeds them to Engine.Warm, oldest first. It is one
// Flux query: a range per distinct look-back (the longest window of a
// kind's rules), each filtered to its kinds, the union cut to each
// series' newest warmupSamples readings, bad quality left out. It works
// on InfluxDB 2.x and on 1.8 with flux-enabled.
func WarmUp(ctx context.Context, q api.QueryAPI, bucket string, e *alerting.Engine, now time.Time) (WarmStats, error) {
	cold := e.Cold(now)
	st := WarmStats{Cold: len(cold)}
	if len(cold) == 0 {
		return st, nil
	}
	want := map[[2]string]time.Time{}
	kindSince := map[sensors.KindID]time.Time{}
	for _, c := range cold {
		since := c.Since
		if now.Sub(since) > warmupMaxLookback {
			since = now.Add(-warmupMaxLookback)
		}
		want[[2]string{c.Site, c.Sensor}] = since
		if ks, ok := kindSince[c.Kind]; !ok || since.Before(ks) {
			kindSince[c.Kind] = since
		}
	}
	// Each kind in one range only, so no series is read twice.
	var ranges []warmRange
	for k, since := range kindSince {
		i := slices.IndexFunc(ranges, func(r warmRange) bool { return r.since.Equal(since) })
		if i < 0 {
			ranges = append(ranges, warmRange{since: since})
			i = len(ranges) - 1
		}
		ranges[i].kinds = append(ranges[i].kinds, k)
	}
	for i := range ranges {
		slices.Sort(ranges[i].kinds)
	}
	slices.SortFunc(ranges, func(a, b warmRange) int { return a.since.Compare(b.since) })
	warmed := map[[2]string]bool{}
	st.Queries = 1
	n, err := warmBatch(ctx, q, warmQuery(bucket, now, ranges), e, want, warmed)
	st.Readings, st.Warmed = n, len(warmed)
	return st, err
}

// warmRange is the kinds whose sensors look back to since.
type warmRange struct {
	since time.Time
	kinds []sensors.KindID
}

// warmQuery is the Flux of a warm-up. The result has a table per series
// (the tags), sorted by time, which is the order Warm needs.
func warmQuery(bucket string, now time.Time, ranges []warmRange) string {
	var b strings.Builder
	var names []string
	for i, r := range ranges {
		var match []string
		for _, k := range r.kinds {
			match = append(match, fmt.Sprintf("r.kind == %q", string(k)))
		}
		name := fmt.Sprintf("r%d", i)
		names = append(names, name)
		fmt.Fprintf(&b, `%s = from(bucket: %q)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and (r._field == "value" or r._field == "quality"))
  |> filter(fn: (r) => %s)
`, name, bucket, r.since.UTC().Format(time.RFC3339Nano), now.UTC().Add(time.Millisecond).Format(time.RFC3339Nano),
			ingest.Measurement, strings.Join(match, " or "))
	}
	src := names[0]
	if len(names) > 1 {
		src = "union(tables: [" + strings.Join(names, ", ") + "])"
	}
	fmt.Fprintf(&b, `%s
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> filter(fn: (r) => r.quality != "bad")
  |> sort(columns: ["_time"])
  |> tail(n: %d)
  |> keep(columns: ["_time", "site", "sensor", "value"])
`, src, warmupSamples)
	return b.String()
}

func warmBatch(ctx context.Context, q api.QueryAPI, flux string, e *alerting.Engine, want map[[2]string]time.Time, warmed map[[2]string]bool) (int, error) {
	res, err := q.Query(ctx, flux)
	if err != nil {
		return 0, fmt.Errorf("warm-up query: %w", err)
	}
	defer res.Close()
	n := 0
	for res.Next() {
		rec := res.Record()
		site, _ := rec.ValueByKey("site").(string)
		sensor, _ := rec.ValueByKey("sensor").(string)
		v, ok := rec.ValueByKey("value").(float64)
		key := [2]string{site, sensor}
		since, cold := want[key]
		if !ok || !cold || rec.Time().Before(since) {
			continue
		}
		if e.Warm(sensors.Reading{Site: site, Sensor: sensor, Value: v, Time: rec.Time()}) {
			n++
			warmed[key] = true
		}
	}
	if err := res.Err(); err != nil {
		return n, fmt.Errorf("warm-up query: %w", err)
	}
	return n, nil
}
