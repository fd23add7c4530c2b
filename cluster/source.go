package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The stream is fed from nats-server's own MQTT stream, $MQTT_msgs, and
// not from the MQTT listener's plain NATS publishes: the PUBACK a gateway
// gets waits for the store into $MQTT_msgs, while a plain publish into a
// stream is fire and forget, so a stream leader lost at the wrong moment
// would drop messages already acknowledged to the gateway.
//
// $MQTT_msgs keeps a message as long as a consumer is interested in it
// (interest retention). The stream sources it through a durable consumer
// of its own on $MQTT_msgs whose acknowledgements follow the stream's
// flow-control replies (AckFlowControl): a message leaves $MQTT_msgs only
// once the stream has taken it, and a stream leader that changes picks
// up the consumer where its acknowledgements stopped.

// sourceMaxAckPending bounds the messages sourced and not yet confirmed.
const sourceMaxAckPending = 65536

// sourceConsumer names the durable consumer on $MQTT_msgs that feeds
// the stream, and sourceDeliver the subject it delivers to.
func (n *Node) sourceConsumer() string { return "riskmon_source_" + n.opts.Stream }
func (n *Node) sourceDeliver() string  { return "_riskmon.source." + n.opts.Stream }

// ensureSource makes sure $MQTT_msgs exists (nats-server makes it at the
// first MQTT connection of the account; made first here, it is the one
// the listener then uses) and has the stream's durable consumer.
func (n *Node) ensureSource(ctx context.Context) error {
	ms, err := n.js.Stream(ctx, mqttStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		ms, err = n.js.CreateStream(ctx, jetstream.StreamConfig{Name: mqttStream, Subjects: []string{mqttPrefix + ">"},
			Storage: jetstream.FileStorage, Retention: jetstream.InterestPolicy, Replicas: n.opts.Replicas})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			// The MQTT listener made it meanwhile.
			ms, err = n.js.Stream(ctx, mqttStream)
		}
	}
	if err != nil {
		return fmt.Errorf("MQTT message stream %s (is the MQTT listener on?): %w", mqttStream, err)
	}
	cfg := jetstream.ConsumerConfig{Durable: n.sourceConsumer(), DeliverSubject: n.sourceDeliver(),
		AckPolicy: jetstream.AckFlowControlPolicy, FlowControl: true, IdleHeartbeat: time.Second,
		MaxAckPending: sourceMaxAckPending, FilterSubjects: sourceFilters(),
		// An interest-retention stream wants its consumers replicated as
		// itself.
		Replicas:    ms.CachedInfo().Config.Replicas,
		Description: "feeds riskmon's stream " + n.opts.Stream + "; holds MQTT messages until it has them"}
	if _, err := ms.CreateOrUpdateConsumer(ctx, cfg); err != nil {
		return fmt.Errorf("source consumer %s on %s: %w", cfg.Durable, mqttStream, err)
	}
	return nil
}

// source is the stream's source: $MQTT_msgs through the durable
// consumer, each gateway topic stored under its site's partition.
func (n *Node) source() *jetstream.StreamSource {
	return &jetstream.StreamSource{Name: mqttStream,
		Consumer:          &jetstream.StreamConsumerSource{Name: n.sourceConsumer(), DeliverSubject: n.sourceDeliver()},
		SubjectTransforms: sourceTransforms(n.opts.Partitions)}
}

// spbStream names the capture stream of Sparkplug B messages.
func (n *Node) spbStream() string { return n.opts.Stream + "_SPB" }

// ensureSparkplug makes sure the Sparkplug capture stream exists and has
// the durable consumer that feeds the stream. It keeps a message until
// that consumer has passed it on (interest retention), as $MQTT_msgs
// does, and at most max_age should the stream be unavailable that long.
func (n *Node) ensureSparkplug(ctx context.Context) error {
	cs, err := n.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: n.spbStream(), Subjects: spbCaptureSubjects(),
		Storage: jetstream.FileStorage, Retention: jetstream.InterestPolicy, Replicas: n.opts.Replicas,
		MaxAge: n.opts.MaxAge, Discard: jetstream.DiscardOld,
		Description: "Sparkplug B messages from the MQTT listeners, until riskmon's stream " + n.opts.Stream + " has them"})
	if err != nil {
		return fmt.Errorf("capture stream %s for Sparkplug B: %w", n.spbStream(), err)
	}
	cfg := jetstream.ConsumerConfig{Durable: n.sourceConsumer(), DeliverSubject: n.sourceDeliver() + ".spb",
		AckPolicy: jetstream.AckFlowControlPolicy, FlowControl: true, IdleHeartbeat: time.Second,
		MaxAckPending: sourceMaxAckPending, Replicas: cs.CachedInfo().Config.Replicas,
		Description: "feeds riskmon's stream " + n.opts.Stream + "; holds Sparkplug B messages until it has them"}
	if _, err := cs.CreateOrUpdateConsumer(ctx, cfg); err != nil {
		return fmt.Errorf("source consumer %s on %s: %w", cfg.Durable, n.spbStream(), err)
	}
	return nil
}

// spbSource is the stream's second source: the Sparkplug capture stream,
// each message stored under its group's partition.
func (n *Node) spbSource() *jetstream.StreamSource {
	return &jetstream.StreamSource{Name: n.spbStream(),
		Consumer:          &jetstream.StreamConsumerSource{Name: n.sourceConsumer(), DeliverSubject: n.sourceDeliver() + ".spb"},
		SubjectTransforms: spbTransforms(n.opts.Partitions)}
}
