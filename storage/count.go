package storage

import (
	"context"
	"fmt"
	"time"
)

// CountReadings counts the stored readings with device time in
// [start, stop).
func (c *Client) CountReadings(ctx context.Context, start, stop time.Time) (int64, error) {
	return c.CountPoints(ctx, MeasurementReading, FieldValue, start, stop)
}

// CountPoints counts the points of a measurement's field in [start, stop).
func (c *Client) CountPoints(ctx context.Context, measurement, field string, start, stop time.Time) (int64, error) {
	res, err := c.run(ctx, countFlux(c.opts.Bucket, measurement, field, start, stop))
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", measurement, err)
	}
	defer res.Close()
	var n int64
	for res.Next() {
		switch v := res.Record().Value().(type) {
		case int64:
			n += v
		case uint64:
			n += int64(v)
		case float64:
			n += int64(v)
		}
	}
	if err := res.Err(); err != nil {
		return 0, fmt.Errorf("count %s: %w", measurement, err)
	}
	return n, nil
}

func countFlux(bucket, measurement, field string, start, stop time.Time) string {
	return fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %s and r._field == %s)
  |> group()
  |> count()`, fluxString(bucket), fluxTime(start), fluxTime(stop), fluxString(measurement), fluxString(field))
}
