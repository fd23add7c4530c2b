package simulator

import (
	"context"
	"fmt"
	"strconv"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/riskmon/riskmon/ingest"
	"github.com/riskmon/riskmon/sensors"
)

// InfluxSource is where riskmon stores its alert events: an InfluxDB 2.x
// bucket, or a 1.8+ database through its v2 API (flux-enabled; token
// "user:password" or empty, org empty, bucket "database" or
// "database/retention-policy").
type InfluxSource struct {
	URL, Token, Org, Bucket string
}

// alertEventsFlux selects the alert events from since on, one row per
// event: pivot turns the fields of a point into columns beside its tags.
// It uses nothing newer than the Flux of InfluxDB 1.8.
func alertEventsFlux(bucket string, since time.Time) string {
	return fmt.Sprintf(`from(bucket: %q)
  |> range(start: %s)
  |> filter(fn: (r) => r._measurement == %q)
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`,
		bucket, since.UTC().Format(time.RFC3339Nano), ingest.AlertMeasurement)
}

// ReadAlertEventsInflux reads the alert events riskmon stored in
// InfluxDB (measurement alert_event, docs/architecture.md) from since on.
func ReadAlertEventsInflux(ctx context.Context, src InfluxSource, since time.Time) ([]AlertEvent, error) {
	if src.URL == "" || src.Bucket == "" {
		return nil, fmt.Errorf("alert events from InfluxDB: URL and bucket are required")
	}
	c := influxdb2.NewClientWithOptions(src.URL, src.Token, influxdb2.DefaultOptions().SetHTTPRequestTimeout(30))
	defer c.Close()
	res, err := c.QueryAPI(src.Org).Query(ctx, alertEventsFlux(src.Bucket, since))
	if err != nil {
		return nil, fmt.Errorf("alert events from %s bucket %s: %w", src.URL, src.Bucket, err)
	}
	defer res.Close()
	var evs []AlertEvent
	for res.Next() {
		r := res.Record()
		str := func(k string) string { s, _ := r.ValueByKey(k).(string); return s }
		ev := AlertEvent{
			AlertID: str("alert_id"), Rule: str("rule"), Site: str("site"), Sensor: str("sensor"),
			Type: str("type"), Message: str("message"), At: r.Time(),
		}
		if l := str("level"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil {
				return nil, fmt.Errorf("alert event at %s: level tag %q: %w", ev.At, l, err)
			}
			ev.Level = sensors.Level(n)
		}
		evs = append(evs, ev)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("alert events from %s bucket %s: %w", src.URL, src.Bucket, err)
	}
	return evs, nil
}
