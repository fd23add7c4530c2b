package ingest

import (
	"context"
	"fmt"
	"net/http"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
)

// InfluxOptions name an InfluxDB 2.x bucket, or a 1.8+ database through
// its v2 compatibility API (token "user:password" or empty, org empty,
// bucket "database" or "database/retention-policy").
type InfluxOptions struct {
	URL    string
	Token  string
	Org    string
	Bucket string
}

// Influx is riskmon's use of influxdb-client-go: blocking writes of line
// protocol (riskmon owns batching and retries; the client's async API
// drops data after its retry window) and Flux queries, both served by
// InfluxDB 2.x and by 1.8 with flux-enabled.
type Influx struct {
	opts   InfluxOptions
	client influxdb2.Client
	write  api.WriteAPIBlocking
	query  api.QueryAPI
}

// NewInflux creates a client; it does not contact the server.
func NewInflux(o InfluxOptions) *Influx {
	opts := influxdb2.DefaultOptions().
		SetPrecision(time.Millisecond).
		SetHTTPRequestTimeout(30).
		// The client's own retries apply only to its async API; keep
		// them off so a failure always comes back to our writer.
		SetMaxRetries(0)
	c := influxdb2.NewClientWithOptions(o.URL, o.Token, opts)
	return &Influx{opts: o, client: c, write: c.WriteAPIBlocking(o.Org, o.Bucket), query: c.QueryAPI(o.Org)}
}

// WriteLines sends line protocol in one request.
func (i *Influx) WriteLines(ctx context.Context, lines string) error {
	return i.write.WriteRecord(ctx, lines)
}

// Ping reports whether the server answers its health endpoint.
func (i *Influx) Ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, i.opts.URL+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("influxdb health: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("influxdb health: %s", resp.Status)
	}
	return nil
}

// CountReadings counts the stored readings with device time in
// [start, stop) using a Flux query.
func (i *Influx) CountReadings(ctx context.Context, start, stop time.Time) (int64, error) {
	return i.CountPoints(ctx, Measurement, "value", start, stop)
}

// CountPoints counts the points of a measurement's field in [start, stop).
func (i *Influx) CountPoints(ctx context.Context, measurement, field string, start, stop time.Time) (int64, error) {
	q := fmt.Sprintf(`from(bucket: %q)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and r._field == %q)
  |> group()
  |> count()`, i.opts.Bucket, start.UTC().Format(time.RFC3339Nano), stop.UTC().Format(time.RFC3339Nano), measurement, field)
	res, err := i.query.Query(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("count readings: %w", err)
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
		return 0, fmt.Errorf("count readings: %w", err)
	}
	return n, nil
}

// Close releases the client's connections.
func (i *Influx) Close() { i.client.Close() }
