package console

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
)

// InfluxOptions name where readings are stored: an InfluxDB 2.x bucket,
// or a 1.8+ database through its v2 API with flux-enabled (token
// "user:password" or empty, org empty, bucket "database" or
// "database/retention-policy"), as ingest writes them.
type InfluxOptions struct {
	URL, Token, Org, Bucket string
	// Measurement is where readings are, default "reading"; the value is
	// the field "value", the subject the tags site and sensor.
	Measurement string
}

// InfluxSeries reads sensor series from InfluxDB with Flux. It uses only
// what the Flux of InfluxDB 1.8 has (from, range, filter, aggregateWindow,
// yield), so the same query serves 1.8 and 2.x.
type InfluxSeries struct {
	opts   InfluxOptions
	client influxdb2.Client
	query  api.QueryAPI
}

// NewInfluxSeries creates the reader; it does not contact the server.
func NewInfluxSeries(o InfluxOptions) *InfluxSeries {
	if o.Measurement == "" {
		o.Measurement = "reading"
	}
	c := influxdb2.NewClientWithOptions(o.URL, o.Token, influxdb2.DefaultOptions().SetHTTPRequestTimeout(uint(seriesTimeout/time.Second)))
	return &InfluxSeries{opts: o, client: c, query: c.QueryAPI(o.Org)}
}

// Close releases the client's connections.
func (s *InfluxSeries) Close() { s.client.Close() }

// fluxString quotes s as a Flux string literal. Besides the quote and the
// backslash, Flux interpolates "${", so the dollar is escaped too.
func fluxString(s string) string {
	return `"` + fluxEscaper.Replace(s) + `"`
}

var fluxEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, "\n", `\n`, "\r", `\r`, "\t", `\t`)

// fluxDuration writes d as a Flux duration literal (whole seconds are
// what seriesSteps holds).
func fluxDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}

// seriesFlux is the query: one filtered stream, aggregated three ways into
// buckets stamped with their start. group() first merges the series of a
// sensor whose kind or sector tag changed in the registry.
func (s *InfluxSeries) seriesFlux(q SeriesQuery) string {
	every := fluxDuration(q.Step)
	return fmt.Sprintf(`data = from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %s and r._field == "value" and r.site == %s and r.sensor == %s)
  |> group()
data |> aggregateWindow(every: %s, fn: min, timeSrc: "_start", createEmpty: false) |> yield(name: "min")
data |> aggregateWindow(every: %s, fn: max, timeSrc: "_start", createEmpty: false) |> yield(name: "max")
data |> aggregateWindow(every: %s, fn: mean, timeSrc: "_start", createEmpty: false) |> yield(name: "mean")
`, fluxString(s.opts.Bucket), q.From.UTC().Format(time.RFC3339Nano), q.To.UTC().Format(time.RFC3339Nano),
		fluxString(s.opts.Measurement), fluxString(q.Site), fluxString(q.Sensor), every, every, every)
}

// Series implements SeriesSource.
func (s *InfluxSeries) Series(ctx context.Context, q SeriesQuery) ([]SeriesPoint, error) {
	if q.Step <= 0 {
		return nil, fmt.Errorf("series %s/%s: step must be positive", q.Site, q.Sensor)
	}
	res, err := s.query.Query(ctx, s.seriesFlux(q))
	if err != nil {
		return nil, fmt.Errorf("series %s/%s: %w", q.Site, q.Sensor, err)
	}
	defer res.Close()
	byTime := map[int64]*SeriesPoint{}
	for res.Next() {
		rec := res.Record()
		v, ok := toFloat(rec.Value())
		if !ok {
			continue // mean of an empty bucket; createEmpty:false keeps these out
		}
		at := rec.Time()
		p := byTime[at.UnixNano()]
		if p == nil {
			p = &SeriesPoint{At: at.UTC()}
			byTime[at.UnixNano()] = p
		}
		switch rec.Result() {
		case "min":
			p.Min = v
		case "max":
			p.Max = v
		case "mean":
			p.Mean = v
		}
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("series %s/%s: %w", q.Site, q.Sensor, err)
	}
	out := make([]SeriesPoint, 0, len(byTime))
	for _, p := range byTime {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b SeriesPoint) int { return a.At.Compare(b.At) })
	return out, nil
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}
