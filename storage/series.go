package storage

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// SeriesQuery asks for one sensor's readings with device time in
// [From, To), in buckets of Step.
type SeriesQuery struct {
	Site, Sensor string
	From, To     time.Time
	Step         time.Duration
}

// SeriesPoint is one bucket of a series: the minimum, maximum and mean of
// its readings, so a short spike shows as its maximum even when a long
// range is drawn. At is the bucket's start.
type SeriesPoint struct {
	At             time.Time
	Min, Max, Mean float64
}

// Series reads a sensor's readings in buckets, oldest first; a bucket
// without readings is left out.
func (c *Client) Series(ctx context.Context, q SeriesQuery) ([]SeriesPoint, error) {
	if q.Step <= 0 {
		return nil, fmt.Errorf("series %s/%s: step must be positive", q.Site, q.Sensor)
	}
	res, err := c.run(ctx, seriesFlux(c.opts.Bucket, q))
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

// seriesFlux is the query: one filtered stream, aggregated three ways into
// buckets stamped with their start. group() first merges the series of a
// sensor whose kind or sector tag changed in the registry.
func seriesFlux(bucket string, q SeriesQuery) string {
	every := fluxDuration(q.Step)
	return fmt.Sprintf(`data = from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %s and r._field == %s and r.%s == %s and r.%s == %s)
  |> group()
data |> aggregateWindow(every: %s, fn: min, timeSrc: "_start", createEmpty: false) |> yield(name: "min")
data |> aggregateWindow(every: %s, fn: max, timeSrc: "_start", createEmpty: false) |> yield(name: "max")
data |> aggregateWindow(every: %s, fn: mean, timeSrc: "_start", createEmpty: false) |> yield(name: "mean")
`, fluxString(bucket), fluxTime(q.From), fluxTime(q.To),
		fluxString(MeasurementReading), fluxString(FieldValue), TagSite, fluxString(q.Site), TagSensor, fluxString(q.Sensor),
		every, every, every)
}
