// Package sensors holds riskmon's domain model: the reading that crosses
// every boundary, sites and sectors, sensor kinds with their units, ranges
// and default alarm setpoints, and the registry of a fleet's sensors.
package sensors

import (
	"fmt"
	"time"
)

// Quality is a gateway's own verdict on a reading, as OPC and most DCS
// exports carry it.
type Quality uint8

// Qualities, in the order a gateway is most likely to send them.
const (
	QualityGood Quality = iota
	QualityUncertain
	QualityBad
)

var qualityNames = [...]string{"good", "uncertain", "bad"}

func (q Quality) String() string {
	if int(q) < len(qualityNames) {
		return qualityNames[q]
	}
	return fmt.Sprintf("quality(%d)", q)
}

// ParseQuality maps the wire names good, uncertain and bad to a Quality.
func ParseQuality(s string) (Quality, error) {
	for i, n := range qualityNames {
		if s == n {
			return Quality(i), nil
		}
	}
	return QualityBad, fmt.Errorf("unknown quality %q (want good, uncertain or bad)", s)
}

// Reading is one measured value of one sensor at one device time. Decoders
// produce it; the writer and the alerting engine consume it. It is passed by
// value on the hot path, so it holds no pointers besides its strings, which
// validation replaces by the registry's own copies so a batch of readings
// does not keep its message payload alive, and Ref, which points into the
// registry too.
type Reading struct {
	Site    string
	Sensor  string
	Kind    KindID
	Sector  Sector
	Value   float64
	Time    time.Time // device time: what storage and rules use
	Quality Quality
	// Historical marks a value the gateway buffered during an outage and
	// sent late (store-and-forward): stored, but it pages nobody as if it
	// were happening now.
	Historical bool
	// Received is when riskmon took the reading in (zero when unknown).
	Received time.Time
	// ClockSkewed flags a live reading whose gateway's clock is off: its
	// device time is ahead of Received by more than the configured
	// tolerance, or behind it with the steady offset of a clock set wrong.
	ClockSkewed bool
	// Delayed flags a live reading received more than the tolerance after
	// its device time while its gateway's clock is not known to be wrong:
	// it waited in transit (a broker's backlog after an outage, say).
	Delayed bool
	// Ref is the registry entry validation matched (nil before), a handle
	// that spares consumers a lookup by site and sensor id; see
	// Sensor.Index for how to use it safely.
	Ref *Sensor
}

// Key names the reading's series: site and sensor.
func (r Reading) Key() string { return r.Site + "/" + r.Sensor }
