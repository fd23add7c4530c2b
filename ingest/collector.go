package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmon/riskmon/protocol"
	"github.com/riskmon/riskmon/protocol/sparkplug"
	"github.com/riskmon/riskmon/sensors"
)

// CollectorOptions configure the MQTT side of ingest.
type CollectorOptions struct {
	Broker   string `yaml:"broker"`    // tcp://host:1883, ssl://host:8883, ws://…
	ClientID string `yaml:"client_id"` // stable, so the broker keeps our session
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Topics to subscribe to at QoS 1; default DefaultTopics.
	Topics []string `yaml:"topics"`
	// Workers decode and validate in parallel; one gateway's messages
	// always go to the same worker so its readings stay in order.
	Workers int `yaml:"workers"`
	// QueueSize is each worker's queue. Keep Workers*QueueSize above the
	// broker's in-flight window: a full queue leaves a message
	// unacknowledged until the next reconnect.
	QueueSize      int           `yaml:"queue_size"`
	KeepAlive      time.Duration `yaml:"keep_alive"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	TLS            *tls.Config   `yaml:"-"`
	// SparkplugHostID, when set, makes riskmon a Sparkplug 3.0 Primary
	// Host Application: it registers spBv1.0/STATE/{id} offline as its
	// will, publishes it online (retained, QoS 1) once subscribed, and
	// offline before a clean disconnect. Edge nodes configured with this
	// host id hold their data while riskmon is away and replay it when it
	// returns.
	SparkplugHostID string `yaml:"sparkplug_host_id"`
	// Registry, when set, is where the service publishes the registry in
	// force; the workers validate against it from their next message, so
	// sensors a reload adds are accepted without a restart. Nil: the
	// registry NewCollector was given, for good.
	Registry *sensors.Provider `yaml:"-"`
}

func (o CollectorOptions) withDefaults() CollectorOptions {
	if o.ClientID == "" {
		o.ClientID = "riskmon-ingest"
	}
	if len(o.Topics) == 0 {
		o.Topics = DefaultTopics()
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 65536
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = 30 * time.Second
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	return o
}

// DefaultTopics are every format riskmon takes: JSON batches, line
// protocol, gateway status and Sparkplug B.
func DefaultTopics() []string {
	return []string{protocol.ReadingsFilter, protocol.LPFilter, protocol.StatusFilter, sparkplug.Filter}
}

// GatewayFunc receives gateway status changes and sequence gaps.
type GatewayFunc func(sensors.GatewayEvent)

// ReadingsFunc receives each message's valid readings on the worker that
// decoded them, before they are written. The alerting engine hangs here,
// so an alert never waits for storage. The slice is reused afterwards.
type ReadingsFunc func([]sensors.Reading)

// Collector subscribes to gateway topics and feeds the writer.
//
// Delivery: messages arrive at QoS 1 on a persistent session with manual
// acknowledgement. A message is acknowledged only once its readings are
// durable in the spool (fsynced) or rejected for good (parked in the
// dead-letter store); a crash before that makes the broker deliver it
// again, and a redelivered reading overwrites its own point (same series,
// same time).
type Collector struct {
	opts   CollectorOptions
	lim    Limits
	rej    *Rejecter
	m      *Metrics
	sp     *Spool
	onRead ReadingsFunc
	onGW   GatewayFunc
	spb    *sparkplug.Tracker
	log    *slog.Logger

	// clientMu guards client, which recoverOverflow replaces.
	clientMu sync.Mutex
	client   mqtt.Client
	queues   []chan mqtt.Message
	// qmu guards accepting and the queues' closing: the handler sends
	// under the read lock, shutdown closes under the write lock.
	qmu       sync.RWMutex
	accepting bool
	overflow  prometheus.Counter
	// overflowed is set when a message was left unacknowledged because
	// its queue was full. From then on every message is left so until
	// recoverOverflow has reconnected: the broker then sends them all
	// again in their order, so no gateway's later message is taken
	// before an earlier one it left (which would look like a loss).
	overflowed atomic.Bool
	// taken counts messages put in a worker queue and not yet
	// acknowledged (or given up on); recoverOverflow waits for it to
	// drain so that none is sent twice.
	taken     atomic.Int64
	connected atomic.Bool
	// registry is what the workers validate against.
	registry *sensors.Provider
	// stateMS is the timestamp of the STATE will the present connection
	// registered; its STATE birth repeats it.
	stateMS atomic.Int64
	// leaving is set once riskmon has published its STATE offline to
	// shut down: that offline is not to be answered.
	leaving atomic.Bool
}

// NewCollector wires a collector; call Run to start it.
func NewCollector(opts CollectorOptions, reg *sensors.Registry, lim Limits, rej *Rejecter, m *Metrics,
	sp *Spool, onRead ReadingsFunc, onGW GatewayFunc, log *slog.Logger, promReg prometheus.Registerer) *Collector {
	opts = opts.withDefaults()
	c := &Collector{opts: opts, lim: lim, rej: rej, m: m, sp: sp, onRead: onRead, onGW: onGW,
		spb: sparkplug.NewTracker(), log: log}
	c.registry = opts.Registry
	if c.registry == nil {
		c.registry = sensors.NewProvider(reg)
	}
	c.queues = make([]chan mqtt.Message, opts.Workers)
	for i := range c.queues {
		c.queues[i] = make(chan mqtt.Message, opts.QueueSize)
	}
	c.overflow = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "riskmon_ingest_queue_overflow_total",
		Help: "Messages left unacknowledged because a worker queue was full, or held after that until the reconnect; the broker redelivers them, in order, after it."})
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "riskmon_ingest_queue_depth", Help: "Messages waiting in the worker queues."},
		func() float64 { return float64(c.queued()) })
	if promReg != nil {
		promReg.MustRegister(c.overflow, depth)
	}
	return c
}

// Registry is the registry the workers validate against.
func (c *Collector) Registry() *sensors.Registry { return c.registry.Registry() }

// RestoreSparkplug keeps the Sparkplug edge nodes' BIRTH definitions in
// dir and loads those of the last run, so DATA that arrives before the
// next BIRTH is read with them (sparkplug.Tracker.Restore). Call it
// before Run.
func (c *Collector) RestoreSparkplug(dir string) (int, error) { return c.spb.Restore(dir) }

// Connected reports whether the broker connection is up.
func (c *Collector) Connected() bool { return c.connected.Load() }

func (c *Collector) clientOptions() *mqtt.ClientOptions {
	o := mqtt.NewClientOptions().
		AddBroker(c.opts.Broker).
		SetClientID(c.opts.ClientID).
		SetUsername(c.opts.Username).
		SetPassword(c.opts.Password).
		// A persistent session: the broker queues QoS 1 messages while
		// we are away and redelivers what we did not acknowledge.
		SetCleanSession(false).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		// Retry every second, not backing off to paho's 10 s: after a
		// broker crash that lost our session, messages published before
		// we resubscribe have no subscriber and are dropped, so every
		// second away widens that hole. One attempt a second is nothing
		// for a broker to refuse.
		SetMaxReconnectInterval(time.Second).
		SetKeepAlive(c.opts.KeepAlive).
		SetConnectTimeout(c.opts.ConnectTimeout).
		SetAutoAckDisabled(true).
		// In order: the handler only does a non-blocking send, so it
		// never stalls paho's router, and one gateway's messages reach
		// their worker in the order the broker sent them.
		SetOrderMatters(true).
		// Registered before Connect so messages the broker queued for
		// our session have a handler the moment they arrive.
		SetDefaultPublishHandler(c.handle).
		SetOnConnectHandler(c.onConnect).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			c.connected.Store(false)
			c.m.Connected.Set(0)
			c.log.Warn("MQTT connection lost; reconnecting", "broker", c.opts.Broker, "err", err)
		})
	if c.opts.TLS != nil {
		o.SetTLSConfig(c.opts.TLS)
	}
	o.SetStore(newSessionStore())
	if u, err := url.Parse(c.opts.Broker); err == nil && bufferedSchemes[u.Scheme] {
		o.SetCustomOpenConnectionFn(openBuffered)
	}
	if c.opts.SparkplugHostID != "" {
		// The will's timestamp is that of the connect that registers it,
		// and the birth repeats it: a new one for every reconnect.
		now := time.Now()
		c.stateMS.Store(now.UnixMilli())
		o.SetBinaryWill(sparkplug.StateTopic(c.opts.SparkplugHostID), sparkplug.StatePayload(false, now), 1, true)
		o.SetReconnectingHandler(func(_ mqtt.Client, o *mqtt.ClientOptions) {
			now := time.Now()
			c.stateMS.Store(now.UnixMilli())
			o.WillPayload = sparkplug.StatePayload(false, now)
		})
	}
	return o
}

// publishState publishes riskmon's Sparkplug STATE, retained at QoS 1,
// with the timestamp of the present connection's will, and waits for the
// broker to take it.
func (c *Collector) publishState(cl mqtt.Client, online bool) error {
	tok := cl.Publish(sparkplug.StateTopic(c.opts.SparkplugHostID), 1, true,
		sparkplug.StatePayload(online, time.UnixMilli(c.stateMS.Load())))
	if !tok.WaitTimeout(c.opts.ConnectTimeout) {
		return errors.New("timed out")
	}
	return tok.Error()
}

// onConnect subscribes on every (re)connect: a broker that lost our
// session would otherwise leave us connected and deaf.
func (c *Collector) onConnect(cl mqtt.Client) {
	filters := make(map[string]byte, len(c.opts.Topics)+1)
	covered := c.opts.SparkplugHostID == ""
	for _, t := range c.opts.Topics {
		filters[t] = 1
		covered = covered || filterMatches(t, sparkplug.StateTopic(c.opts.SparkplugHostID))
	}
	if !covered {
		// A Primary Host watches its own STATE (see ownState); added only
		// when no configured filter covers it, as overlapping
		// subscriptions can deliver a message twice.
		filters[sparkplug.StateTopic(c.opts.SparkplugHostID)] = 1
	}
	tok := cl.SubscribeMultiple(filters, nil)
	if !tok.WaitTimeout(c.opts.ConnectTimeout) || tok.Error() != nil {
		c.log.Error("MQTT subscribe failed; reconnecting", "topics", c.opts.Topics, "err", tok.Error())
		// Dropping the connection makes paho reconnect and try again.
		go cl.Disconnect(0)
		return
	}
	// Online only once subscribed: an edge node that sees it may send at
	// once, and what it sends before our subscription would be lost.
	if c.opts.SparkplugHostID != "" {
		if err := c.publishState(cl, true); err != nil {
			c.log.Error("Sparkplug STATE online not published; reconnecting", "host_id", c.opts.SparkplugHostID, "err", err)
			go cl.Disconnect(0)
			return
		}
	}
	c.connected.Store(true)
	c.m.Connected.Set(1)
	c.log.Info("MQTT connected and subscribed", "broker", c.opts.Broker, "client_id", c.opts.ClientID, "topics", c.opts.Topics)
}

// filterMatches reports whether the MQTT topic filter matches topic.
func filterMatches(filter, topic string) bool {
	for {
		f, frest, fmore := strings.Cut(filter, "/")
		t, trest, tmore := strings.Cut(topic, "/")
		switch {
		case f == "#":
			return true
		case f != "+" && f != t:
			return false
		case !fmore || !tmore:
			return fmore == tmore || (!tmore && frest == "#")
		}
		filter, topic = frest, trest
	}
}

// handle runs on paho's router goroutine and must never block.
func (c *Collector) handle(cl mqtt.Client, msg mqtt.Message) {
	c.qmu.RLock()
	defer c.qmu.RUnlock()
	if !c.accepting {
		// Shutting down: leave it unacknowledged for redelivery.
		return
	}
	if c.overflowed.Load() || cl != c.mqtt() {
		// Held until the reconnect (see overflowed), or from a client
		// recoverOverflow has already replaced: the broker sends it
		// again on the new connection, in order.
		c.overflow.Inc()
		return
	}
	q := c.queues[topicHash(routeKey(msg.Topic()))%uint32(len(c.queues))]
	c.taken.Add(1)
	select {
	case q <- msg:
	default:
		c.taken.Add(-1)
		c.overflow.Inc()
		c.overflowed.Store(true)
	}
}

// routeKey is the part of a topic that names its gateway, so all of one
// gateway's messages (readings, line protocol, status; Sparkplug BIRTH,
// DATA and DEATH) reach the same worker in order.
func routeKey(topic string) string {
	if rest, ok := strings.CutPrefix(topic, sparkplug.Namespace+"/"); ok {
		// {group}/{type}/{edge}[/{device}]: group and edge, not type.
		group, rest, _ := strings.Cut(rest, "/")
		_, rest, _ = strings.Cut(rest, "/")
		edge, _, _ := strings.Cut(rest, "/")
		return topic[:len(sparkplug.Namespace)+1+len(group)] + "/" + edge
	}
	if i := strings.LastIndexByte(topic, '/'); i > 0 {
		return topic[:i]
	}
	return topic
}

// topicHash is FNV-1a, inlined to keep the router goroutine allocation-free.
func topicHash(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// seqExpireEvery is how often an idle worker reports sequence gaps whose
// grace period has run out.
const seqExpireEvery = time.Second

func (c *Collector) work(q <-chan mqtt.Message) {
	p := NewProcessor(c.registry.Registry(), c.lim, c.rej, c.m, c.spb)
	p.follow = c.registry
	in := intake{sp: c.sp, onRead: c.onRead, onGW: c.onGW}
	tick := time.NewTicker(seqExpireEvery)
	defer tick.Stop()
	stateTopic := ""
	if c.opts.SparkplugHostID != "" {
		stateTopic = sparkplug.StateTopic(c.opts.SparkplugHostID)
	}
	for {
		// A message waiting is taken without a select on the timer too:
		// under load there nearly always is one, and Process expires
		// the gaps itself.
		var msg mqtt.Message
		var ok bool
		select {
		case msg, ok = <-q:
		default:
			select {
			case msg, ok = <-q:
			case now := <-tick.C:
				// A gateway that went quiet after a loss still has it
				// reported.
				in.events(p.Expire(now).Events)
				continue
			}
		}
		if !ok {
			return
		}
		if stateTopic != "" && msg.Topic() == stateTopic {
			c.ownState(msg)
		}
		out := p.Process(msg.Topic(), msg.Payload(), time.Now())
		for _, cmd := range out.Commands {
			// Fire and forget: a lost rebirth request is asked again
			// by the next DATA message with an unknown alias.
			c.mqtt().Publish(cmd.Topic, 0, false, cmd.Payload)
		}
		in.events(out.Events)
		if err := in.store(out.Readings, func() { msg.Ack(); c.m.Acked.Inc(); c.taken.Add(-1) }, 0); err != nil {
			c.taken.Add(-1)
			c.log.Warn("spool closed; message left for redelivery", "topic", msg.Topic())
		}
	}
}

// ownState answers our own STATE topic: an offline one while we are
// connected (a will of an earlier connection delivered late, or another
// client publishing as us) would make edge nodes hold their data, so the
// specification has the host publish online again at once.
func (c *Collector) ownState(msg mqtt.Message) {
	st, err := sparkplug.ParseHostState(msg.Payload())
	if err != nil || st.Online || !c.connected.Load() || c.leaving.Load() {
		return
	}
	c.log.Warn("our Sparkplug STATE reads offline while we are connected; publishing online again", "host_id", c.opts.SparkplugHostID)
	if err := c.publishState(c.mqtt(), true); err != nil {
		c.log.Error("Sparkplug STATE online not published", "host_id", c.opts.SparkplugHostID, "err", err)
	}
}

// stateGrace is how long riskmon keeps taking messages after publishing
// its STATE offline at shutdown: an edge node may have sent DATA before
// the STATE reached it, and those messages (QoS 0, as Sparkplug sends
// them) would be lost once we disconnect.
const stateGrace = 300 * time.Millisecond

// Run connects and consumes until ctx ends, then stops taking messages and
// drains the worker queues into the spool. It does not disconnect: the
// spool's last commit still has acknowledgements to send; call Disconnect
// after it.
func (c *Collector) Run(ctx context.Context) error {
	c.accepting = true
	var workers sync.WaitGroup
	for _, q := range c.queues {
		workers.Go(func() { c.work(q) })
	}
	c.connect()

	go c.recoverOverflow(ctx, time.Second)

	<-ctx.Done()
	if c.opts.SparkplugHostID != "" && c.connected.Load() {
		c.leaving.Store(true)
		if err := c.publishState(c.mqtt(), false); err != nil {
			c.log.Warn("Sparkplug STATE offline not published; edge nodes learn it from the will", "err", err)
		} else if c.spb.Len() > 0 {
			time.Sleep(stateGrace)
		}
	}
	c.qmu.Lock()
	c.accepting = false
	for _, q := range c.queues {
		close(q)
	}
	c.qmu.Unlock()
	workers.Wait()
	return nil
}

// ackFlush is how long recoverOverflow lets paho write the queued
// acknowledgements before it disconnects: tens of thousands of them take
// a few milliseconds.
const ackFlush = 250 * time.Millisecond

// recoverOverflow reconnects after a worker queue overflowed, once the
// queues have drained and what they held is acknowledged: a message left
// unacknowledged holds a slot of the broker's in-flight window, and the
// broker sends it again only on a new connection of the same session.
// Waiting for the acknowledgements keeps the broker from sending a
// message again that was already taken.
func (c *Collector) recoverOverflow(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !c.overflowed.Load() || c.taken.Load() > 0 {
			continue
		}
		c.log.Warn("a worker queue overflowed; reconnecting so the broker redelivers what was left unacknowledged (raise mqtt.queue_size above the broker's in-flight window)")
		// A moment for the last acknowledgements to leave before the
		// DISCONNECT: paho writes acknowledgements and the DISCONNECT
		// from separate queues in no set order, and an acknowledgement
		// still queued behind it is lost, so the broker would send that
		// message again although it was taken.
		select {
		case <-ctx.Done():
			return
		case <-time.After(ackFlush):
		}
		c.mqtt().Disconnect(100)
		c.connected.Store(false)
		c.m.Connected.Set(0)
		if ctx.Err() != nil {
			return
		}
		// A new client: paho reusing a client after Disconnect does not
		// get the session's unacknowledged messages again (seen with
		// Mosquitto 2.0), a fresh one with the same client id does.
		c.connect()
	}
}

// connect starts a new client of our session; with connect-retry on its
// token completes once connected or at Disconnect, so nobody waits on it.
// Messages are taken again from the new client on: handle leaves those
// the old one may still deliver.
func (c *Collector) connect() {
	cl := mqtt.NewClient(c.clientOptions())
	c.clientMu.Lock()
	c.client = cl
	c.clientMu.Unlock()
	c.overflowed.Store(false)
	tok := cl.Connect()
	go func() {
		tok.Wait()
		if err := tok.Error(); err != nil {
			c.log.Error("MQTT connect failed", "broker", c.opts.Broker, "err", err)
		}
	}()
}

func (c *Collector) mqtt() mqtt.Client {
	c.clientMu.Lock()
	defer c.clientMu.Unlock()
	return c.client
}

func (c *Collector) queued() int {
	n := 0
	for _, q := range c.queues {
		n += len(q)
	}
	return n
}

// Disconnect closes the broker connection, giving in-flight
// acknowledgements a moment to leave.
func (c *Collector) Disconnect() {
	if cl := c.mqtt(); cl != nil {
		cl.Disconnect(250)
	}
	c.connected.Store(false)
	c.m.Connected.Set(0)
}

// WaitConnected blocks until the collector is subscribed or ctx ends.
func (c *Collector) WaitConnected(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !c.connected.Load() {
		select {
		case <-ctx.Done():
			return errors.New("MQTT broker not connected: " + ctx.Err().Error())
		case <-t.C:
		}
	}
	return nil
}
