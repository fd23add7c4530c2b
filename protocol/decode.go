package protocol

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/riskmon/riskmon/sensors"
	"github.com/valyala/fastjson"
)

// Reasons a whole batch is rejected. They are the names ingest counts
// rejections under, so the caller can convert them to its own reason type.
const (
	ReasonMalformed  = "malformed_json"
	ReasonBadSchema  = "bad_schema" // also the reason of a reading that is not an object
	ReasonEmptyBatch = "empty_batch"
	ReasonTooMany    = "too_many_readings"
)

// Reasons a single reading is rejected while the rest of its batch flows.
const (
	ReasonMissingSensor = "missing_sensor"
	ReasonBadValue      = "bad_value"
	ReasonBadTimestamp  = "bad_timestamp"
	ReasonNoTimestamp   = "missing_timestamp"
	ReasonBadQuality    = "bad_quality"
)

// Reading is one decoded reading before validation against the registry,
// the one reading type of every wire format: the JSON batch decoder,
// protocol/lineproto and protocol/sparkplug all give it.
type Reading struct {
	Sensor  string
	Value   float64
	Time    time.Time
	Quality sensors.Quality
	// Historical marks a value a gateway buffered during an outage and
	// sends late (store-and-forward).
	Historical bool
	// Reject is the reason this reading cannot be used, empty when it can;
	// Detail says why in words for the dead-letter entry.
	Reject string
	Detail string
}

// Batch is a decoded JSON batch message.
type Batch struct {
	Seq      uint64
	HasSeq   bool
	Readings []Reading
}

// Error rejects a whole message, whichever of the wire formats it came
// in: the JSON batch decoder, line protocol and Sparkplug B all return
// it, so a consumer reads the reason one way.
type Error struct {
	Reason string
	Msg    string // what is wrong, in words; may be empty when Err says it
	Err    error  // underlying error, if any
}

func (e *Error) Error() string {
	switch {
	case e.Msg == "":
		return fmt.Sprintf("%s: %v", e.Reason, e.Err)
	case e.Err != nil:
		return fmt.Sprintf("%s: %s: %v", e.Reason, e.Msg, e.Err)
	}
	return e.Reason + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Decoder decodes the JSON batch format of docs/protocol.md. It reuses its
// buffers between calls and is not safe for concurrent use: each ingest
// worker owns one.
type Decoder struct {
	p        fastjson.Parser
	batch    Batch
	maxItems int
}

// NewDecoder returns a decoder that rejects batches of more than maxItems
// readings (0 means no limit).
func NewDecoder(maxItems int) *Decoder {
	return &Decoder{maxItems: maxItems}
}

// borrow makes a string of b, which the parser owns, without copying it.
// An ingest worker only compares a sensor id with the registry's and then
// carries the registry's string on; copying every id, or looking each up
// in a table of copies as this decoder once did, cost a cache miss per
// reading on a large fleet. The parser reuses b at the next Decode, which
// is why a Batch, its ids included, is valid only until then.
func borrow(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// Decode parses payload. A returned error rejects the whole message;
// otherwise each Reading says on its own whether it is usable. The result,
// sensor ids included, is valid until the next call and while payload is
// unchanged: strings.Clone an id to keep it longer.
func (d *Decoder) Decode(payload []byte) (*Batch, error) {
	if d.decodeFast(payload) {
		return &d.batch, nil
	}
	return d.decodeFull(payload)
}

// decodeFull is Decode with fastjson, for every payload: what decodeFast
// takes, it takes alike.
func (d *Decoder) decodeFull(payload []byte) (*Batch, error) {
	v, err := d.p.ParseBytes(payload)
	if err != nil {
		return nil, &Error{Reason: ReasonMalformed, Err: err}
	}
	o, err := v.Object()
	if err != nil {
		return nil, &Error{Reason: ReasonBadSchema, Err: fmt.Errorf("payload is a JSON %s, want an object", v.Type())}
	}
	b := &d.batch
	b.Readings = b.Readings[:0]
	b.Seq, b.HasSeq = 0, false

	f := fields(o, batchField)
	sv, hv, tv, rv := f[0], f[1], f[2], f[3]
	if sv != nil {
		seq, err := sv.Uint64()
		if err != nil {
			return nil, &Error{Reason: ReasonBadSchema, Err: fmt.Errorf("seq: %w", err)}
		}
		b.Seq, b.HasSeq = seq, true
	}
	historical := false
	if hv != nil {
		h, err := hv.Bool()
		if err != nil {
			return nil, &Error{Reason: ReasonBadSchema, Err: fmt.Errorf("historical: %w", err)}
		}
		historical = h
	}
	var batchTime time.Time
	var batchTimeErr error
	if tv != nil {
		batchTime, batchTimeErr = parseTime(tv)
		if batchTimeErr != nil {
			return nil, &Error{Reason: ReasonBadSchema, Err: fmt.Errorf("ts: %w", batchTimeErr)}
		}
	}
	if rv == nil {
		return nil, &Error{Reason: ReasonBadSchema, Err: errors.New(`no "readings" array`)}
	}
	arr, err := rv.Array()
	if err != nil {
		return nil, &Error{Reason: ReasonBadSchema, Err: fmt.Errorf("readings: %w", err)}
	}
	if len(arr) == 0 {
		return nil, &Error{Reason: ReasonEmptyBatch, Err: errors.New("readings array is empty")}
	}
	if d.maxItems > 0 && len(arr) > d.maxItems {
		return nil, &Error{Reason: ReasonTooMany, Err: fmt.Errorf("%d readings in one message, limit is %d (configuration key limits.max_readings_per_message)", len(arr), d.maxItems)}
	}
	for _, r := range arr {
		it := d.decodeReading(r, batchTime)
		it.Historical = historical
		b.Readings = append(b.Readings, it)
	}
	return b, nil
}

func (d *Decoder) decodeReading(r *fastjson.Value, batchTime time.Time) Reading {
	it := Reading{Time: batchTime}
	o, err := r.Object()
	if err != nil {
		return reject(it, ReasonBadSchema, "reading is not an object")
	}
	f := fields(o, readingField)
	sv, vv, tv, qv := f[0], f[1], f[2], f[3]
	if sv == nil {
		return reject(it, ReasonMissingSensor, `reading has no "sensor"`)
	}
	s, err := sv.StringBytes()
	if err != nil || len(s) == 0 {
		return reject(it, ReasonMissingSensor, `"sensor" is not a non-empty string`)
	}
	it.Sensor = borrow(s)
	if vv == nil {
		return reject(it, ReasonBadValue, `reading has no "value"`)
	}
	if it.Value, err = vv.Float64(); err != nil {
		return reject(it, ReasonBadValue, fmt.Sprintf(`"value" is a %s, want a number`, vv.Type()))
	}
	if tv != nil {
		if it.Time, err = parseTime(tv); err != nil {
			return reject(it, ReasonBadTimestamp, err.Error())
		}
	}
	if it.Time.IsZero() {
		return reject(it, ReasonNoTimestamp, `neither the batch nor the reading has "ts"`)
	}
	if qv != nil {
		qs, err := qv.StringBytes()
		if err != nil {
			return reject(it, ReasonBadQuality, `"quality" is not a string`)
		}
		switch string(qs) {
		case "good":
			it.Quality = sensors.QualityGood
		case "uncertain":
			it.Quality = sensors.QualityUncertain
		case "bad":
			it.Quality = sensors.QualityBad
		default:
			return reject(it, ReasonBadQuality, fmt.Sprintf("quality %q is not good, uncertain or bad", qs))
		}
	}
	return it
}

// fields finds the values of the keys of o that slot numbers, by their
// number, in one pass over its keys, not a search for each: a search for
// a key o lacks (a reading's ts and quality mostly are) scans every key
// twice. The first of duplicate keys counts, as with Object.Get; a key o
// lacks gives nil. slot is a switch on constants, not a loop over names:
// comparing each key with each name measured 14 % slower.
func fields(o *fastjson.Object, slot func(key []byte) int) (vs [4]*fastjson.Value) {
	o.Visit(func(k []byte, v *fastjson.Value) {
		if i := slot(k); i >= 0 && vs[i] == nil {
			vs[i] = v
		}
	})
	return vs
}

// batchField numbers the keys of a batch that Decode reads.
func batchField(k []byte) int {
	switch string(k) {
	case FieldSeq:
		return 0
	case FieldHistorical:
		return 1
	case FieldTS:
		return 2
	case FieldReadings:
		return 3
	}
	return -1
}

// readingField numbers the keys of a reading that decodeReading reads.
func readingField(k []byte) int {
	switch string(k) {
	case FieldSensor:
		return 0
	case FieldValue:
		return 1
	case FieldTS:
		return 2
	case FieldQuality:
		return 3
	}
	return -1
}

func reject(it Reading, r, detail string) Reading {
	it.Reject, it.Detail = r, detail
	return it
}

// parseTime accepts epoch milliseconds or an RFC 3339 string.
func parseTime(v *fastjson.Value) (time.Time, error) {
	switch v.Type() {
	case fastjson.TypeNumber:
		ms, err := v.Int64()
		if err != nil {
			return time.Time{}, fmt.Errorf("timestamp is not integer epoch milliseconds: %w", err)
		}
		if ms <= 0 {
			return time.Time{}, fmt.Errorf("timestamp %d is not a positive epoch millisecond", ms)
		}
		return time.UnixMilli(ms), nil
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		t, err := time.Parse(time.RFC3339Nano, string(s))
		if err != nil {
			return time.Time{}, fmt.Errorf("timestamp %q is not RFC 3339: %w", s, err)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("timestamp is a %s, want epoch milliseconds or RFC 3339", v.Type())
}
