package sparkplug

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/riskmon/riskmon/protocol/sparkplug/spb"
)

// dataType is a Sparkplug B metric datatype, the Metric.datatype field.
type dataType uint32

// The Sparkplug B datatypes riskmon tells apart. Every other value is a
// type riskmon does not store.
const (
	dtUnknown  dataType = 0
	dtInt8     dataType = 1
	dtInt16    dataType = 2
	dtInt32    dataType = 3
	dtInt64    dataType = 4
	dtUInt8    dataType = 5
	dtUInt16   dataType = 6
	dtUInt32   dataType = 7
	dtUInt64   dataType = 8
	dtFloat    dataType = 9
	dtDouble   dataType = 10
	dtBoolean  dataType = 11
	dtString   dataType = 12
	dtDateTime dataType = 13
	dtText     dataType = 14
	dtDataSet  dataType = 16
	dtBytes    dataType = 17
	dtTemplate dataType = 19
)

// numeric reports whether metrics of type d become readings. dtUnknown
// counts: a metric without a datatype is judged by its value field.
func (d dataType) numeric() bool { return d <= dtBoolean }

// notReading reports whether a metric is Sparkplug bookkeeping rather than
// a measurement: the birth/death sequence, the node's control switches
// (Rebirth, Next Server, ...) and its descriptive properties.
func notReading(name string) bool {
	return name == "bdSeq" || strings.HasPrefix(name, "Node Control/") || strings.HasPrefix(name, "Properties/")
}

// metricValue converts a metric's value to a float64 under datatype dt.
// It returns a reject reason and detail when the metric is no number.
func metricValue(m *spb.Payload_Metric, dt dataType) (float64, string, string) {
	if m.GetIsNull() {
		return 0, ReasonNullValue, "metric is null"
	}
	if !dt.numeric() {
		return 0, ReasonUnsupportedType, fmt.Sprintf("datatype %d is not numeric or boolean", dt)
	}
	var v float64
	switch x := m.GetValue().(type) {
	case *spb.Payload_Metric_IntValue:
		v = intValue(uint64(x.IntValue), dt, 32)
	case *spb.Payload_Metric_LongValue:
		v = intValue(x.LongValue, dt, 64)
	case *spb.Payload_Metric_FloatValue:
		v = float64(x.FloatValue)
	case *spb.Payload_Metric_DoubleValue:
		v = x.DoubleValue
	case *spb.Payload_Metric_BooleanValue:
		if x.BooleanValue {
			v = 1
		}
	case nil:
		return 0, ReasonBadValue, "metric has no value and is not null"
	default:
		// String, bytes, dataset, template and extension values.
		return 0, ReasonUnsupportedType, fmt.Sprintf("metric value is a %T, not a number", x)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, ReasonNotFinite, fmt.Sprintf("value %v is not finite", v)
	}
	return v, "", ""
}

// intValue interprets the integer bits of an int_value (width 32) or
// long_value (width 64). Signed types are carried as two's complement, and
// encoders differ in whether they sign-extend Int8 and Int16 to the full
// field, so the value is truncated to the type's own width first. Without
// a signed datatype the field is read as the unsigned number it is.
func intValue(u uint64, dt dataType, width int) float64 {
	switch dt {
	case dtInt8:
		return float64(int8(u))
	case dtInt16:
		return float64(int16(u))
	case dtInt32:
		return float64(int32(u))
	case dtInt64:
		if width == 32 {
			return float64(int32(u))
		}
		return float64(int64(u))
	}
	return float64(u)
}

// metricTime is the metric's own timestamp, or else the payload's, both
// in epoch milliseconds.
func metricTime(m *spb.Payload_Metric, payloadMS uint64) (time.Time, string, string) {
	ms := m.GetTimestamp()
	if ms == 0 {
		ms = payloadMS
	}
	switch {
	case ms == 0:
		return time.Time{}, ReasonNoTimestamp, "neither the metric nor the payload has a timestamp"
	case ms > math.MaxInt64:
		return time.Time{}, ReasonBadTimestamp, fmt.Sprintf("timestamp %d is out of range", ms)
	}
	return time.UnixMilli(int64(ms)), "", ""
}
