package replay

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"

	"github.com/riskmon/riskmon/ingest"
	"github.com/riskmon/riskmon/sensors"
)

// Influx is the readings stored in InfluxDB, read with Flux over the v2
// API, which InfluxDB 2.x and 1.8+ with flux-enabled both serve. The
// range is read one Chunk at a time, each sorted by time on the server,
// and every chunk is streamed row by row, so neither side holds more
// than a chunk and riskmon holds one row.
type Influx struct {
	URL, Token, Org, Bucket string
	// Measurement defaults to the one ingest writes ("reading").
	Measurement string
	// Chunk is the span of one query; default an hour.
	Chunk time.Duration
	// Site and Sensor, when set, are filtered on the server. They must
	// be registry ids (letters, digits, '-', '_', '.').
	Site, Sensor string
	From, To     time.Time
}

// Readings runs the queries and yields each row as a reading.
func (q Influx) Readings(ctx context.Context, fn func(sensors.Reading) error) error {
	if q.From.IsZero() || q.To.IsZero() || !q.From.Before(q.To) {
		return fmt.Errorf("replay from InfluxDB: want --from before --to, got %s and %s", q.From, q.To)
	}
	for _, id := range []string{q.Site, q.Sensor} {
		if strings.ContainsAny(id, "\"\\$\n") {
			return fmt.Errorf("replay from InfluxDB: bad id %q", id)
		}
	}
	chunk := q.Chunk
	if chunk <= 0 {
		chunk = time.Hour
	}
	client := influxdb2.NewClientWithOptions(q.URL, q.Token, influxdb2.DefaultOptions().SetHTTPRequestTimeout(300))
	defer client.Close()
	qa := client.QueryAPI(q.Org)
	for start := q.From; start.Before(q.To); start = start.Add(chunk) {
		stop := start.Add(chunk)
		if stop.After(q.To) {
			stop = q.To
		}
		if err := q.chunk(ctx, qa, start, stop, fn); err != nil {
			return err
		}
	}
	return nil
}

// flux is the query of one chunk: the reading's fields side by side in
// one row per point, every series merged and sorted by time, then site
// and sensor, the order the CSV source sorts in.
func (q Influx) flux(start, stop time.Time) string {
	m := q.Measurement
	if m == "" {
		m = ingest.Measurement
	}
	var b strings.Builder
	fmt.Fprintf(&b, "from(bucket: %q)\n", q.Bucket)
	fmt.Fprintf(&b, "  |> range(start: %s, stop: %s)\n", start.UTC().Format(time.RFC3339Nano), stop.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(&b, "  |> filter(fn: (r) => r._measurement == %q and (r._field == \"value\" or r._field == \"quality\"))\n", m)
	if q.Site != "" {
		fmt.Fprintf(&b, "  |> filter(fn: (r) => r.site == %q)\n", q.Site)
	}
	if q.Sensor != "" {
		fmt.Fprintf(&b, "  |> filter(fn: (r) => r.sensor == %q)\n", q.Sensor)
	}
	b.WriteString(`  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> keep(columns: ["_time", "site", "sensor", "value", "quality"])
  |> group()
  |> sort(columns: ["_time", "site", "sensor"])
`)
	return b.String()
}

func (q Influx) chunk(ctx context.Context, qa api.QueryAPI, start, stop time.Time, fn func(sensors.Reading) error) error {
	res, err := qa.Query(ctx, q.flux(start, stop))
	if err != nil {
		return fmt.Errorf("replay query %s..%s: %w", start.Format(time.RFC3339), stop.Format(time.RFC3339), err)
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
		r.Site, _ = rec.ValueByKey("site").(string)
		r.Sensor, _ = rec.ValueByKey("sensor").(string)
		switch v := rec.ValueByKey("value").(type) {
		case float64:
			r.Value = v
		case int64:
			r.Value = float64(v)
		}
		if s, ok := rec.ValueByKey("quality").(string); ok {
			if qual, err := sensors.ParseQuality(s); err == nil {
				r.Quality = qual
			}
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("replay query %s..%s: %w", start.Format(time.RFC3339), stop.Format(time.RFC3339), err)
	}
	return nil
}
