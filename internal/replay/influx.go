package replay

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/storage"
)

// ReadingsReader reads stored readings in device-time order;
// *storage.Client reads them from InfluxDB one chunk at a time.
type ReadingsReader interface {
	Readings(ctx context.Context, q storage.ReadingsQuery, fn func(sensors.Reading) error) error
}

// Influx is the readings stored in InfluxDB, read through Store from
// From to To. The range is read one Chunk at a time (see
// storage.Client.Readings), so neither side holds more than a chunk.
type Influx struct {
	Store ReadingsReader
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
	return q.Store.Readings(ctx, storage.ReadingsQuery{From: q.From, To: q.To, Site: q.Site, Sensor: q.Sensor, Chunk: q.Chunk}, fn)
}
