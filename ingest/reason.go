package ingest

// Reason says why a message or a reading was rejected. Every rejection is
// counted under its reason and parked in the dead-letter store.
type Reason string

// Reasons a whole message is rejected.
const (
	ReasonBadTopic     Reason = "bad_topic"
	ReasonTooLarge     Reason = "payload_too_large"
	ReasonMalformed    Reason = "malformed_json"
	ReasonBadSchema    Reason = "bad_schema"
	ReasonEmptyBatch   Reason = "empty_batch"
	ReasonTooMany      Reason = "too_many_readings"
	ReasonUnknownSite  Reason = "unknown_site"
	ReasonDBRejected   Reason = "db_rejected"
	ReasonQueueTimeout Reason = "queue_overflow"
	ReasonMalformedLP  Reason = "malformed_lp"
	ReasonMalformedSpB Reason = "malformed_sparkplug"
	ReasonBadStatus    Reason = "bad_status"
)

// Reasons a single reading is rejected while the rest of its batch flows.
const (
	ReasonMissingSensor Reason = "missing_sensor"
	ReasonUnknownSensor Reason = "unknown_sensor"
	ReasonBadValue      Reason = "bad_value"
	ReasonNotFinite     Reason = "not_finite"
	ReasonOutOfRange    Reason = "out_of_range"
	ReasonBadTimestamp  Reason = "bad_timestamp"
	ReasonNoTimestamp   Reason = "missing_timestamp"
	ReasonFuture        Reason = "future_timestamp"
	ReasonTooOld        Reason = "stale_timestamp"
	ReasonBadQuality    Reason = "bad_quality"
	ReasonSensorTooLong Reason = "sensor_id_too_long"
	ReasonUnknownAlias  Reason = "unknown_alias"
	ReasonNullValue     Reason = "null_value"
	ReasonUnsupported   Reason = "unsupported_type"
	// ReasonAddressCollision: a Sparkplug metric resolves to a sensor
	// that another device publishes too, or that the registry places at
	// another Sparkplug address; stored, two instruments would fold into
	// one series.
	ReasonAddressCollision Reason = "address_collision"
)

// AllReasons lists every reason so metrics can be pre-created at zero:
// a dashboard should show a flat zero line, not a missing series.
func AllReasons() []Reason {
	return []Reason{
		ReasonBadTopic, ReasonTooLarge, ReasonMalformed, ReasonBadSchema, ReasonEmptyBatch,
		ReasonTooMany, ReasonUnknownSite, ReasonDBRejected, ReasonQueueTimeout,
		ReasonMalformedLP, ReasonMalformedSpB, ReasonBadStatus,
		ReasonMissingSensor, ReasonUnknownSensor, ReasonBadValue, ReasonNotFinite,
		ReasonOutOfRange, ReasonBadTimestamp, ReasonNoTimestamp, ReasonFuture, ReasonTooOld,
		ReasonBadQuality, ReasonSensorTooLong, ReasonUnknownAlias, ReasonNullValue, ReasonUnsupported,
		ReasonAddressCollision,
	}
}
