package simulator

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/riskmon/riskmon/protocol/sparkplug/spb"
	"google.golang.org/protobuf/proto"
)

// Format is the payload format a gateway speaks (docs/protocol.md). A
// real fleet mixes them: new gateways send riskmon's JSON batches, some
// RTUs already speak InfluxDB line protocol, and PLC edge nodes speak
// Sparkplug B.
type Format string

// The formats a simulated gateway can speak. The zero value is JSON.
const (
	FormatJSON      Format = "json"
	FormatLP        Format = "lp"
	FormatSparkplug Format = "sparkplug"
)

// Formats lists the formats, for messages and flags.
func Formats() []Format { return []Format{FormatJSON, FormatLP, FormatSparkplug} }

// ParseFormat reads a format name; the empty string is JSON.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case "":
		return FormatJSON, nil
	case FormatJSON, FormatLP, FormatSparkplug:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q (want json, lp or sparkplug)", s)
}

// FormatOf returns the format of a gateway: its "site/gateway" entry of
// Formats, else its site's entry, else Format, else JSON.
func (f Fleet) FormatOf(site, gateway string) Format {
	if v, ok := f.Formats[site+"/"+gateway]; ok && v != "" {
		return v
	}
	if v, ok := f.Formats[site]; ok && v != "" {
		return v
	}
	if f.Format != "" {
		return f.Format
	}
	return FormatJSON
}

// checkFormats rejects unknown formats and Formats keys that name no site
// or gateway of the fleet, which would otherwise silently leave a gateway
// on JSON.
func (f Fleet) checkFormats() error {
	if _, err := ParseFormat(string(f.Format)); err != nil {
		return fmt.Errorf("simulator fleet: %w", err)
	}
	known := map[string]bool{}
	for _, g := range f.Gateways() {
		known[g.Site] = true
		known[g.Site+"/"+g.ID] = true
	}
	for key, v := range f.Formats {
		if _, err := ParseFormat(string(v)); err != nil {
			return fmt.Errorf("simulator fleet: format of %s: %w", key, err)
		}
		if !known[key] {
			return fmt.Errorf("simulator fleet: format for %s, which is no site or site/gateway of the fleet", key)
		}
	}
	return nil
}

// AppendLines appends one line protocol line per point to dst,
// `reading,sensor=ID value=V TS`, with the timestamp in nanoseconds as
// riskmon requires. Like AppendBatch it allocates only when dst grows.
func AppendLines(dst []byte, tsMillis int64, points []Point) []byte {
	for _, p := range points {
		dst = append(dst, "reading,sensor="...)
		dst = appendTagValue(dst, p.Sensor)
		dst = append(dst, " value="...)
		// A bare number is a float in line protocol, so 12 stays a float.
		dst = strconv.AppendFloat(dst, p.Value, 'f', p.Decimals, 64)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, tsMillis, 10)
		dst = append(dst, "000000\n"...)
	}
	return dst
}

// appendTagValue escapes the characters line protocol gives a meaning in
// tag values; real sensor ids have none, a registry typo might.
func appendTagValue(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ',', '=', ' ', '\\':
			dst = append(dst, '\\', c)
		case '\n', '\r':
			dst = append(dst, ' ') // a newline would end the line
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// AppendMalformedLP appends a broken line protocol message of kind k,
// each kind failing in its own way at riskmon's decoder: a JSON batch
// sent to /lp, a line cut short, a string value, a line without its
// sensor tag and a message of comments only.
func AppendMalformedLP(dst []byte, k MalformedKind, tsMillis int64, sensor string) []byte {
	ts := strconv.AppendInt(nil, tsMillis, 10)
	switch k {
	case MalformedInvalidJSON:
		return AppendBatch(dst, tsMillis, 0, []Point{{Sensor: sensor, Value: 1.5, Decimals: 1}})
	case MalformedTruncated:
		dst = append(dst, "reading,sensor="...)
		dst = appendTagValue(dst, sensor)
		return append(dst, " val"...)
	case MalformedWrongType:
		dst = append(dst, "reading,sensor="...)
		dst = appendTagValue(dst, sensor)
		dst = append(dst, ` value="abc" `...)
		return append(append(dst, ts...), "000000\n"...)
	case MalformedMissingReadings:
		dst = append(dst, "reading value=1.5 "...)
		return append(append(dst, ts...), "000000\n"...)
	default:
		return append(dst, "# nothing to report\n"...)
	}
}

// Sparkplug B datatypes the simulator uses (spb/sparkplug_b.proto).
const (
	spDatatypeUInt64 = 8
	spDatatypeDouble = 10
)

// bdSeqMetric is the Sparkplug metric tying an NBIRTH to its NDEATH.
const bdSeqMetric = "bdSeq"

// sparkplugAlias is the alias of the ith sensor of a gateway. Aliases
// start at 1 so that 0, the value of a missing alias, never names one.
func sparkplugAlias(i int) uint64 { return uint64(i) + 1 }

// sparkplugDeath encodes an NDEATH: just the bdSeq, as the specification
// wants, so riskmon can tell the will of an old session from a current
// one.
func sparkplugDeath(bdSeq uint64) []byte {
	p := &spb.Payload{Metrics: []*spb.Payload_Metric{bdSeqValue(bdSeq)}}
	b, err := proto.Marshal(p)
	if err != nil {
		panic(err) // cannot happen: the payload has no required field unset
	}
	return b
}

func bdSeqValue(bdSeq uint64) *spb.Payload_Metric {
	return &spb.Payload_Metric{
		Name:     proto.String(bdSeqMetric),
		Datatype: proto.Uint32(spDatatypeUInt64),
		Value:    &spb.Payload_Metric_LongValue{LongValue: bdSeq},
	}
}

// sparkplugBirth encodes an NBIRTH of the gateway's sensors, in order,
// with their aliases. A BIRTH must name every metric of the node, so a
// sensor without a reading in points (offline, or beyond a partial
// last batch) is sent as null, which riskmon rejects on its own and does
// not store.
func sparkplugBirth(tsMillis int64, bdSeq uint64, ids []string, points []Point, index []int) []byte {
	ts := uint64(tsMillis)
	p := &spb.Payload{Timestamp: &ts, Seq: proto.Uint64(0)}
	p.Metrics = append(p.Metrics, bdSeqValue(bdSeq))
	value := make(map[int]float64, len(points))
	for j, i := range index {
		value[i] = points[j].Value
	}
	for i, id := range ids {
		m := &spb.Payload_Metric{
			Name:     proto.String(id),
			Alias:    proto.Uint64(sparkplugAlias(i)),
			Datatype: proto.Uint32(spDatatypeDouble),
		}
		if v, ok := value[i]; ok {
			m.Value = &spb.Payload_Metric_DoubleValue{DoubleValue: v}
		} else {
			m.IsNull = proto.Bool(true)
		}
		p.Metrics = append(p.Metrics, m)
	}
	b, err := proto.Marshal(p)
	if err != nil {
		panic(err)
	}
	return b
}

// sparkplugData encodes an NDATA with the points by alias only, as edge
// nodes do to keep DATA messages small.
func sparkplugData(tsMillis int64, seq uint64, points []Point, index []int) []byte {
	ts := uint64(tsMillis)
	p := &spb.Payload{Timestamp: &ts, Seq: &seq, Metrics: make([]*spb.Payload_Metric, len(points))}
	for j, i := range index {
		p.Metrics[j] = &spb.Payload_Metric{
			Alias:    proto.Uint64(sparkplugAlias(i)),
			Datatype: proto.Uint32(spDatatypeDouble),
			Value:    &spb.Payload_Metric_DoubleValue{DoubleValue: points[j].Value},
		}
	}
	b, err := proto.Marshal(p)
	if err != nil {
		panic(err)
	}
	return b
}

// AppendMalformedSparkplug appends bytes that are no Sparkplug B
// protobuf, for an NDATA topic: an unfinished varint, a metric whose
// length runs past the end, a field number 0, text, and an NDATA cut off
// inside its metric. None consumes a seq, since riskmon cannot read one.
func AppendMalformedSparkplug(dst []byte, k MalformedKind, tsMillis int64) []byte {
	switch k {
	case MalformedInvalidJSON:
		return append(dst, `{"not":"protobuf"}`...)
	case MalformedTruncated:
		good := sparkplugData(tsMillis, 0, []Point{{Value: 1.5}}, []int{0})
		return append(dst, good[:len(good)-3]...)
	case MalformedWrongType:
		return append(dst, 0x00, 0x01) // field number 0 is invalid
	case MalformedMissingReadings:
		return append(dst, 0x12, 0x40, 0x0a) // metrics field, 64 bytes long, 1 there
	default:
		return append(dst, 0x08, 0xff, 0xff, 0xff) // timestamp varint never ends
	}
}
