package ingest

import (
	"strconv"

	"github.com/riskmon/riskmon/sensors"
)

// Measurement is the InfluxDB measurement readings are stored in.
const Measurement = "reading"

// appendLine encodes one reading as InfluxDB line protocol with
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
// message overwrites its own points instead of adding new ones.
func appendLine(b []byte, r *sensors.Reading) []byte {
	b = append(b, Measurement...)
	b = append(b, ",kind="...)
	b = appendTag(b, string(r.Kind))
	b = append(b, ",sector="...)
	b = appendTag(b, string(r.Sector))
	b = append(b, ",sensor="...)
	b = appendTag(b, r.Sensor)
	b = append(b, ",site="...)
	b = appendTag(b, r.Site)
	b = append(b, " value="...)
	b = strconv.AppendFloat(b, r.Value, 'f', -1, 64)
	if r.Quality != sensors.QualityGood {
		b = append(b, `,quality="`...)
		b = append(b, r.Quality.String()...)
		b = append(b, '"')
	}
	if r.ClockSkewed {
		b = append(b, ",clock_skewed=true"...)
	}
	if r.Historical {
		b = append(b, ",historical=true"...)
	}
	if (r.ClockSkewed || r.Historical || r.Delayed) && !r.Received.IsZero() {
		b = append(b, ",received="...)
		b = strconv.AppendInt(b, r.Received.UnixMilli(), 10)
		b = append(b, 'i')
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.Time.UnixMilli(), 10)
	return append(b, '\n')
}

// appendTag escapes what line protocol reserves in tag values.
func appendTag(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ',', '=', ' ', '\\':
			b = append(b, '\\', c)
		case '\n', '\r':
			// Newlines cannot be escaped in line protocol; a registry id
			// never holds one, but never let one split a line.
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return b
}
