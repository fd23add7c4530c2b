package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Node is this instance's connection to the cluster: the stream, the
// lease bucket and the partitions it owns.
type Node struct {
	opts   Options
	log    *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	kv     jetstream.KeyValue
	spb    *SparkplugStates
	floors jetstream.KeyValue
	m      *Metrics

	// epoch is the node's monotonic clock origin: lease deadlines are
	// nanoseconds since it, so a wall-clock step cannot stretch a lease.
	epoch time.Time
	mu    sync.Mutex
	owned map[int]*lease
	// wg counts the partitions' fetch loops and releases.
	wg sync.WaitGroup
	// hooks are called as partitions are gained and lost; set before Run.
	hooks Hooks
}

// Hooks let the instance move a partition's state with its lease.
type Hooks struct {
	// Gained runs when a lease is taken, before the partition's first
	// message is fetched: the instance loads the state the last holder
	// kept. An error gives the lease back, so the partition is not read
	// without its state; another instance, or this one at its next
	// round, takes it again.
	Gained func(ctx context.Context, p int) error
	// Lost runs once a partition is no longer read here (handed over,
	// found taken, or at Close), after its fetch loop has ended: the
	// instance drops the partition's live state without closing or
	// announcing anything, as the next holder continues it.
	Lost func(p int)
}

// SetHooks sets the partition hooks; call it before Run.
func (n *Node) SetHooks(h Hooks) { n.hooks = h }

// Conn is the node's NATS connection, for requests between instances.
func (n *Node) Conn() *nats.Conn { return n.nc }

// JetStream is the node's JetStream context, for the other buckets the
// instance keeps in the cluster.
func (n *Node) JetStream() jetstream.JetStream { return n.js }

// Connect connects to the cluster and makes sure the stream, the
// partition consumers and the lease bucket exist as opts describe them.
// Its errors say what to fix: no server reachable, credentials refused,
// JetStream off, or a stream made with another partition count.
func Connect(ctx context.Context, opts Options, m *Metrics, log *slog.Logger) (*Node, error) {
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	nc, err := dial(opts, log)
	if err != nil {
		return nil, err
	}
	n := &Node{opts: opts, log: log, nc: nc, m: m, epoch: time.Now(), owned: map[int]*lease{}}
	if n.m == nil {
		n.m = NewMetrics(nil)
	}
	if err := n.setUp(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return n, nil
}

// dial opens the NATS connection. The first connect does not retry: an
// unreachable cluster or refused credentials stop riskmon at start with
// the reason. Once connected the client reconnects forever.
func dial(opts Options, log *slog.Logger) (*nats.Conn, error) {
	no := []nats.Option{nats.Name("riskmon " + opts.Instance), nats.Timeout(opts.ConnectTimeout),
		nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			// nil at a close we asked for.
			if err != nil {
				log.Warn("NATS connection lost; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("NATS reconnected", "server", c.ConnectedUrlRedacted()) }),
	}
	if opts.CredsFile != "" {
		if _, err := os.Stat(opts.CredsFile); err != nil {
			return nil, fmt.Errorf("credentials file: %w", err)
		}
		no = append(no, nats.UserCredentials(opts.CredsFile))
	}
	if opts.TLS != nil {
		no = append(no, nats.Secure(opts.TLS))
	}
	urls := strings.Join(opts.URLs, ",")
	nc, err := nats.Connect(urls, no...)
	switch {
	case err == nil:
		return nc, nil
	case errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked):
		return nil, fmt.Errorf("NATS refused the credentials (check cluster.credentials_file and the account): %w", err)
	case errors.Is(err, nats.ErrNoServers):
		return nil, fmt.Errorf("no NATS server reachable at %s: %w", urls, err)
	}
	return nil, fmt.Errorf("NATS connect %s: %w", urls, err)
}

// setUp checks JetStream and creates what is missing.
func (n *Node) setUp(ctx context.Context) error {
	js, err := jetstream.New(n.nc, jetstream.WithDefaultTimeout(n.opts.ConnectTimeout))
	if err != nil {
		return err
	}
	n.js = js
	if err := checkJetStream(ctx, js); err != nil {
		return err
	}
	if err := n.ensureSource(ctx); err != nil {
		return err
	}
	if err := n.ensureSparkplug(ctx); err != nil {
		return err
	}
	if err := n.ensureSparkplugState(ctx); err != nil {
		return err
	}
	if err := n.ensureFloors(ctx); err != nil {
		return err
	}
	if n.stream, err = n.ensureStream(ctx); err != nil {
		return err
	}
	for p := range n.opts.Partitions {
		if _, err := n.stream.CreateOrUpdateConsumer(ctx, n.consumerConfig(p)); err != nil {
			return fmt.Errorf("consumer of partition %d: %w", p, err)
		}
	}
	n.kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: n.opts.Bucket, History: 1,
		TTL: n.opts.LeaseTTL, Replicas: n.opts.Replicas, Storage: jetstream.FileStorage,
		Description: "riskmon partition leases and instance heartbeats"})
	if err != nil {
		return fmt.Errorf("lease bucket %s: %w", n.opts.Bucket, err)
	}
	return nil
}

// streamConfig is the stream every instance expects.
func (n *Node) streamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: n.opts.Stream, Sources: []*jetstream.StreamSource{n.source(), n.spbSource()},
		Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage, Replicas: n.opts.Replicas,
		MaxAge: n.opts.MaxAge, Discard: jetstream.DiscardOld,
		Description: "gateway messages from the MQTT listeners ($MQTT_msgs and the Sparkplug capture stream), by site partition",
		Metadata:    map[string]string{partitionsKey: strconv.Itoa(n.opts.Partitions)}}
}

// ensureStream creates the stream, or checks that the existing one has
// this instance's partition count and replicas: two counts in one
// cluster would put a site in two partitions, owned by two instances.
func (n *Node) ensureStream(ctx context.Context) (jetstream.Stream, error) {
	s, err := n.js.Stream(ctx, n.opts.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = n.js.CreateStream(ctx, n.streamConfig())
		if err != nil {
			return nil, fmt.Errorf("create stream %s: %w", n.opts.Stream, err)
		}
		n.log.Info("cluster stream created", "stream", n.opts.Stream, "partitions", n.opts.Partitions, "replicas", n.opts.Replicas)
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", n.opts.Stream, err)
	}
	have := s.CachedInfo().Config
	if err := checkStream(have, n.opts); err != nil {
		return nil, err
	}
	if len(have.Sources) < len(n.streamConfig().Sources) {
		// A stream made by an earlier riskmon lacks the Sparkplug
		// source; adding a source keeps every stored message.
		have.Sources = n.streamConfig().Sources
		if s, err = n.js.UpdateStream(ctx, have); err != nil {
			return nil, fmt.Errorf("add the Sparkplug source to stream %s: %w", n.opts.Stream, err)
		}
		n.log.Info("cluster stream now sources Sparkplug B", "stream", n.opts.Stream)
	}
	return s, nil
}

// checkJetStream asks JetStream for the account's figures, telling "off"
// from "not answering".
func checkJetStream(ctx context.Context, js jetstream.JetStream) error {
	if _, err := js.AccountInfo(ctx); err != nil {
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return fmt.Errorf("JetStream is not enabled on the NATS cluster (or for this account): %w", err)
		}
		return fmt.Errorf("JetStream not answering (is the cluster short of its quorum?): %w", err)
	}
	return nil
}

// checkStream compares an existing stream with opts.
func checkStream(cfg jetstream.StreamConfig, opts Options) error {
	if got := cfg.Metadata[partitionsKey]; got != strconv.Itoa(opts.Partitions) {
		if got == "" {
			got = "none recorded"
		}
		return &MismatchError{Stream: opts.Stream, What: "partitions", Want: strconv.Itoa(opts.Partitions), Got: got}
	}
	if cfg.Replicas != opts.Replicas {
		return &MismatchError{Stream: opts.Stream, What: "replicas", Want: strconv.Itoa(opts.Replicas), Got: strconv.Itoa(cfg.Replicas)}
	}
	return nil
}

// MismatchError is an instance configured unlike the cluster's stream.
type MismatchError struct {
	Stream, What, Want, Got string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("cluster.%s is %s but stream %s was created with %s: every instance must use the stream's value (or the stream must be recreated, which drops its messages)",
		e.What, e.Want, e.Stream, e.Got)
}

// consumerConfig is partition p's durable consumer: explicit acks, and a
// message not acknowledged within AckWait goes to whoever fetches next.
func (n *Node) consumerConfig(p int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{Durable: consumerName(p), FilterSubject: partitionFilter(p),
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: n.opts.AckWait, MaxAckPending: n.opts.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy, MaxDeliver: -1, Replicas: n.opts.Replicas,
		Description: fmt.Sprintf("riskmon partition %d; read only by its lease holder", p)}
}

func consumerName(p int) string { return "riskmon_p" + strconv.Itoa(p) }

// Connected reports whether the NATS connection is up.
func (n *Node) Connected() bool { return n.nc.IsConnected() }

// Instance is this instance's id.
func (n *Node) Instance() string { return n.opts.Instance }

// Partitions is the partition count.
func (n *Node) Partitions() int { return n.opts.Partitions }

// Replicas is how many NATS nodes keep the stream and the buckets.
func (n *Node) Replicas() int { return n.opts.Replicas }

// now is the node's monotonic time.
func (n *Node) now() int64 { return int64(time.Since(n.epoch)) }

// Publish sends an MQTT message to the gateways at QoS 0 without retain:
// a plain NATS publish on the topic's subject, which the MQTT listeners
// deliver to their subscribers. Sparkplug rebirth requests go this way,
// as the specification wants commands (fire and forget: a lost request
// is asked again by the next message the edge node's state cannot take).
func (n *Node) Publish(topic string, payload []byte) error {
	if err := n.nc.Publish(topicToSubject(topic), payload); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}
