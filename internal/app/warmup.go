package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
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

// WarmStats says what a warm-up did: sensors cold and warmed, raw
// readings fed to windows, minute aggregates fed to exposure rings, and
// queries made.
type WarmStats struct {
	Cold, Warmed, Readings, Aggregates, Queries int
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
	st, err := WarmUp(ctx, c.QueryAPI(s.cfg.InfluxDB.Org), s.cfg.InfluxDB.Bucket, s.Engine, s.reg.Catalog(), start)
	if err != nil {
		s.log.Warn("warm-up from InfluxDB failed; windowed rules start cold", "err", err, "cold", st.Cold, "warmed", st.Warmed)
		return st
	}
	if st.Cold > 0 {
		s.log.Info("rule windows warmed from InfluxDB", "cold", st.Cold, "warmed", st.Warmed, "readings", st.Readings,
			"aggregates", st.Aggregates, "queries", st.Queries, "took", time.Since(start).Round(time.Millisecond))
	}
	return st
}

// WarmUp queries the recent readings of the engine's cold sensors (see
// Engine.Cold) and feeds them to Engine.Warm, oldest first. It is one
// Flux query: a range per distinct look-back (the longest window of a
// kind's rules), each filtered to its kinds, the union cut to each
// series' newest warmupSamples readings, bad quality left out. It works
// on InfluxDB 2.x and on 1.8 with flux-enabled.
func WarmUp(ctx context.Context, q api.QueryAPI, bucket string, e *alerting.Engine, cat *sensors.Catalog, now time.Time) (WarmStats, error) {
	cold := e.Cold(now)
	st := WarmStats{Cold: len(cold)}
	if len(cold) == 0 {
		return st, nil
	}
	warmed := map[[2]string]bool{}
	// Exposure first: its aggregates reach up to now, so the raw readings
	// below then feed only the windows, not the dose a second time. It
	// scans hours of history, so it gets half the time, and the windows
	// are warmed whether it succeeds or not.
	ectx, cancel := context.WithTimeout(ctx, warmupTimeout/2)
	n, expErr := warmExposure(ectx, q, bucket, e, cat, now, cold, warmed)
	cancel()
	if n > 0 || expErr != nil {
		st.Queries++
		st.Aggregates = n
	}
	want := map[[2]string]time.Time{}
	kindSince := map[sensors.KindID]time.Time{}
	for _, c := range cold {
		if c.Since.IsZero() {
			continue // only its exposure was cold
		}
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
	var winErr error
	if len(ranges) > 0 {
		st.Queries++
		st.Readings, winErr = warmBatch(ctx, q, warmQuery(bucket, now, ranges), e, want, warmed)
	}
	st.Warmed = len(warmed)
	return st, errors.Join(expErr, winErr)
}

// exposureStep is the aggregation of the exposure warm-up: one minute,
// the width of a 15-minute-average bucket.
const exposureStep = time.Minute

// warmExposure rebuilds the exposure rings of the sensors that have none
// from minute means and counts of their stored readings over the last 8
// hours, in one Flux query, and returns how many aggregates it took.
// Covered time is the count times the kind's reporting interval, at most
// the minute.
func warmExposure(ctx context.Context, q api.QueryAPI, bucket string, e *alerting.Engine, cat *sensors.Catalog,
	now time.Time, cold []alerting.ColdSensor, warmed map[[2]string]bool) (int, error) {
	want := map[[2]string]time.Duration{} // the sensor's reporting interval
	var kinds []sensors.KindID
	since := now
	for _, c := range cold {
		k, ok := cat.Kind(c.Kind)
		if c.ExposureSince.IsZero() || !ok || k.Interval <= 0 {
			continue
		}
		want[[2]string{c.Site, c.Sensor}] = k.Interval
		if !slices.Contains(kinds, c.Kind) {
			kinds = append(kinds, c.Kind)
		}
		if c.ExposureSince.Before(since) {
			since = c.ExposureSince
		}
	}
	if len(want) == 0 {
		return 0, nil
	}
	slices.Sort(kinds)
	res, err := q.Query(ctx, exposureQuery(bucket, since, now, kinds))
	if err != nil {
		return 0, fmt.Errorf("exposure warm-up query: %w", err)
	}
	defer res.Close()
	type agg struct {
		mean  float64
		count int64
		hasM  bool
	}
	aggs := map[[2]string]map[time.Time]*agg{}
	for res.Next() {
		rec := res.Record()
		site, _ := rec.ValueByKey("site").(string)
		sensor, _ := rec.ValueByKey("sensor").(string)
		key := [2]string{site, sensor}
		if _, ok := want[key]; !ok {
			continue
		}
		if aggs[key] == nil {
			aggs[key] = map[time.Time]*agg{}
		}
		a := aggs[key][rec.Time()]
		if a == nil {
			a = &agg{}
			aggs[key][rec.Time()] = a
		}
		switch v := rec.ValueByKey("value").(type) {
		case float64:
			a.mean, a.hasM = v, true
		case int64:
			a.count = v
		}
	}
	if err := res.Err(); err != nil {
		return 0, fmt.Errorf("exposure warm-up query: %w", err)
	}
	n := 0
	for key, byEnd := range aggs {
		ends := slices.SortedFunc(maps.Keys(byEnd), time.Time.Compare)
		for _, end := range ends {
			a := byEnd[end]
			if !a.hasM || a.count <= 0 {
				continue
			}
			covered := min(time.Duration(a.count)*want[key], exposureStep)
			if e.WarmExposure(key[0], key[1], end, a.mean, covered) {
				n++
				warmed[key] = true
			}
		}
	}
	return n, nil
}

// exposureQuery is the Flux of the exposure warm-up: per series and
// minute the mean ("mean" result) and count ("count") of the good
// readings, each stamped with the end of its minute.
func exposureQuery(bucket string, since, now time.Time, kinds []sensors.KindID) string {
	var match []string
	for _, k := range kinds {
		match = append(match, fmt.Sprintf("r.kind == %q", string(k)))
	}
	return fmt.Sprintf(`good = from(bucket: %q)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and (r._field == "value" or r._field == "quality"))
  |> filter(fn: (r) => %s)
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> filter(fn: (r) => not exists r.quality or r.quality != "bad")
good
  |> aggregateWindow(every: %s, fn: mean, column: "value", createEmpty: false)
  |> keep(columns: ["_time", "site", "sensor", "value"])
  |> yield(name: "mean")
good
  |> aggregateWindow(every: %s, fn: count, column: "value", createEmpty: false)
  |> keep(columns: ["_time", "site", "sensor", "value"])
  |> yield(name: "count")
`, bucket, since.UTC().Format(time.RFC3339Nano), now.UTC().Add(time.Millisecond).Format(time.RFC3339Nano),
		ingest.Measurement, strings.Join(match, " or "), exposureStep, exposureStep)
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
  |> filter(fn: (r) => not exists r.quality or r.quality != "bad")
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
