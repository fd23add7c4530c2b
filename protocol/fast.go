package protocol

import (
	"time"
	"unsafe"

	"github.com/riskmon/riskmon/sensors"
	"github.com/valyala/fastjson/fastfloat"
)

// decodeFast decodes the batches nearly every gateway sends in one pass
// over the payload, without building fastjson's tree of values, and
// reports whether it could. It takes only a strict subset of what the
// full decoder takes: the batch's and readings' own keys each at most
// once, strings without escapes, timestamps as epoch milliseconds, other
// keys only with a string, number, true, false or null value, and no
// problem at all. Anything else (a rejection of any kind, an RFC 3339
// time, an escaped string, a nested extra value) returns false, and the
// full decoder starts again from the beginning, so every error and
// rejection is the full decoder's.
//
// For what it takes, the result is the full decoder's to the bit: it
// reads numbers with the functions fastjson reads them with, over the
// same characters (FuzzDecode compares the two on every input).
func (d *Decoder) decodeFast(payload []byte) bool {
	sc := scanner{s: unsafe.String(unsafe.SliceData(payload), len(payload))}
	b := &d.batch
	b.Readings = b.Readings[:0]
	b.Seq, b.HasSeq = 0, false
	var seen uint8
	const (
		seenSeq = 1 << iota
		seenHistorical
		seenTS
		seenReadings
	)
	var batchMS int64
	historical := false
	if !sc.next('{') {
		return false
	}
	for more := true; more; {
		key, ok := sc.key()
		if !ok {
			return false
		}
		var bit uint8
		switch key {
		case FieldSeq:
			bit = seenSeq
			n, err := fastfloat.ParseUint64(sc.number())
			if err != nil {
				return false
			}
			b.Seq, b.HasSeq = n, true
		case FieldHistorical:
			bit = seenHistorical
			switch sc.literal() {
			case "true":
				historical = true
			case "false":
			default:
				return false
			}
		case FieldTS:
			bit = seenTS
			if batchMS, ok = sc.millis(); !ok {
				return false
			}
		case FieldReadings:
			bit = seenReadings
			if !d.readingsFast(&sc) {
				return false
			}
		default:
			if !sc.scalar() {
				return false
			}
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		if more, ok = sc.more('}'); !ok {
			return false
		}
	}
	sc.ws()
	if sc.i != len(sc.s) || seen&seenReadings == 0 {
		return false
	}
	for i := range b.Readings {
		r := &b.Readings[i]
		if r.Time.IsZero() {
			if batchMS == 0 {
				return false
			}
			r.Time = time.UnixMilli(batchMS)
		}
		r.Historical = historical
	}
	return true
}

// readingsFast is decodeFast for the readings array, which must hold at
// least one reading and no more than the decoder's limit.
func (d *Decoder) readingsFast(sc *scanner) bool {
	const (
		seenSensor = 1 << iota
		seenValue
		seenTS
		seenQuality
	)
	b := &d.batch
	if !sc.next('[') {
		return false
	}
	for more := true; more; {
		if d.maxItems > 0 && len(b.Readings) >= d.maxItems {
			return false
		}
		if !sc.next('{') {
			return false
		}
		var it Reading
		var seen uint8
		for field := true; field; {
			key, ok := sc.key()
			if !ok {
				return false
			}
			var bit uint8
			switch key {
			case FieldSensor:
				bit = seenSensor
				if it.Sensor, ok = sc.str(); !ok || it.Sensor == "" {
					return false
				}
			case FieldValue:
				bit = seenValue
				v, err := fastfloat.Parse(sc.number())
				if err != nil {
					return false
				}
				it.Value = v
			case FieldTS:
				bit = seenTS
				ms, ok := sc.millis()
				if !ok {
					return false
				}
				it.Time = time.UnixMilli(ms)
			case FieldQuality:
				bit = seenQuality
				q, ok := sc.str()
				if !ok {
					return false
				}
				var err error
				if it.Quality, err = sensors.ParseQuality(q); err != nil {
					return false
				}
			default:
				if !sc.scalar() {
					return false
				}
			}
			if seen&bit != 0 {
				return false
			}
			seen |= bit
			if field, ok = sc.more('}'); !ok {
				return false
			}
		}
		if seen&(seenSensor|seenValue) != seenSensor|seenValue {
			return false
		}
		b.Readings = append(b.Readings, it)
		var ok bool
		if more, ok = sc.more(']'); !ok {
			return false
		}
	}
	return true
}

// scanner is decodeFast's place in a payload. Its methods skip the
// whitespace JSON allows before what they read, and report what they
// cannot read rather than say why: the full decoder says why.
type scanner struct {
	s string
	i int
}

// ws skips JSON whitespace.
func (sc *scanner) ws() {
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// next consumes c if it comes next.
func (sc *scanner) next(c byte) bool {
	sc.ws()
	if sc.i < len(sc.s) && sc.s[sc.i] == c {
		sc.i++
		return true
	}
	return false
}

// key reads an object member's key and the colon after it.
func (sc *scanner) key() (string, bool) {
	k, ok := sc.str()
	return k, ok && sc.next(':')
}

// more reads what follows a member or an element: a comma, when more
// follow, or end, the object's or array's closing bracket. ok is false
// for anything else.
func (sc *scanner) more(end byte) (more, ok bool) {
	if sc.next(',') {
		return true, true
	}
	return false, sc.next(end)
}

// str reads a string without a backslash in it; the result shares the
// payload's bytes, as the full decoder's strings do.
func (sc *scanner) str() (string, bool) {
	if !sc.next('"') {
		return "", false
	}
	for j := sc.i; j < len(sc.s); j++ {
		switch sc.s[j] {
		case '"':
			s := sc.s[sc.i:j]
			sc.i = j + 1
			return s, true
		case '\\':
			return "", false
		}
	}
	return "", false
}

// number reads the characters fastjson reads as a number's (it checks
// them only when the value is asked for), or "" when what comes next
// does not start as a number this path takes.
func (sc *scanner) number() string {
	sc.ws()
	start := sc.i
	if start >= len(sc.s) || (sc.s[start] != '-' && (sc.s[start] < '0' || sc.s[start] > '9')) {
		return ""
	}
	j := start + 1
	for j < len(sc.s) {
		c := sc.s[j]
		if (c >= '0' && c <= '9') || c == '.' || c == '-' || c == 'e' || c == 'E' || c == '+' {
			j++
			continue
		}
		break
	}
	sc.i = j
	return sc.s[start:j]
}

// millis reads a timestamp in positive epoch milliseconds.
func (sc *scanner) millis() (int64, bool) {
	ms, err := fastfloat.ParseInt64(sc.number())
	return ms, err == nil && ms > 0
}

// literal reads true, false or null, or returns "".
func (sc *scanner) literal() string {
	sc.ws()
	for _, l := range [...]string{"true", "false", "null"} {
		if len(sc.s)-sc.i >= len(l) && sc.s[sc.i:sc.i+len(l)] == l {
			sc.i += len(l)
			return l
		}
	}
	return ""
}

// scalar skips a string, a number, true, false or null.
func (sc *scanner) scalar() bool {
	sc.ws()
	if sc.i >= len(sc.s) {
		return false
	}
	switch sc.s[sc.i] {
	case '"':
		_, ok := sc.str()
		return ok
	case 't', 'f', 'n':
		return sc.literal() != ""
	}
	return sc.number() != ""
}
