package ingest

import (
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/storage"
)

// intake is what a worker does with a message once its processor has
// decoded and validated it, the same whether the message came from MQTT
// (Collector) or from a JetStream partition (Feed): report the gateway
// events, hand the readings to the evaluator, and spool them with the
// message's acknowledgement. One per worker: it reuses its line buffer.
type intake struct {
	sp     *Spool
	onRead func([]sensors.Reading)
	onGW   func(sensors.GatewayEvent)
	// stored learns the tag of a message with nothing to spool at once;
	// the spool tells it the others' once they are stored.
	stored func(tag uint64)
	lines  []byte
	enc    storage.ReadingEncoder
}

// events reports gateway status and losses.
func (in *intake) events(evs []sensors.GatewayEvent) {
	if in.onGW == nil {
		return
	}
	for _, ev := range evs {
		in.onGW(ev)
	}
}

// store evaluates and spools rs; ack runs once they are durable, at once
// when there are none (everything in the message was rejected and
// parked: redelivery cannot help). A tag other than 0 is told to stored
// once the readings are in InfluxDB (at once when there are none). An
// error means the spool is closed and ack will not run: the message is
// left for redelivery.
func (in *intake) store(rs []sensors.Reading, ack func(), tag uint64) error {
	return in.spool(rs, ack, tag, true)
}

// spool is store, evaluating rs only when evaluate is set: a message
// replayed from the cluster's log was evaluated by the instance that
// first took it, and only its storage is in doubt.
func (in *intake) spool(rs []sensors.Reading, ack func(), tag uint64, evaluate bool) error {
	if len(rs) == 0 {
		ack()
		if tag != 0 && in.stored != nil {
			in.stored(tag)
		}
		return nil
	}
	if evaluate && in.onRead != nil {
		in.onRead(rs)
	}
	in.lines = in.lines[:0]
	for i := range rs {
		in.lines = in.enc.AppendReading(in.lines, &rs[i])
	}
	return in.sp.AppendTagged(in.lines, len(rs), ack, tag)
}
