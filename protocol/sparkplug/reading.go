package sparkplug

// Reasons a whole message is rejected. Where ingest already has a reason
// for the same thing the name is the same, so the caller can convert them
// to its own reason type.
const (
	ReasonBadTopic  = "bad_topic"
	ReasonMalformed = "malformed_sparkplug"
	ReasonBadSchema = "bad_schema"
)

// Reasons a single metric is rejected while the rest of its message flows.
const (
	ReasonUnknownAlias    = "unknown_alias"
	ReasonNullValue       = "null_value"
	ReasonUnsupportedType = "unsupported_type"
	ReasonMissingSensor   = "missing_sensor"
	ReasonBadValue        = "bad_value"
	ReasonNotFinite       = "not_finite"
	ReasonNoTimestamp     = "missing_timestamp"
	ReasonBadTimestamp    = "bad_timestamp"
)
