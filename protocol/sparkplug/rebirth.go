package sparkplug

import (
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// RebirthMetric is the node control metric that, written true by an NCMD,
// makes an edge node publish its NBIRTH and all DBIRTHs again.
const RebirthMetric = "Node Control/Rebirth"

// Field numbers of the Sparkplug B schema used by RebirthRequest; see
// spb/sparkplug_b.proto.
const (
	payloadTimestamp = 1
	payloadMetrics   = 2
	metricName       = 1
	metricTimestamp  = 3
	metricDatatype   = 4
	metricBoolean    = 14
)

// RebirthRequest returns the NCMD message that asks edge node edge of
// group group to rebirth: topic spBv1.0/{group}/NCMD/{edge} and a payload
// with the current time and one metric, Node Control/Rebirth, Boolean
// true. Publish it with QoS 0 and without retain, as the specification
// wants for commands.
func RebirthRequest(group, edge string) (topic string, payload []byte) {
	return NodeTopic(group, NCMD, edge), rebirthPayload(time.Now())
}

// rebirthPayload encodes the payload by hand rather than with proto.Marshal,
// whose error return can never fire for this message but would otherwise
// have to be handled or passed to every caller.
func rebirthPayload(now time.Time) []byte {
	ms := uint64(now.UnixMilli())
	var m []byte
	m = protowire.AppendTag(m, metricName, protowire.BytesType)
	m = protowire.AppendString(m, RebirthMetric)
	m = protowire.AppendTag(m, metricTimestamp, protowire.VarintType)
	m = protowire.AppendVarint(m, ms)
	m = protowire.AppendTag(m, metricDatatype, protowire.VarintType)
	m = protowire.AppendVarint(m, uint64(dtBoolean))
	m = protowire.AppendTag(m, metricBoolean, protowire.VarintType)
	m = protowire.AppendVarint(m, protowire.EncodeBool(true))

	var p []byte
	p = protowire.AppendTag(p, payloadTimestamp, protowire.VarintType)
	p = protowire.AppendVarint(p, ms)
	p = protowire.AppendTag(p, payloadMetrics, protowire.BytesType)
	return protowire.AppendBytes(p, m)
}
