package ingest

import (
	"strconv"
	"time"
)

// AlertMeasurement is the InfluxDB measurement alert events are stored in,
// beside the readings, so a dashboard can draw them on the same chart.
const AlertMeasurement = "alert_event"

// AlertLine is what an alert event stores. Tags are bounded sets (rules,
// sites, sensors, four levels, four types); the id and message are fields.
type AlertLine struct {
	Rule, Site, Sensor, Type, AlertID, Message string
	Level                                      uint8
	Value, Setpoint                            float64
	At                                         time.Time
	// Marks, written only when set: a dashboard can grey out planned
	// and shelved alerts and tell late ones apart.
	Late, Planned, Flapping bool
	Shelved                 string
}

// AppendAlertLine encodes an alert event as line protocol at millisecond
// precision, like the readings.
func AppendAlertLine(b []byte, a *AlertLine) []byte {
	b = append(b, AlertMeasurement...)
	b = append(b, ",level="...)
	b = strconv.AppendUint(b, uint64(a.Level), 10)
	b = append(b, ",rule="...)
	b = appendTag(b, a.Rule)
	b = append(b, ",sensor="...)
	b = appendTag(b, a.Sensor)
	b = append(b, ",site="...)
	b = appendTag(b, a.Site)
	b = append(b, ",type="...)
	b = appendTag(b, a.Type)
	b = append(b, " alert_id="...)
	b = appendFieldString(b, a.AlertID)
	b = append(b, ",message="...)
	b = appendFieldString(b, a.Message)
	b = append(b, ",setpoint="...)
	b = strconv.AppendFloat(b, a.Setpoint, 'f', -1, 64)
	b = append(b, ",value="...)
	b = strconv.AppendFloat(b, a.Value, 'f', -1, 64)
	for _, f := range [...]struct {
		on   bool
		name string
	}{{a.Late, ",late=true"}, {a.Planned, ",planned=true"}, {a.Flapping, ",flapping=true"}} {
		if f.on {
			b = append(b, f.name...)
		}
	}
	if a.Shelved != "" {
		b = append(b, ",shelved="...)
		b = appendFieldString(b, a.Shelved)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, a.At.UnixMilli(), 10)
	return append(b, '\n')
}

// appendFieldString quotes a string field value, escaping what line
// protocol reserves there.
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
