// Package lineproto decodes the InfluxDB line protocol messages that
// gateways publish on riskmon/v1/{site}/{gateway}/lp (see docs/protocol.md,
// "Line protocol").
//
// Each line is one reading. A bad line is rejected on its own, with a
// reason, and decoding goes on with the next line, so one typo in a batch
// does not cost the readings around it.
package lineproto

import (
	"fmt"
	"github.com/riskmon/riskmon/protocol"
	"math"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/riskmon/riskmon/sensors"
)

// Reasons a whole message is rejected. They are the names ingest counts
// rejections under, so the caller can convert them to its own reason type.
const (
	ReasonMalformed  = "malformed_lp" // also the reason of a single unparsable line
	ReasonEmptyBatch = "empty_batch"
)

// Reasons a single line is rejected while the other lines flow.
const (
	ReasonMissingSensor = "missing_sensor"
	ReasonBadValue      = "bad_value"
	ReasonNoTimestamp   = "missing_timestamp"
	ReasonBadTimestamp  = "bad_timestamp"
	ReasonBadQuality    = "bad_quality"
	ReasonBadSchema     = "bad_schema"
)

// span locates one reading's sensor name in the names buffer of Decode.
type span struct{ start, end int }

// Decode appends one protocol.Reading per line of payload to dst and returns the
// extended slice. Blank lines and # comments are skipped.
//
// A returned *protocol.Error rejects the whole message, and dst comes back at its
// original length: the payload holds no line at all (ReasonEmptyBatch), or
// not one of its lines is line protocol (ReasonMalformed) — then it is
// most likely a JSON batch sent to the wrong topic, and one dead-letter
// entry says more than one per line.
//
// The Detail of a rejected reading names its place: a syntax error by
// line and column, any other problem by entry number, counting the lines
// that are neither blank nor comments. The Sensor strings of one call
// share a single allocation; they do not refer to payload.
func Decode(payload []byte, dst []protocol.Reading) ([]protocol.Reading, error) {
	base := len(dst)
	// The line-protocol Decoder has no Reset, so one is made per message;
	// it parses payload in place, without copying it.
	dec := lineprotocol.NewDecoderWithBytes(payload)

	// Sensor names are collected in one buffer and turned into one string
	// at the end, instead of one allocation per reading. The backing
	// arrays live on the stack unless a message is large.
	var nameBuf [512]byte
	var spanBuf [32]span
	names, spans := nameBuf[:0], spanBuf[:0]

	var firstSyntaxErr error
	entries, malformed := 0, 0
	for dec.Next() {
		entries++
		start := len(names)
		var r protocol.Reading
		var err error
		names, r, err = decodeLine(dec, names)
		spans = append(spans, span{start, len(names)})
		switch {
		case err != nil:
			// The decoder's error already names line and column.
			malformed++
			if firstSyntaxErr == nil {
				firstSyntaxErr = err
			}
			r.Reject, r.Detail = ReasonMalformed, err.Error()
		case r.Reject != "":
			r.Detail = fmt.Sprintf("line protocol entry %d: %s", entries, r.Detail)
		}
		dst = append(dst, r)
	}
	switch {
	case entries == 0:
		return dst[:base], &protocol.Error{Reason: ReasonEmptyBatch, Msg: "payload holds no line protocol entries"}
	case malformed == entries:
		return dst[:base], &protocol.Error{Reason: ReasonMalformed, Msg: "no entry of the payload is line protocol", Err: firstSyntaxErr}
	}
	if len(names) > 0 {
		all := string(names)
		for i, sp := range spans {
			dst[base+i].Sensor = all[sp.start:sp.end]
		}
	}
	return dst, nil
}

// decodeLine decodes the entry dec is positioned on. It appends the value
// of the sensor tag to names (at most once) and returns the reading
// without its Sensor. The first problem found decides the reject reason,
// except that a syntax error anywhere in the line wins and is returned as
// the error: then the line is not line protocol and its other complaints
// are moot. After a syntax error the decoder's Next skips the rest of the
// line, which is what lets decoding go on with the next one.
func decodeLine(dec *lineprotocol.Decoder, names []byte) ([]byte, protocol.Reading, error) {
	var r protocol.Reading
	if _, err := dec.Measurement(); err != nil {
		return names, r, err
	}
	names, haveSensor, err := decodeTags(dec, names)
	if err != nil {
		return names, r, err
	}
	haveValue := false
	for {
		key, val, err := dec.NextField()
		if err != nil {
			return names, r, err
		}
		if key == nil {
			break
		}
		// Only the first semantic problem is kept, but the line is read to
		// its end so that a later syntax error is still reported as one.
		switch string(key) {
		case "value":
			haveValue = true
			switch val.Kind() {
			case lineprotocol.Float:
				r.Value = val.FloatV()
			case lineprotocol.Int:
				r.Value = float64(val.IntV())
			case lineprotocol.Uint:
				r.Value = float64(val.UintV())
			default:
				r = rejectOnce(r, ReasonBadValue, "field \"value\" is a "+val.Kind().String()+", want a float, integer or unsigned integer")
			}
		case "quality":
			if val.Kind() != lineprotocol.String {
				r = rejectOnce(r, ReasonBadQuality, "field \"quality\" is a "+val.Kind().String()+", want a string")
				break
			}
			switch string(val.BytesV()) {
			case "good":
				r.Quality = sensors.QualityGood
			case "uncertain":
				r.Quality = sensors.QualityUncertain
			case "bad":
				r.Quality = sensors.QualityBad
			default:
				r = rejectOnce(r, ReasonBadQuality, fmt.Sprintf("quality %q is not good, uncertain or bad", val.BytesV()))
			}
		case "historical":
			if val.Kind() != lineprotocol.Bool {
				r = rejectOnce(r, ReasonBadSchema, "field \"historical\" is a "+val.Kind().String()+", want a boolean")
				break
			}
			r.Historical = val.BoolV()
		}
	}
	ts, err := dec.TimeBytes()
	if err != nil {
		return names, r, err
	}
	switch {
	case r.Reject != "":
		return names, r, nil
	case !haveSensor:
		return names, reject(r, ReasonMissingSensor, `no "sensor" tag`), nil
	case !haveValue:
		return names, reject(r, ReasonBadValue, `no "value" field`), nil
	case ts == nil:
		return names, reject(r, ReasonNoTimestamp, "no timestamp"), nil
	}
	ns, ok := parseNanos(ts)
	if !ok {
		return names, reject(r, ReasonBadTimestamp, fmt.Sprintf("timestamp %q is not a positive count of nanoseconds since 1970", ts)), nil
	}
	r.Time = time.Unix(0, ns)
	return names, r, nil
}

// decodeTags reads the line's tags, appending the sensor tag's value to
// names, and reports whether there was one.
func decodeTags(dec *lineprotocol.Decoder, names []byte) ([]byte, bool, error) {
	start := len(names)
	haveSensor := false
	for {
		key, val, err := dec.NextTag()
		if err != nil {
			return names, haveSensor, err
		}
		if key == nil {
			return names, haveSensor, nil
		}
		if string(key) == "sensor" {
			// The decoder's slices are only valid until its next call, so
			// copy now. A repeated tag overwrites the earlier one.
			names = append(names[:start], val...)
			haveSensor = true
		}
	}
}

func reject(r protocol.Reading, reason, detail string) protocol.Reading {
	r.Reject, r.Detail = reason, detail
	return r
}

func rejectOnce(r protocol.Reading, reason, detail string) protocol.Reading {
	if r.Reject != "" {
		return r
	}
	return reject(r, reason, detail)
}

// parseNanos parses a decimal count of nanoseconds. The decoder has
// already limited the bytes to digits and '-'; zero, negative and
// overflowing values are refused because no sensor reading is that old.
func parseNanos(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n int64
	for i, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		// Only a 19th digit can overflow int64.
		if i == 18 && n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, n > 0
}
