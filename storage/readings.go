package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// ReadingsQuery selects stored readings with device time in [From, To).
type ReadingsQuery struct {
	From, To time.Time
	// Site and Sensor, when set, are filtered on the server.
	Site, Sensor string
	// Chunk is the span of one query; default an hour.
	Chunk time.Duration
}

// Readings yields the stored readings of q to fn in device-time order
// (ties by site, then sensor), stopping at fn's first error. The range is
// read one Chunk at a time, each sorted by time on the server, and every
// chunk is streamed row by row, so neither side holds more than a chunk
// and riskmon holds one row. A reading of an old release that stored no
// quality is good; one without a numeric value has the value NaN.
func (c *Client) Readings(ctx context.Context, q ReadingsQuery, fn func(sensors.Reading) error) error {
	if q.From.IsZero() || q.To.IsZero() {
		return errors.New("readings: the range needs both ends")
	}
	chunk := q.Chunk
	if chunk <= 0 {
		chunk = time.Hour
	}
	for start := q.From; start.Before(q.To); start = start.Add(chunk) {
		stop := start.Add(chunk)
		if stop.After(q.To) {
			stop = q.To
		}
		if err := c.readingsChunk(ctx, q, start, stop, fn); err != nil {
			return err
		}
	}
	return nil
}

// readingsFlux is the query of one chunk: the reading's fields side by
// side in one row per point, every series merged and sorted by time, then
// site and sensor, the order the CSV source of replay sorts in.
func readingsFlux(bucket string, q ReadingsQuery, start, stop time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "from(bucket: %s)\n", fluxString(bucket))
	fmt.Fprintf(&b, "  |> range(start: %s, stop: %s)\n", fluxTime(start), fluxTime(stop))
	fmt.Fprintf(&b, "  |> filter(fn: (r) => r._measurement == %s and (r._field == %s or r._field == %s))\n",
		fluxString(MeasurementReading), fluxString(FieldValue), fluxString(FieldQuality))
	if q.Site != "" {
		fmt.Fprintf(&b, "  |> filter(fn: (r) => r.%s == %s)\n", TagSite, fluxString(q.Site))
	}
	if q.Sensor != "" {
		fmt.Fprintf(&b, "  |> filter(fn: (r) => r.%s == %s)\n", TagSensor, fluxString(q.Sensor))
	}
	b.WriteString(`  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> keep(columns: ["_time", "site", "sensor", "value", "quality"])
  |> group()
  |> sort(columns: ["_time", "site", "sensor"])
`)
	return b.String()
}

func (c *Client) readingsChunk(ctx context.Context, q ReadingsQuery, start, stop time.Time, fn func(sensors.Reading) error) error {
	res, err := c.run(ctx, readingsFlux(c.opts.Bucket, q, start, stop))
	if err != nil {
		return fmt.Errorf("readings query %s..%s: %w", start.Format(time.RFC3339), stop.Format(time.RFC3339), err)
	}
	defer res.Close()
	for res.Next() {
		rec := res.Record()
		if t := rec.Time(); t.Before(start) || !t.Before(stop) {
			// InfluxDB 1.8 returns points at the stop time too; they
			// belong to the next chunk.
			continue
		}
		r := sensors.Reading{Time: rec.Time(), Value: math.NaN()}
		r.Site, _ = rec.ValueByKey(TagSite).(string)
		r.Sensor, _ = rec.ValueByKey(TagSensor).(string)
		switch v := rec.ValueByKey(FieldValue).(type) {
		case float64:
			r.Value = v
		case int64:
			r.Value = float64(v)
		}
		if s, ok := rec.ValueByKey(FieldQuality).(string); ok {
			if qual, err := sensors.ParseQuality(s); err == nil {
				r.Quality = qual
			}
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("readings query %s..%s: %w", start.Format(time.RFC3339), stop.Format(time.RFC3339), err)
	}
	return nil
}

// KindRange asks for the readings of the sensors of Kinds from Since on.
type KindRange struct {
	Since time.Time
	Kinds []sensors.KindID
}

// RecentReadings yields the newest readings, at most n per series, of the
// sensors of each range's kinds from its Since up to now, bad quality left
// out, in one query. Each series comes whole and oldest first (a table per
// series, which is what filling a rule's window needs); a reading carries
// only site, sensor, value and time.
func (c *Client) RecentReadings(ctx context.Context, ranges []KindRange, now time.Time, n int, fn func(sensors.Reading)) error {
	if len(ranges) == 0 {
		return nil
	}
	res, err := c.run(ctx, recentFlux(c.opts.Bucket, ranges, now, n))
	if err != nil {
		return fmt.Errorf("recent readings: %w", err)
	}
	defer res.Close()
	for res.Next() {
		rec := res.Record()
		v, ok := rec.ValueByKey(FieldValue).(float64)
		if !ok {
			continue
		}
		r := sensors.Reading{Value: v, Time: rec.Time()}
		r.Site, _ = rec.ValueByKey(TagSite).(string)
		r.Sensor, _ = rec.ValueByKey(TagSensor).(string)
		fn(r)
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("recent readings: %w", err)
	}
	return nil
}

// recentFlux is a range per distinct look-back, each filtered to its
// kinds, the union cut to each series' newest n readings. The stop lies
// just after now, so a reading at now is in.
func recentFlux(bucket string, ranges []KindRange, now time.Time, n int) string {
	var b strings.Builder
	var names []string
	for i, r := range ranges {
		name := fmt.Sprintf("r%d", i)
		names = append(names, name)
		fmt.Fprintf(&b, `%s = from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %s and (r._field == %s or r._field == %s))
  |> filter(fn: (r) => %s)
`, name, fluxString(bucket), fluxTime(r.Since), fluxTime(now.Add(time.Millisecond)),
			fluxString(MeasurementReading), fluxString(FieldValue), fluxString(FieldQuality), fluxKinds(r.Kinds))
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
`, src, n)
	return b.String()
}

// Aggregate is the mean and count of a series' good readings over one
// window, stamped with the window's end. HasMean is false where the
// database answered a count without its mean.
type Aggregate struct {
	Site, Sensor string
	End          time.Time
	Mean         float64
	HasMean      bool
	Count        int64
}

// Aggregates reads, per series of the sensors of kinds and per window of
// step from since up to now, the mean and count of the good readings, in
// one query. They come sorted by site, sensor and end.
func (c *Client) Aggregates(ctx context.Context, kinds []sensors.KindID, since, now time.Time, step time.Duration) ([]Aggregate, error) {
	if len(kinds) == 0 || step <= 0 {
		return nil, nil
	}
	res, err := c.run(ctx, aggregatesFlux(c.opts.Bucket, kinds, since, now, step))
	if err != nil {
		return nil, fmt.Errorf("aggregates: %w", err)
	}
	defer res.Close()
	type key struct {
		site, sensor string
		end          int64
	}
	byKey := map[key]*Aggregate{}
	for res.Next() {
		rec := res.Record()
		site, _ := rec.ValueByKey(TagSite).(string)
		sensor, _ := rec.ValueByKey(TagSensor).(string)
		k := key{site, sensor, rec.Time().UnixNano()}
		a := byKey[k]
		if a == nil {
			a = &Aggregate{Site: site, Sensor: sensor, End: rec.Time()}
			byKey[k] = a
		}
		// The mean is a float, the count an integer.
		switch v := rec.ValueByKey(FieldValue).(type) {
		case float64:
			a.Mean, a.HasMean = v, true
		case int64:
			a.Count = v
		}
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("aggregates: %w", err)
	}
	out := make([]Aggregate, 0, len(byKey))
	for _, a := range byKey {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b Aggregate) int {
		if c := strings.Compare(a.Site, b.Site); c != 0 {
			return c
		}
		if c := strings.Compare(a.Sensor, b.Sensor); c != 0 {
			return c
		}
		return a.End.Compare(b.End)
	})
	return out, nil
}

// aggregatesFlux: per series and window the mean ("mean" result) and
// count ("count") of the good readings, each stamped with the end of its
// window.
func aggregatesFlux(bucket string, kinds []sensors.KindID, since, now time.Time, step time.Duration) string {
	every := fluxDuration(step)
	return fmt.Sprintf(`good = from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %s and (r._field == %s or r._field == %s))
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
`, fluxString(bucket), fluxTime(since), fluxTime(now.Add(time.Millisecond)),
		fluxString(MeasurementReading), fluxString(FieldValue), fluxString(FieldQuality),
		fluxKinds(kinds), every, every)
}
