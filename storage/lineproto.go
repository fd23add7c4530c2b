package storage

import (
	"math"
	"strconv"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

// AppendReading encodes one reading as InfluxDB line protocol with
// millisecond precision. A reading that arrived on time, of good quality,
// is one tag set and one field:
//
//	reading,kind=K,sector=S,sensor=ID,site=SITE value=V MS
//
// Every field is a series of its own in InfluxDB's storage engine, so each
// field a point carries is paid again in the WAL, the cache and the TSM
// files; a string field costs most. The other fields are written only
// when they say something:
//
//   - quality="uncertain"|"bad" when the reading is not good (absent
//     means good);
//   - clock_skewed=true, historical=true for a gateway clock that is off
//     and for store-and-forward data;
//   - received=MSi, the ingest time in epoch milliseconds, on readings
//     that are skewed, historical or delayed: there device and ingest time
//     differ by more than the skew tolerance and both matter. On every
//     other reading the two lie within the tolerance of each other.
//
// Tags are in key order (what InfluxDB would sort them to anyway) and
// carry only registry identifiers, never values, so series cardinality is
// the number of sensors. Device time is the point's time, so a redelivered
// message overwrites its own points instead of adding new ones. It appends
// to b without allocating when b has room: it runs once per reading.
func AppendReading(b []byte, r *sensors.Reading) []byte {
	b = appendPoint(b, r)
	b = strconv.AppendInt(b, r.Time.UnixMilli(), 10)
	return append(b, '\n')
}

// ReadingEncoder is AppendReading for a stream of readings, most of which
// have the time of the one before: a gateway's batch mostly carries one
// time for all its readings. It keeps the last time's digits instead of
// formatting them again (a fifth of a line's cost). The zero value is
// ready; it is not safe for concurrent use.
type ReadingEncoder struct {
	ms     int64
	digits []byte
}

// AppendReading appends what the package's AppendReading would.
func (e *ReadingEncoder) AppendReading(b []byte, r *sensors.Reading) []byte {
	b = appendPoint(b, r)
	if ms := r.Time.UnixMilli(); ms != e.ms || len(e.digits) == 0 {
		e.ms, e.digits = ms, strconv.AppendInt(e.digits[:0], ms, 10)
	}
	b = append(b, e.digits...)
	return append(b, '\n')
}

// appendPoint appends a reading's line up to its time: the series, the
// fields and the space after them.
func appendPoint(b []byte, r *sensors.Reading) []byte {
	// A reading validated against the registry carries the registry's
	// own names, and those are copied without a look at each byte for
	// one to escape (an eighth of the warm encode-and-validate loop).
	// Equal strings from the registry share their bytes, so each
	// comparison is of two pointers.
	plain := false
	if ref := r.Ref; ref != nil && ref.PlainIDs() {
		plain = r.Kind == ref.Kind && r.Sensor == ref.ID && r.Site == ref.Site
	}
	b = append(b, MeasurementReading...)
	b = append(b, ","+TagKind+"="...)
	b = appendName(b, string(r.Kind), plain)
	b = append(b, ","+TagSector+"="...)
	b = appendTag(b, string(r.Sector))
	b = append(b, ","+TagSensor+"="...)
	b = appendName(b, r.Sensor, plain)
	b = append(b, ","+TagSite+"="...)
	b = appendName(b, r.Site, plain)
	b = append(b, " "+FieldValue+"="...)
	b = appendValue(b, r.Value)
	if r.Quality != sensors.QualityGood {
		b = append(b, ","+FieldQuality+"="...)
		b = appendFieldString(b, r.Quality.String())
	}
	if r.ClockSkewed {
		b = append(b, ","+FieldClockSkewed+"=true"...)
	}
	if r.Historical {
		b = append(b, ","+FieldHistorical+"=true"...)
	}
	if (r.ClockSkewed || r.Historical || r.Delayed) && !r.Received.IsZero() {
		b = append(b, ","+FieldReceived+"="...)
		b = strconv.AppendInt(b, r.Received.UnixMilli(), 10)
		b = append(b, 'i')
	}
	return append(b, ' ')
}

// AlertEvent is what an alert event stores, and what AlertEvents reads
// back. Tags are bounded sets (rules, sites, sensors, four levels, the
// event types); the id and message are fields.
type AlertEvent struct {
	Rule, Site, Sensor, Type, AlertID, Message string
	Level                                      uint8
	Value, Setpoint                            float64
	At                                         time.Time
	// Marks, written only when set: a dashboard can grey out planned
	// and shelved alerts and tell late ones apart.
	Late, Planned, Flapping bool
	Shelved                 string
}

// AppendAlertEvent encodes an alert event as line protocol at millisecond
// precision, like the readings.
func AppendAlertEvent(b []byte, a *AlertEvent) []byte {
	b = append(b, MeasurementAlert...)
	b = append(b, ","+TagLevel+"="...)
	b = strconv.AppendUint(b, uint64(a.Level), 10)
	b = append(b, ","+TagRule+"="...)
	b = appendTag(b, a.Rule)
	b = append(b, ","+TagSensor+"="...)
	b = appendTag(b, a.Sensor)
	b = append(b, ","+TagSite+"="...)
	b = appendTag(b, a.Site)
	b = append(b, ","+TagType+"="...)
	b = appendTag(b, a.Type)
	b = append(b, " "+FieldAlertID+"="...)
	b = appendFieldString(b, a.AlertID)
	b = append(b, ","+FieldMessage+"="...)
	b = appendFieldString(b, a.Message)
	b = append(b, ","+FieldSetpoint+"="...)
	b = strconv.AppendFloat(b, a.Setpoint, 'f', -1, 64)
	b = append(b, ","+FieldValue+"="...)
	b = strconv.AppendFloat(b, a.Value, 'f', -1, 64)
	for _, f := range [...]struct {
		on   bool
		name string
	}{{a.Late, "," + FieldLate + "=true"}, {a.Planned, "," + FieldPlanned + "=true"}, {a.Flapping, "," + FieldFlapping + "=true"}} {
		if f.on {
			b = append(b, f.name...)
		}
	}
	if a.Shelved != "" {
		b = append(b, ","+FieldShelved+"="...)
		b = appendFieldString(b, a.Shelved)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, a.At.UnixMilli(), 10)
	return append(b, '\n')
}

// The escaping of line protocol, in one place. Line protocol has no
// escape for a line break, so one is written as a space: a registry id
// never holds one, and a message must never split its line.

// appendTag escapes what line protocol reserves in a tag value: the
// comma, the equals sign and the space. It doubles a backslash too, as
// riskmon always has, so stored tags keep their form; InfluxDB reads the
// pair back as two. Registry ids hold neither.
func appendTag(b []byte, s string) []byte {
	// Nearly every tag value needs no escape: then it is one copy, not an
	// append per byte (a quarter of AppendReading's time).
	if !needsEscape(s) {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case !tagReserved[c]:
			b = append(b, c)
		case c == '\n' || c == '\r':
			// As an escaped space: a bare one would end the tags.
			b = append(b, '\\', ' ')
		default:
			b = append(b, '\\', c)
		}
	}
	return b
}

// needsEscape reports whether s holds a byte appendTag escapes. A table
// lookup per byte, not a switch (a chain of comparisons) nor
// strings.ContainsAny, which builds its byte set on every call: it runs
// over every tag value of every reading.
func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if tagReserved[s[i]] {
			return true
		}
	}
	return false
}

// appendName is appendTag for a registry name, copied as it is when
// plain says it is sensors.ValidID.
func appendName(b []byte, s string, plain bool) []byte {
	if plain {
		return append(b, s...)
	}
	return appendTag(b, s)
}

// tagReserved marks the bytes appendTag escapes, for needsEscape and
// appendTag alike; it is never written.
var tagReserved = [256]bool{',': true, '=': true, ' ': true, '\\': true, '\n': true, '\r': true}

// appendFieldString quotes a string field value, escaping the double
// quote and the backslash, which is all line protocol reserves there.
func appendFieldString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n', '\r':
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// pow10 holds the powers of ten that appendValue scales by, each exact
// in a float64.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// appendValue appends v as strconv.AppendFloat(b, v, 'f', -1, 64) does:
// the shortest decimal that reads back as v. Most readings are short
// decimals (12.5, 0.25, 1200), and for those it finds the digits with a
// few multiplications instead of the general algorithm, which was 3 % of
// the collector's CPU. The decimal m/10^k, with m an integer under 10^15
// and k the fewest places, reads back as v exactly when the division of
// the two, both exact in a float64 and so rounded once, gives v; and a
// decimal of 15 significant digits or fewer that reads back as v is the
// only one that does, so it is the shortest. Anything else (more places,
// larger values, zero's sign, NaN and infinities) goes to strconv.
func appendValue(b []byte, v float64) []byte {
	if v != 0 {
		for k, p := range pow10 {
			m := math.Round(v * p)
			if math.Abs(m) >= 1e15 {
				break
			}
			if m/p != v {
				continue
			}
			n := int64(m)
			if n < 0 {
				b = append(b, '-')
				n = -n
			}
			if k == 0 {
				return strconv.AppendInt(b, n, 10)
			}
			var digits [24]byte
			d := strconv.AppendInt(digits[:0], n, 10)
			if len(d) <= k {
				// 0.05: a zero, the point, and zeros up to the digits.
				b = append(b, '0', '.')
				for range k - len(d) {
					b = append(b, '0')
				}
				return append(b, d...)
			}
			b = append(b, d[:len(d)-k]...)
			b = append(b, '.')
			return append(b, d[len(d)-k:]...)
		}
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}
