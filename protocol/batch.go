package protocol

// Field names of the JSON batch, published on a readings topic:
//
//	{"ts": 1764345600000, "seq": 1042, "historical": false,
//	 "readings": [{"sensor": "GT-101", "value": 12.5, "ts": ..., "quality": "good"}]}
//
// The decoder reads these and an encoder writes them, so that the two
// cannot drift apart. Unknown fields are ignored, so gateways can carry
// their own extras.
const (
	// FieldTS is the device time of the batch, or of one reading where it
	// overrides the batch's: integer epoch milliseconds or an RFC 3339
	// string.
	FieldTS = "ts"
	// FieldSeq is the gateway's message counter, an unsigned integer that
	// increases by one per message; optional.
	FieldSeq = "seq"
	// FieldHistorical is true when the gateway sends readings it buffered
	// during an outage (store-and-forward); optional.
	FieldHistorical = "historical"
	// FieldReadings is the array of readings, at least one.
	FieldReadings = "readings"
	// FieldSensor is a reading's sensor id, a non-empty string.
	FieldSensor = "sensor"
	// FieldValue is a reading's value, a number in its kind's unit.
	FieldValue = "value"
	// FieldQuality is a reading's quality: good, uncertain or bad;
	// optional, good when absent.
	FieldQuality = "quality"
)

// MaxSensorID is the longest sensor id, in bytes, a gateway may send.
const MaxSensorID = 128
