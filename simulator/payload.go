package simulator

import (
	"strconv"

	"github.com/riskmon/riskmon/protocol"
)

// The pieces of a JSON batch, built from the field names the decoder
// reads, so what the simulator sends is what riskmon expects.
const (
	batchTS       = `{"` + protocol.FieldTS + `":`
	batchSeq      = `,"` + protocol.FieldSeq + `":`
	batchReadings = `"` + protocol.FieldReadings + `":[`
	readingSensor = `{"` + protocol.FieldSensor + `":`
	readingValue  = `,"` + protocol.FieldValue + `":`
)

// Point is one reading as the simulator puts it on the wire.
type Point struct {
	Sensor string
	Value  float64
	// Decimals is how many digits follow the point; -1 prints the
	// shortest representation.
	Decimals int
}

// AppendBatch appends the JSON batch of docs/protocol.md to dst:
// {"ts":<epoch ms>,"seq":<seq>,"readings":[{"sensor":..,"value":..},..]}.
// It allocates only when dst must grow, so a caller that reuses its
// buffer encodes without garbage.
func AppendBatch(dst []byte, tsMillis int64, seq uint64, points []Point) []byte {
	dst = append(dst, batchTS...)
	dst = strconv.AppendInt(dst, tsMillis, 10)
	dst = append(dst, batchSeq...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, ',')
	return appendReadings(dst, points)
}

// appendReadings appends `"readings":[...]}`, the tail every batch shares.
func appendReadings(dst []byte, points []Point) []byte {
	dst = append(dst, batchReadings...)
	for i, p := range points {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, readingSensor...)
		dst = appendString(dst, p.Sensor)
		dst = append(dst, readingValue...)
		dst = strconv.AppendFloat(dst, p.Value, 'f', p.Decimals, 64)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Sensor ids are plain ASCII in
// practice; the escapes keep a registry typo from producing invalid JSON.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// MalformedKind names one way a gateway message can be broken.
type MalformedKind int

// The malformed messages the publisher injects, in the order it cycles
// through them. None carries a seq: a decoder cannot trust one from a
// broken message, so leaving it out keeps the per-gateway seq of the good
// messages gap-free.
const (
	MalformedInvalidJSON     MalformedKind = iota // syntax error: missing comma and closing brackets
	MalformedTruncated                            // a good batch cut in half, as by a broken link
	MalformedWrongType                            // "value":"abc"
	MalformedMissingReadings                      // "reading" instead of "readings"
	MalformedEmptyBatch                           // "readings":[]
	malformedKinds
)

func (k MalformedKind) String() string {
	switch k {
	case MalformedInvalidJSON:
		return "invalid_json"
	case MalformedTruncated:
		return "truncated"
	case MalformedWrongType:
		return "wrong_type"
	case MalformedMissingReadings:
		return "missing_readings"
	case MalformedEmptyBatch:
		return "empty_batch"
	}
	return "malformed(" + strconv.Itoa(int(k)) + ")"
}

// AppendMalformed appends a malformed message of kind k to dst. sensor is
// a real sensor id of the gateway so only the shape is wrong.
func AppendMalformed(dst []byte, k MalformedKind, tsMillis int64, sensor string) []byte {
	head := func(dst []byte) []byte {
		dst = append(dst, batchTS...)
		dst = strconv.AppendInt(dst, tsMillis, 10)
		return append(dst, ',')
	}
	switch k {
	case MalformedInvalidJSON:
		dst = head(dst)
		dst = append(dst, batchReadings+readingSensor...)
		dst = appendString(dst, sensor)
		return append(dst, ` "`+protocol.FieldValue+`":1.5}`...)
	case MalformedTruncated:
		start := len(dst)
		dst = head(dst)
		dst = appendReadings(dst, []Point{{Sensor: sensor, Value: 1.5, Decimals: 1}, {Sensor: sensor, Value: 1.6, Decimals: 1}})
		// Any proper prefix of a JSON object leaves it unclosed.
		return dst[:start+(len(dst)-start)/2]
	case MalformedWrongType:
		dst = head(dst)
		dst = append(dst, batchReadings+readingSensor...)
		dst = appendString(dst, sensor)
		return append(dst, readingValue+`"abc"}]}`...)
	case MalformedMissingReadings:
		dst = head(dst)
		// A near miss of the readings field, as a typo in a gateway's
		// code would make it.
		dst = append(dst, `"reading":[`+readingSensor...)
		dst = appendString(dst, sensor)
		return append(dst, readingValue+`1.5}]}`...)
	default:
		dst = head(dst)
		return append(dst, batchReadings+`]}`...)
	}
}
