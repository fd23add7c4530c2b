package ingest

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riskmon/riskmon/protocol/sparkplug"
	"github.com/riskmon/riskmon/sensors"
)

// Message is one gateway message, whatever brought it: its MQTT topic,
// its payload, and Ack, called once its readings are safe in the spool or
// it is rejected for good.
type Message interface {
	Topic() string
	Payload() []byte
	Ack()
}

// Source is where a Pipeline takes its messages from: the MQTT
// Collector, or a Feed that another package fills (the cluster's
// JetStream partitions).
type Source interface {
	// Run takes messages until ctx ends, then drains what it took into
	// the spool.
	Run(ctx context.Context) error
	// Disconnect closes the connection once the spool's last commit has
	// acknowledged what it held.
	Disconnect()
	Connected() bool
	Registry() *sensors.Registry
}

// current is a message that can tell it may no longer be handled here:
// a cluster message whose partition lease this instance no longer
// trusts. Such a message is neither evaluated nor acknowledged.
type current interface{ Current() bool }

// naker is a message that can be handed back for delivery again at once.
type naker interface{ Nak() }

// replayed is a message handed on again from the cluster's log: an
// earlier holder of its partition evaluated it, so only its readings are
// stored, and its gateway events are not reported again.
type replayed interface{ Replayed() bool }

// tagged is a message whose source waits for its readings to be stored
// in InfluxDB, not only spooled: StoredTag names it to FeedOptions.Stored.
type tagged interface{ StoredTag() uint64 }

// FeedOptions configure a Feed.
type FeedOptions struct {
	// Pull reads messages and hands each to deliver until ctx ends.
	// deliver blocks while the workers are busy; a message it refuses
	// (the feed is stopping) is handed back and not acknowledged.
	Pull func(ctx context.Context, deliver func(Message)) error
	// IsConnected reports whether the source's connection is up.
	IsConnected func() bool
	// Close, if set, runs at Disconnect: after the last acknowledgement.
	Close func()
	// Publish, if set, sends the messages the processor asks for (a
	// Sparkplug rebirth request) to the gateways.
	Publish func(topic string, payload []byte) error
	// Stored, if set, learns the StoredTag of each message whose
	// readings are in InfluxDB (or that had none to store), in the
	// order they were stored. The Feed takes the spool's OnStored.
	Stored func(tag uint64)
	// Sparkplug, if set, is the tracker of Sparkplug B edge nodes the
	// workers share, one that keeps its BIRTH definitions where the
	// next owner of a site finds them (sparkplug.Tracker.UseStore).
	Sparkplug *sparkplug.Tracker
	// Workers and QueueSize as in CollectorOptions.
	Workers   int
	QueueSize int
	// Registry as in CollectorOptions.
	Registry *sensors.Provider
}

// Feed is a Source for messages another package reads: it decodes,
// validates, evaluates and spools them on its workers exactly as the
// Collector does, one gateway's messages on one worker in order, and
// acknowledges each once it is safe in the spool.
//
// Sparkplug rebirth requests go out through FeedOptions.Publish; riskmon's
// own Sparkplug STATE, which the Collector publishes as Primary Host, is
// not published from here.
type Feed struct {
	opts     FeedOptions
	lim      Limits
	rej      *Rejecter
	m        *Metrics
	sp       *Spool
	onRead   ReadingsFunc
	onGW     GatewayFunc
	spb      *sparkplug.Tracker
	log      *slog.Logger
	registry *sensors.Provider
	queues   []chan Message
	// quit closes when Run's ctx ends: deliver stops waiting for room.
	quit chan struct{}
	// qmu guards the queues' closing against deliver's sends.
	qmu    sync.RWMutex
	closed bool
	stale  prometheus.Counter
}

// NewFeed wires a feed; call Run to start it.
func NewFeed(opts FeedOptions, reg *sensors.Registry, lim Limits, rej *Rejecter, m *Metrics,
	sp *Spool, onRead ReadingsFunc, onGW GatewayFunc, log *slog.Logger, promReg prometheus.Registerer) *Feed {
	co := CollectorOptions{Workers: opts.Workers, QueueSize: opts.QueueSize}.withDefaults()
	opts.Workers, opts.QueueSize = co.Workers, co.QueueSize
	f := &Feed{opts: opts, lim: lim, rej: rej, m: m, sp: sp, onRead: onRead, onGW: onGW,
		spb: opts.Sparkplug, log: log, registry: opts.Registry, quit: make(chan struct{})}
	if f.registry == nil {
		f.registry = sensors.NewProvider(reg)
	}
	if f.spb == nil {
		f.spb = sparkplug.NewTracker()
	}
	if opts.Stored != nil {
		sp.OnStored(opts.Stored)
	}
	f.queues = make([]chan Message, opts.Workers)
	for i := range f.queues {
		f.queues[i] = make(chan Message, opts.QueueSize)
	}
	f.stale = prometheus.NewCounter(prometheus.CounterOpts{Name: "riskmon_ingest_stale_messages_total",
		Help: "Messages left unhandled because this instance no longer trusted its lease on their partition; the partition's next holder gets them."})
	if promReg != nil {
		promReg.MustRegister(f.stale)
	}
	return f
}

// Registry is the registry the workers validate against.
func (f *Feed) Registry() *sensors.Registry { return f.registry.Registry() }

// Connected reports whether the source's connection is up.
func (f *Feed) Connected() bool { return f.opts.IsConnected != nil && f.opts.IsConnected() }

// Disconnect runs the source's Close.
func (f *Feed) Disconnect() {
	if f.opts.Close != nil {
		f.opts.Close()
	}
	f.m.Connected.Set(0)
}

// Run starts the workers and pulls until ctx ends, then drains the
// worker queues into the spool.
func (f *Feed) Run(ctx context.Context) error {
	var workers sync.WaitGroup
	for _, q := range f.queues {
		workers.Go(func() { f.work(q) })
	}
	stopWatch := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() { f.watch(ctx, stopWatch) })
	err := f.opts.Pull(ctx, f.deliver)
	close(stopWatch)
	watch.Wait()
	f.qmu.Lock()
	f.closed = true
	for _, q := range f.queues {
		close(q)
	}
	f.qmu.Unlock()
	workers.Wait()
	return err
}

// watch closes quit when ctx ends and keeps the connected gauge.
func (f *Feed) watch(ctx context.Context, stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if f.Connected() {
			f.m.Connected.Set(1)
		} else {
			f.m.Connected.Set(0)
		}
		select {
		case <-ctx.Done():
			close(f.quit)
			return
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// deliver queues msg on its gateway's worker, waiting for room; once the
// feed is stopping it hands the message back instead.
func (f *Feed) deliver(msg Message) {
	f.qmu.RLock()
	defer f.qmu.RUnlock()
	if f.closed {
		giveBack(msg)
		return
	}
	q := f.queues[topicHash(routeKey(msg.Topic()))%uint32(len(f.queues))]
	select {
	case q <- msg:
	case <-f.quit:
		giveBack(msg)
	}
}

func giveBack(msg Message) {
	if n, ok := msg.(naker); ok {
		n.Nak()
	}
}

func (f *Feed) work(q <-chan Message) {
	p := NewProcessor(f.registry.Registry(), f.lim, f.rej, f.m, f.spb)
	p.follow = f.registry
	in := intake{sp: f.sp, onRead: f.onRead, onGW: f.onGW, stored: f.opts.Stored}
	tick := time.NewTicker(seqExpireEvery)
	defer tick.Stop()
	for {
		var msg Message
		select {
		case m, ok := <-q:
			if !ok {
				return
			}
			msg = m
		case now := <-tick.C:
			in.events(p.Expire(now).Events)
			continue
		}
		if c, ok := msg.(current); ok && !c.Current() {
			f.stale.Inc()
			giveBack(msg)
			continue
		}
		out := p.Process(msg.Topic(), msg.Payload(), time.Now())
		r, ok := msg.(replayed)
		live := !ok || !r.Replayed()
		// A rebirth request is sent for a replayed message too: the
		// tracker asks once per edge node taken over, and the replay
		// comes first.
		f.send(out.Commands)
		if live {
			in.events(out.Events)
		}
		var tag uint64
		if t, ok := msg.(tagged); ok {
			tag = t.StoredTag()
		}
		if err := in.spool(out.Readings, func() { msg.Ack(); f.m.Acked.Inc() }, tag, live); err != nil {
			f.log.Warn("spool closed; message left for redelivery", "topic", msg.Topic())
		}
	}
}

// send publishes the processor's commands; a failure is logged, as the
// next message the edge node's state cannot take asks again.
func (f *Feed) send(cmds []Command) {
	if f.opts.Publish == nil {
		return
	}
	for _, c := range cmds {
		if err := f.opts.Publish(c.Topic, c.Payload); err != nil {
			f.log.Warn("Sparkplug command not sent", "topic", c.Topic, "err", err)
		}
	}
}
