package sparkplug

import (
	"fmt"
	"time"

	"github.com/riskmon/riskmon/sensors"
)

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

// Reading is one metric of a message before validation against the
// registry. It mirrors ingest.Item; ingest converts it.
type Reading struct {
	Sensor  string // the metric's name
	Value   float64
	Time    time.Time
	Quality sensors.Quality // always good: Sparkplug has no standard quality
	// Historical is the metric's is_historical flag: a value the node
	// buffered while it could not publish, not a current one.
	Historical bool
	// Reject is the reason this reading cannot be used, empty when it can;
	// Detail says why in words for the dead-letter entry.
	Reject string
	Detail string
}

// Error rejects a whole message.
type Error struct {
	Reason string
	Msg    string
	Err    error // underlying error, if any
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Reason, e.Msg, e.Err)
	}
	return e.Reason + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }
