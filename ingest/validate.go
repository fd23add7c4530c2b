package ingest

import (
	"fmt"
	"math"
	"time"

	"github.com/riskmon/riskmon/protocol"
	"github.com/riskmon/riskmon/sensors"
)

// Limits bound what a reading may carry. The zero value means "use the
// defaults" for each field left at zero.
type Limits struct {
	// MaxFuture rejects readings stamped further ahead of the receive
	// time than this: a gateway clock that runs ahead would otherwise
	// hold an alert open in the future.
	MaxFuture time.Duration `yaml:"max_future"`
	// MaxPast rejects readings older than this: a gateway replaying a
	// very old buffer is a matter for a backfill, not the live path.
	MaxPast time.Duration `yaml:"max_past"`
	// KeepOutOfRange stores values outside the kind's physical range
	// instead of rejecting them (they are then marked quality bad).
	KeepOutOfRange bool `yaml:"keep_out_of_range"`
	// MaxReadingsPerMessage caps the readings in one message.
	MaxReadingsPerMessage int `yaml:"max_readings_per_message"`
	// MaxPayloadBytes caps a message's size.
	MaxPayloadBytes int `yaml:"max_payload_bytes"`
	// SkewTolerance is how far device time may differ from receive time
	// before a live reading counts as clock-skewed (it is still stored).
	SkewTolerance time.Duration `yaml:"skew_tolerance"`
	// SeqGrace is how long a gap in a gateway's JSON batch seq stays
	// open for the missing messages to arrive (a redelivery after a
	// reconnect comes after later messages) before they count as lost.
	SeqGrace time.Duration `yaml:"seq_grace"`
	// DeadLetterUnmonitored parks each Sparkplug metric riskmon does not
	// monitor (String, DateTime and other non-numeric types, and names no
	// registered sensor has) in the dead-letter store, as any rejection.
	// Off, they are only counted in riskmon_ingest_unmonitored_total: an
	// edge node publishing hundreds of such tags is normal, and parking
	// each would bury the dead letters that matter.
	DeadLetterUnmonitored bool `yaml:"dead_letter_unmonitored"`
}

// DefaultLimits are the limits riskmon runs with unless configured.
func DefaultLimits() Limits {
	return Limits{
		MaxFuture:             2 * time.Minute,
		MaxPast:               7 * 24 * time.Hour,
		MaxReadingsPerMessage: 10000,
		MaxPayloadBytes:       1 << 20,
		SkewTolerance:         30 * time.Second,
		SeqGrace:              DefaultSeqGrace,
	}
}

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxFuture == 0 {
		l.MaxFuture = d.MaxFuture
	}
	if l.MaxPast == 0 {
		l.MaxPast = d.MaxPast
	}
	if l.MaxReadingsPerMessage == 0 {
		l.MaxReadingsPerMessage = d.MaxReadingsPerMessage
	}
	if l.MaxPayloadBytes == 0 {
		l.MaxPayloadBytes = d.MaxPayloadBytes
	}
	if l.SeqGrace <= 0 {
		l.SeqGrace = d.SeqGrace
	}
	if l.SkewTolerance == 0 {
		l.SkewTolerance = d.SkewTolerance
	}
	return l
}

// validate turns a decoded item of a site into a reading, or says why not.
// The reading's strings are the registry's, so it keeps no reference to
// the message buffer. hint, when not nil, is the registry entry tried
// before the registry's map: it is used only if it is the item's sensor
// at site. ahead is it.Time.Sub(now), which the caller needs too: one
// subtraction of two times per reading instead of three.
func validate(reg *sensors.Registry, site *sensors.Site, hint *sensors.Sensor, it *Item, now time.Time, ahead time.Duration, lim *Limits) (sensors.Reading, *sensors.Sensor, Reason, string) {
	if it.Reject != "" {
		return sensors.Reading{}, nil, it.Reject, it.Detail
	}
	if len(it.Sensor) > protocol.MaxSensorID {
		return sensors.Reading{}, nil, ReasonSensorTooLong, fmt.Sprintf("sensor id of %d bytes; the limit is %d", len(it.Sensor), protocol.MaxSensorID)
	}
	s, ok := hint, hint != nil && hint.ID == it.Sensor && hint.Site == site.ID
	if !ok {
		s, ok = reg.Lookup(site.ID, it.Sensor)
	}
	if !ok {
		return sensors.Reading{}, nil, ReasonUnknownSensor, fmt.Sprintf("sensor %q is not registered at site %q", it.Sensor, site.ID)
	}
	if math.IsNaN(it.Value) || math.IsInf(it.Value, 0) {
		return sensors.Reading{}, nil, ReasonNotFinite, fmt.Sprintf("value %v is not a finite number", it.Value)
	}
	q := it.Quality
	if k := s.KindInfo(); !k.InRange(it.Value) {
		if !lim.KeepOutOfRange {
			return sensors.Reading{}, nil, ReasonOutOfRange, fmt.Sprintf("value %g %s is outside the physical range %.6g..%.6g of %s", it.Value, k.Unit, k.Min, k.Max, k.ID)
		}
		q = sensors.QualityBad
	}
	if ahead > lim.MaxFuture {
		return sensors.Reading{}, nil, ReasonFuture, fmt.Sprintf("timestamp %s is %s ahead of receive time (limits.max_future %s)", it.Time.UTC().Format(time.RFC3339Nano), ahead.Round(time.Millisecond), lim.MaxFuture)
	}
	// Not -ahead > MaxPast: Sub saturates at the most negative duration,
	// which has no positive counterpart.
	if ahead < -lim.MaxPast {
		d := now.Sub(it.Time)
		return sensors.Reading{}, nil, ReasonTooOld, fmt.Sprintf("timestamp %s is %s before receive time (limits.max_past %s)", it.Time.UTC().Format(time.RFC3339Nano), d.Round(time.Second), lim.MaxPast)
	}
	return sensors.Reading{
		Site:       s.Site,
		Sensor:     s.ID,
		Kind:       s.Kind,
		Sector:     site.Sector,
		Value:      it.Value,
		Time:       it.Time,
		Quality:    q,
		Historical: it.Historical,
		Ref:        s,
	}, s, "", ""
}
