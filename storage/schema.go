package storage

// The schema: measurement names, tag keys and field keys, as
// docs/architecture.md ("Storage") describes them. Changing one of them
// changes what is on disk, so existing data and dashboards would no
// longer match.
const (
	// MeasurementReading holds the sensor readings.
	MeasurementReading = "reading"
	// MeasurementAlert holds the alert events, beside the readings, so a
	// dashboard can draw them on the same chart.
	MeasurementAlert = "alert_event"
)

// Tag keys. Tags carry only bounded sets (registry ids, rules, levels,
// event types), never values, so series cardinality stays the number of
// sensors times the alert kinds.
const (
	TagKind   = "kind"
	TagSector = "sector"
	TagSensor = "sensor"
	TagSite   = "site"
	TagLevel  = "level"
	TagRule   = "rule"
	TagType   = "type"
)

// Field keys of a reading.
const (
	FieldValue       = "value"
	FieldQuality     = "quality"
	FieldClockSkewed = "clock_skewed"
	FieldHistorical  = "historical"
	FieldReceived    = "received"
)

// Field keys of an alert event besides FieldValue.
const (
	FieldAlertID  = "alert_id"
	FieldMessage  = "message"
	FieldSetpoint = "setpoint"
	FieldLate     = "late"
	FieldPlanned  = "planned"
	FieldFlapping = "flapping"
	FieldShelved  = "shelved"
)
