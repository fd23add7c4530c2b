package sparkplug

import (
	"testing"

	"github.com/riskmon/riskmon/protocol/sparkplug/spb"
	"google.golang.org/protobuf/proto"
)

const baseMS = 1764345600000 // 2025-11-28T16:00:00Z

// m builds a metric. alias < 0 means none; value picks the oneof field
// by its Go type (uint32 int_value, uint64 long_value, float32, float64,
// bool, string, []byte, *spb.Payload_DataSet, *spb.Payload_Template; nil
// for none).
func m(name string, alias int, dt dataType, value any) *spb.Payload_Metric {
	mt := &spb.Payload_Metric{}
	if name != "" {
		mt.Name = proto.String(name)
	}
	if alias >= 0 {
		mt.Alias = proto.Uint64(uint64(alias))
	}
	if dt != dtUnknown {
		mt.Datatype = proto.Uint32(uint32(dt))
	}
	switch v := value.(type) {
	case uint32:
		mt.Value = &spb.Payload_Metric_IntValue{IntValue: v}
	case uint64:
		mt.Value = &spb.Payload_Metric_LongValue{LongValue: v}
	case float32:
		mt.Value = &spb.Payload_Metric_FloatValue{FloatValue: v}
	case float64:
		mt.Value = &spb.Payload_Metric_DoubleValue{DoubleValue: v}
	case bool:
		mt.Value = &spb.Payload_Metric_BooleanValue{BooleanValue: v}
	case string:
		mt.Value = &spb.Payload_Metric_StringValue{StringValue: v}
	case []byte:
		mt.Value = &spb.Payload_Metric_BytesValue{BytesValue: v}
	case *spb.Payload_DataSet:
		mt.Value = &spb.Payload_Metric_DatasetValue{DatasetValue: v}
	case *spb.Payload_Template:
		mt.Value = &spb.Payload_Metric_TemplateValue{TemplateValue: v}
	case nil:
	default:
		panic("test helper m: unsupported value type")
	}
	return mt
}

// withTS sets a metric's own timestamp.
func withTS(mt *spb.Payload_Metric, ms uint64) *spb.Payload_Metric {
	mt.Timestamp = proto.Uint64(ms)
	return mt
}

func historical(mt *spb.Payload_Metric) *spb.Payload_Metric {
	mt.IsHistorical = proto.Bool(true)
	return mt
}

func null(mt *spb.Payload_Metric) *spb.Payload_Metric {
	mt.IsNull = proto.Bool(true)
	return mt
}

// pl builds a payload with timestamp baseMS; seq < 0 means none.
func pl(seq int, metrics ...*spb.Payload_Metric) *spb.Payload {
	p := &spb.Payload{Timestamp: proto.Uint64(baseMS), Metrics: metrics}
	if seq >= 0 {
		p.Seq = proto.Uint64(uint64(seq))
	}
	return p
}

func marshal(tb testing.TB, p *spb.Payload) []byte {
	tb.Helper()
	b, err := proto.Marshal(p)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// bdSeqMetric is the bdSeq metric of NBIRTH and NDEATH.
func bdSeqMetric(n uint64) *spb.Payload_Metric { return m("bdSeq", -1, dtInt64, n) }
