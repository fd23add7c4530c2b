// Package ingest takes gateway messages from MQTT, decodes and validates
// them against the sensor registry, parks what is bad in a dead-letter
// store and writes what is good to InfluxDB.
package ingest

import (
	"errors"
	"fmt"
	"time"

	"github.com/riskmon/riskmon/sensors"
	"github.com/valyala/fastjson"
)

// Item is one decoded reading before validation, whatever the format.
type Item struct {
	Sensor  string
	Value   float64
	Time    time.Time
	Quality sensors.Quality
	// Historical marks a value a gateway buffered during an outage and
	// sends late (store-and-forward).
	Historical bool
	// Reject is set when this reading cannot be used; Detail says why in
	// words for the dead-letter entry.
	Reject Reason
	Detail string
}

// Batch is a decoded JSON batch message.
type Batch struct {
	Seq    uint64
	HasSeq bool
	Items  []Item
}

// maxInterned bounds a decoder's sensor-id cache: ids come from the
// network, and a gateway sending endless new ones must not grow memory.
const maxInterned = 1 << 16

// MaxSensorID is the longest sensor id accepted.
const MaxSensorID = 128

// DecodeError rejects a whole message.
type DecodeError struct {
	Reason Reason
	Err    error
}

func (e *DecodeError) Error() string { return fmt.Sprintf("%s: %v", e.Reason, e.Err) }
func (e *DecodeError) Unwrap() error { return e.Err }

// Decoder decodes the JSON batch format of docs/protocol.md. It reuses its
// buffers between calls and is not safe for concurrent use: each ingest
// worker owns one.
type Decoder struct {
	p        fastjson.Parser
	batch    Batch
	maxItems int
	// interned maps sensor ids to one string each, so decoding a known
	// sensor allocates nothing.
	interned map[string]string
}

// NewDecoder returns a decoder that rejects batches of more than maxItems
// readings (0 means no limit).
func NewDecoder(maxItems int) *Decoder {
	return &Decoder{maxItems: maxItems, interned: map[string]string{}}
}

func (d *Decoder) intern(b []byte) string {
	if len(b) > MaxSensorID {
		return string(b) // rejected later; not worth remembering
	}
	if s, ok := d.interned[string(b)]; ok {
		return s
	}
	if len(d.interned) >= maxInterned {
		clear(d.interned)
	}
	s := string(b)
	d.interned[s] = s
	return s
}

// Decode parses payload. A returned error rejects the whole message;
// otherwise each Item says on its own whether it is usable. The result is
// valid until the next call.
func (d *Decoder) Decode(payload []byte) (*Batch, error) {
	v, err := d.p.ParseBytes(payload)
	if err != nil {
		return nil, &DecodeError{ReasonMalformed, err}
	}
	if v.Type() != fastjson.TypeObject {
		return nil, &DecodeError{ReasonBadSchema, fmt.Errorf("payload is a JSON %s, want an object", v.Type())}
	}
	b := &d.batch
	b.Items = b.Items[:0]
	b.Seq, b.HasSeq = 0, false

	if sv := v.Get("seq"); sv != nil {
		seq, err := sv.Uint64()
		if err != nil {
			return nil, &DecodeError{ReasonBadSchema, fmt.Errorf("seq: %w", err)}
		}
		b.Seq, b.HasSeq = seq, true
	}
	historical := false
	if hv := v.Get("historical"); hv != nil {
		h, err := hv.Bool()
		if err != nil {
			return nil, &DecodeError{ReasonBadSchema, fmt.Errorf("historical: %w", err)}
		}
		historical = h
	}
	var batchTime time.Time
	var batchTimeErr error
	if tv := v.Get("ts"); tv != nil {
		batchTime, batchTimeErr = parseTime(tv)
		if batchTimeErr != nil {
			return nil, &DecodeError{ReasonBadSchema, fmt.Errorf("ts: %w", batchTimeErr)}
		}
	}
	rv := v.Get("readings")
	if rv == nil {
		return nil, &DecodeError{ReasonBadSchema, errors.New(`no "readings" array`)}
	}
	arr, err := rv.Array()
	if err != nil {
		return nil, &DecodeError{ReasonBadSchema, fmt.Errorf("readings: %w", err)}
	}
	if len(arr) == 0 {
		return nil, &DecodeError{ReasonEmptyBatch, errors.New("readings array is empty")}
	}
	if d.maxItems > 0 && len(arr) > d.maxItems {
		return nil, &DecodeError{ReasonTooMany, fmt.Errorf("%d readings in one message, limit is %d (ingest.max_readings_per_message)", len(arr), d.maxItems)}
	}
	for _, r := range arr {
		it := d.decodeItem(r, batchTime)
		it.Historical = historical
		b.Items = append(b.Items, it)
	}
	return b, nil
}

func (d *Decoder) decodeItem(r *fastjson.Value, batchTime time.Time) Item {
	it := Item{Time: batchTime}
	if r.Type() != fastjson.TypeObject {
		return reject(it, ReasonBadSchema, "reading is not an object")
	}
	sv := r.Get("sensor")
	if sv == nil {
		return reject(it, ReasonMissingSensor, `reading has no "sensor"`)
	}
	s, err := sv.StringBytes()
	if err != nil || len(s) == 0 {
		return reject(it, ReasonMissingSensor, `"sensor" is not a non-empty string`)
	}
	it.Sensor = d.intern(s)
	vv := r.Get("value")
	if vv == nil {
		return reject(it, ReasonBadValue, `reading has no "value"`)
	}
	if it.Value, err = vv.Float64(); err != nil {
		return reject(it, ReasonBadValue, fmt.Sprintf(`"value" is a %s, want a number`, vv.Type()))
	}
	if tv := r.Get("ts"); tv != nil {
		if it.Time, err = parseTime(tv); err != nil {
			return reject(it, ReasonBadTimestamp, err.Error())
		}
	}
	if it.Time.IsZero() {
		return reject(it, ReasonNoTimestamp, `neither the batch nor the reading has "ts"`)
	}
	if qv := r.Get("quality"); qv != nil {
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

func reject(it Item, r Reason, detail string) Item {
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
