package ingest

import (
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// Item is one decoded reading before validation, whatever the format:
// every decoder gives a protocol.Reading, and itemOf turns it into this,
// which carries ingest's own Reason so rejections are counted by it.
type Item struct {
	Sensor  string
	Value   float64
	Time    time.Time
	Quality sensors.Quality
	// Historical marks a value a gateway buffered during an outage and
	// sends late (store-and-forward).
	Historical bool
	// Reject is set when this reading cannot be used; Detail says why in
	// words for the dead-letter entry.
	Reject Reason
	Detail string
}
