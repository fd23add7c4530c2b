package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// fetchBatch is how many messages one pull asks for; fetchWait how long
// it waits for them. A short wait keeps a stopped partition from being
// read for long after its lease ends.
const (
	fetchBatch = 256
	fetchWait  = 500 * time.Millisecond
)

// read pulls l's partition until ctx ends, handing each message on while
// the lease is trusted.
func (n *Node) read(ctx context.Context, l *lease, cons jetstream.Consumer, deliver func(*Msg)) {
	for ctx.Err() == nil {
		if !l.current(n.now()) {
			// Not renewed in time: fetch nothing until it is, or until
			// the lease is found lost.
			sleep(ctx, 50*time.Millisecond)
			continue
		}
		batch, err := cons.Fetch(fetchBatch, jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			if ctx.Err() == nil {
				n.log.Warn("partition fetch failed", "partition", l.p, "err", err)
				sleep(ctx, 250*time.Millisecond)
			}
			continue
		}
		for jm := range batch.Messages() {
			n.hand(l, jm, deliver)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			n.log.Debug("partition fetch ended early", "partition", l.p, "err", err)
		}
	}
}

// hand passes one fetched message on, or naks what cannot be read as a
// riskmon topic (it cannot be under the stream's transform).
func (n *Node) hand(l *lease, jm jetstream.Msg, deliver func(*Msg)) {
	topic, ok := subjectToTopic(jm.Subject())
	l.inflight.Add(1)
	m := &Msg{jm: jm, topic: topic, l: l, n: n}
	if md, err := jm.Metadata(); err == nil {
		m.seq = md.Sequence.Stream
		l.fl.delivered(m.seq)
	}
	if !ok {
		n.log.Warn("message on an unexpected subject acknowledged and skipped", "subject", jm.Subject())
		m.Ack()
		l.fl.stored(m.seq) // nothing of it to store
		return
	}
	n.m.Delivered.Inc()
	deliver(m)
}

// lagEvery is how often the lag figures are read from JetStream.
const lagEvery = 5 * time.Second

// watchLag reads, every lagEvery until ctx ends, how far the stream is
// behind the MQTT listeners and how many messages wait in the owned
// partitions.
func (n *Node) watchLag(ctx context.Context) {
	t := time.NewTicker(lagEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, n.opts.ConnectTimeout)
		n.readLag(rctx)
		cancel()
	}
}

func (n *Node) readLag(ctx context.Context) {
	info, err := n.stream.Info(ctx)
	if err != nil {
		return
	}
	var lag uint64
	for _, src := range info.Sources {
		lag += src.Lag
	}
	n.m.SourceLag.Set(float64(lag))
	var pending uint64
	for _, p := range n.Owned() {
		cons, err := n.stream.Consumer(ctx, consumerName(p))
		if err != nil {
			return
		}
		ci := cons.CachedInfo()
		pending += ci.NumPending + uint64(ci.NumAckPending)
	}
	n.m.Pending.Set(float64(pending))
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Msg is one gateway message read from a partition.
type Msg struct {
	jm    jetstream.Msg
	topic string
	l     *lease
	n     *Node
	done  bool
	// seq is the message's stream sequence (0 if unknown).
	seq uint64
	// replay marks a message handed on again from above the stored
	// floor: acknowledged by an earlier holder, which evaluated it.
	replay bool
}

// StoredTag names the message to Node.Stored once its readings are in
// InfluxDB; 0 when its sequence is unknown.
func (m *Msg) StoredTag() uint64 {
	if m.seq == 0 {
		return 0
	}
	return storedTag(m.seq, m.l.p)
}

// Replayed reports a message handed on again from above the stored
// floor: store its readings, but do not evaluate them or report its
// gateway events again.
func (m *Msg) Replayed() bool { return m.replay }

// Topic is the MQTT topic the gateway published on.
func (m *Msg) Topic() string { return m.topic }

// Payload is the MQTT payload.
func (m *Msg) Payload() []byte { return m.jm.Data() }

// Current reports whether this instance still trusts its lease on the
// message's partition. A message that is no longer current must not be
// evaluated or acknowledged: the next holder gets it again.
func (m *Msg) Current() bool { return m.l.current(m.n.now()) }

// Ack tells JetStream the message is safe; called once.
func (m *Msg) Ack() {
	if m.done {
		return
	}
	m.done = true
	if m.replay {
		// An ordered consumer's messages take no acknowledgement.
		m.l.inflight.Add(-1)
		return
	}
	if err := m.jm.Ack(); err != nil {
		m.n.log.Debug("ack not sent; the message comes again after ack_wait", "err", err)
	}
	m.l.inflight.Add(-1)
}

// Nak gives the message back for delivery again at once, to whoever
// holds the partition by then.
func (m *Msg) Nak() {
	if m.done {
		return
	}
	m.done = true
	if !m.replay {
		_ = m.jm.Nak()
		m.l.fl.forget(m.seq)
	}
	// A replayed message comes back from no one: its mark stays, and
	// holds the floor below it until a later holder replays it again.
	m.l.inflight.Add(-1)
}
