package simulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/riskmon/riskmon/protocol"
	"github.com/riskmon/riskmon/protocol/sparkplug"
	"github.com/riskmon/riskmon/protocol/sparkplug/spb"
	"github.com/riskmon/riskmon/sensors"
	"google.golang.org/protobuf/proto"
)

// Defaults for Options left at zero.
const (
	DefaultInterval       = 5 * time.Second
	DefaultPublishTimeout = 10 * time.Second
)

// malformedEveryTicks spaces malformed messages in a run without a
// reading limit, where the stream has no known length to spread them
// over.
const malformedEveryTicks = 10

// Options configure a Publisher.
type Options struct {
	// Broker is the MQTT broker URL, e.g. tcp://127.0.0.1:1883, or
	// several separated by commas (the nodes of a broker cluster).
	Broker string
	// Fleet is the gateways and sensors to play; its Format and Formats
	// choose each gateway's payload format.
	Fleet Fleet
	// Catalog the fleet is checked against; nil means
	// sensors.DefaultCatalog().
	Catalog   *sensors.Catalog
	Incidents []GasLeak
	// Scripted are further incidents from the library (GasLeak among
	// them); GatewayIncidents act on their gateway. They apply after
	// Incidents: the first active one shapes a sensor's value.
	Scripted []Incident
	// Interval is the device time between two batches of one gateway;
	// zero means DefaultInterval.
	Interval time.Duration
	// Speed runs device time this many times faster than the wall clock:
	// 0 means 1 (real time), 60 plays an hour a minute, +Inf publishes as
	// fast as the broker acknowledges.
	Speed float64
	// MaxReadings stops the run after exactly this many readings in
	// total; the last batch of a gateway may then be partial. 0 means no
	// limit: the run ends with its context.
	MaxReadings int
	// Duration stops the run once device time has advanced this far
	// past Start: the last batch is the one at elapsed Duration. Zero
	// means no limit. MaxReadings, when set, takes precedence.
	Duration time.Duration
	// Malformed is how many malformed messages to inject, cycling through
	// the MalformedKind values. With MaxReadings they are spread evenly
	// over the stream; without, one goes out every ten rounds, rotating
	// through the gateways.
	Malformed int
	// Seed makes the run reproducible: with the same Seed, Start and
	// fleet, every payload is the same byte for byte.
	Seed int64
	// Start is the device time of the first batch; zero means the wall
	// clock when Run starts.
	Start time.Time
	// PublishTimeout bounds connecting and is how long a publish may go
	// unacknowledged before it is reported as stalled; it is also the
	// grace period outstanding publishes get when the run stops. Zero
	// means DefaultPublishTimeout.
	PublishTimeout time.Duration
	// Logger receives progress and problems; nil discards them.
	Logger *slog.Logger
	// PlannedStop makes the gateways leave quietly when the run ends:
	// they disconnect cleanly without marking themselves offline (nor a
	// Sparkplug node sending its NDEATH), so the end of a demo is not
	// taken for a site losing its monitoring.
	PlannedStop bool
	// OnStart, when set, is called once every gateway is connected and
	// before the first publish, with the wall-clock time the run's
	// device time is paced from and the device time of the first batch.
	// Ground truth that maps riskmon's receive times back to device time
	// needs the former.
	OnStart func(wall, device time.Time)
}

// Stats counts what a run delivered. Messages, Readings and Malformed
// count only publishes the broker acknowledged.
type Stats struct {
	Messages  int64 // good batches
	Readings  int64 // readings in good batches
	Malformed int64 // malformed messages
	// Failed counts publish attempts that ended in an error and were
	// sent again. Each may have left a duplicate at the broker.
	Failed int64
	// Stalled counts waits that passed PublishTimeout without an answer;
	// the publish stayed pending and paho resent it after reconnecting.
	Stalled int64
	// Unconfirmed counts messages that were out when the run stopped and
	// got no answer within the grace period: they may or may not have
	// reached the broker. It is zero after a normal run.
	Unconfirmed int64
	// BySensor counts acknowledged readings per "site/sensor". Only Run's
	// result carries it.
	BySensor map[string]int64
	Gateways []GatewayStats
}

// GatewayStats are the counts of one gateway.
type GatewayStats struct {
	Site, Gateway string
	Messages      int64 // acknowledged good batches
	Malformed     int64 // acknowledged malformed messages
	// LastSeq is the seq of the last acknowledged good batch: the
	// Sparkplug seq (0..255) for a Sparkplug node, the message count for
	// a line protocol gateway, whose messages carry none.
	LastSeq uint64
}

// Publisher plays a fleet's gateways against a broker: one MQTT client per
// gateway, one message per gateway and interval with a reading of each of
// its sensors, in the gateway's format: a JSON batch, line protocol
// lines, or a Sparkplug B NBIRTH or NDATA.
type Publisher struct {
	opts      Options
	log       *slog.Logger
	gateways  []*gateway
	started   atomic.Bool
	messages  atomic.Int64
	readings  atomic.Int64
	malformed atomic.Int64
	failed    atomic.Int64
	stalled   atomic.Int64
}

// gateway is one simulated gateway's state; only its own goroutine
// touches the non-atomic fields once Run has started.
type gateway struct {
	p        *Publisher
	site, id string
	format   Format
	// interval is the device time between two of its batches, wallStep
	// the wall time.
	interval, wallStep time.Duration
	topic              string // where readings go: JSON readings, lp, or NDATA
	status             string // riskmon status topic; unused by Sparkplug nodes
	log                *slog.Logger
	sensors            []*simSensor
	// ticks is how many full batches to send, or -1 for no limit;
	// partial is the size of one more batch after them (0 for none).
	ticks, partial int
	malformed      []malformedAt // ordered by tick
	link           *link
	incidents      []GatewayIncident
	offline        bool
	// abrupt gateways go offline by dropping their TCP connection, so
	// the broker publishes their will; conn is that connection.
	abrupt bool
	connMu sync.Mutex // paho dials from its own goroutine when it reconnects
	conn   net.Conn

	// seq numbers the good messages: 1, 2, 3... for JSON and line
	// protocol (which carries none), 0..255 wrapping for Sparkplug,
	// where each NBIRTH restarts it at 0.
	seq uint64
	buf []byte
	ids []string // sensor ids in order, for the Sparkplug BIRTH

	// Sparkplug edge node state. bdSeq numbers MQTT sessions and ties
	// each NBIRTH to the NDEATH will of its session; born says an NBIRTH
	// went out since the last connect, NDEATH or rebirth request;
	// rebirth is signalled from paho's goroutines by an NCMD rebirth
	// request or a reconnect, and taken by the gateway's own.
	sessions uint64
	bdSeq    uint64
	born     bool
	rebirth  chan struct{}

	points []Point
	index  []int // index[i] is the sensor of points[i]

	messages    atomic.Int64
	nMalformed  atomic.Int64
	lastSeq     atomic.Uint64
	unconfirmed int64
}

type simSensor struct {
	id        string
	ref       SensorRef
	signal    *Signal
	incidents []Incident
	active    int // index+1 of the incident shaping the value
	counted   int64
	// last is the value last sampled (when sampled); frozen what a
	// stuck sensor without a value of its own holds.
	last, frozen float64
	sampled      bool
}

type malformedAt struct {
	tick int
	kind MalformedKind
}

// NewPublisher checks opts and prepares every gateway's signals and plan.
func NewPublisher(opts Options) (*Publisher, error) {
	opts, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	reg, err := opts.Fleet.Registry(opts.Catalog)
	if err != nil {
		return nil, err
	}
	if err := opts.Fleet.checkFormats(); err != nil {
		return nil, err
	}
	if err := opts.Fleet.checkIntervals(); err != nil {
		return nil, err
	}
	if reg.Len() == 0 {
		return nil, errors.New("simulator: fleet has no sensors")
	}
	p := &Publisher{opts: opts, log: opts.Logger}
	gateways := opts.Fleet.Gateways()
	idx, err := indexIncidents(opts, reg, gateways)
	if err != nil {
		return nil, err
	}
	for _, gw := range gateways {
		g, err := p.newGateway(gw, reg, idx)
		if err != nil {
			return nil, err
		}
		p.gateways = append(p.gateways, g)
	}
	p.plan(reg.Len())
	return p, nil
}

// withDefaults fills in the options left at zero and checks the rest.
func withDefaults(opts Options) (Options, error) {
	if len(brokerURLs(opts.Broker)) == 0 {
		return opts, errors.New("simulator: broker URL is required")
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	if opts.PublishTimeout == 0 {
		opts.PublishTimeout = DefaultPublishTimeout
	}
	if opts.Speed == 0 {
		opts.Speed = 1
	}
	switch {
	case opts.Interval < 0:
		return opts, fmt.Errorf("simulator: interval %s is negative", opts.Interval)
	case opts.Speed < 0 || math.IsNaN(opts.Speed):
		return opts, fmt.Errorf("simulator: speed %g must be positive", opts.Speed)
	case opts.MaxReadings < 0 || opts.Malformed < 0 || opts.Duration < 0:
		return opts, errors.New("simulator: max readings, duration and malformed must not be negative")
	}
	if opts.Catalog == nil {
		opts.Catalog = sensors.DefaultCatalog()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return opts, nil
}

// incidentIndex is the run's incidents by the sensor or gateway they act
// on, in the order they apply.
type incidentIndex struct {
	bySensor  map[SensorRef][]Incident
	byGateway map[GatewayRef][]GatewayIncident
}

// indexIncidents checks every incident of opts against the fleet and
// indexes it by what it acts on.
func indexIncidents(opts Options, reg *sensors.Registry, gateways []Gateway) (incidentIndex, error) {
	all := make([]Incident, 0, len(opts.Incidents)+len(opts.Scripted))
	for _, l := range opts.Incidents {
		all = append(all, l)
	}
	all = append(all, opts.Scripted...)
	idx := incidentIndex{bySensor: map[SensorRef][]Incident{}, byGateway: map[GatewayRef][]GatewayIncident{}}
	for _, inc := range all {
		if err := inc.Validate(); err != nil {
			return idx, fmt.Errorf("simulator: %w", err)
		}
		for _, ref := range inc.Sensors() {
			if _, ok := reg.Lookup(ref.Site, ref.Sensor); !ok {
				return idx, fmt.Errorf("simulator: incident on unknown sensor %s", ref)
			}
			idx.bySensor[ref] = append(idx.bySensor[ref], inc)
		}
		gi, ok := inc.(GatewayIncident)
		if !ok {
			continue
		}
		ref := gi.Gateway()
		if !slices.ContainsFunc(gateways, func(g Gateway) bool { return g.Site == ref.Site && g.ID == ref.Gateway }) {
			return idx, fmt.Errorf("simulator: incident on unknown gateway %s", ref)
		}
		idx.byGateway[ref] = append(idx.byGateway[ref], gi)
		if off, ok := gi.(GatewayOffline); ok && off.Abrupt {
			// Dropping the connection abruptly needs a plain TCP one.
			if u, err := url.Parse(brokerURLs(opts.Broker)[0]); err != nil || (u.Scheme != "tcp" && u.Scheme != "mqtt") {
				return idx, fmt.Errorf("simulator: abrupt gateway offline %s needs a tcp:// broker", ref)
			}
		}
	}
	return idx, nil
}

// newGateway prepares one gateway of the fleet: its sensors' signals and
// incidents, and its reporting interval.
func (p *Publisher) newGateway(gw Gateway, reg *sensors.Registry, idx incidentIndex) (*gateway, error) {
	opts := p.opts
	g := &gateway{
		p: p, site: gw.Site, id: gw.ID, format: gw.Format, interval: opts.Interval,
		topic: gw.DataTopic(), status: gw.StatusTopic(),
		log:       p.log.With("site", gw.Site, "gateway", gw.ID),
		incidents: idx.byGateway[GatewayRef{gw.Site, gw.ID}],
	}
	for _, gi := range g.incidents {
		if off, ok := gi.(GatewayOffline); ok && off.Abrupt {
			g.abrupt = true
		}
	}
	var kindMin time.Duration // the shortest interval of its sensors' kinds
	for _, id := range gw.Sensors {
		s, _ := reg.Lookup(gw.Site, id)
		sig, err := opts.Fleet.Signal(s, opts.Seed)
		if err != nil {
			return nil, fmt.Errorf("simulator: %w", err)
		}
		ref := SensorRef{gw.Site, id}
		g.sensors = append(g.sensors, &simSensor{id: id, ref: ref, signal: sig, incidents: idx.bySensor[ref]})
		g.ids = append(g.ids, id)
		if k := s.KindInfo().Interval; k > 0 && (kindMin == 0 || k < kindMin) {
			kindMin = k
		}
	}
	switch {
	case gw.Interval > 0:
		g.interval = gw.Interval
	case opts.Fleet.KindIntervals && kindMin > 0:
		g.interval = kindMin
	}
	if g.interval != opts.Interval && opts.MaxReadings > 0 {
		return nil, fmt.Errorf("simulator: max readings needs one interval for every gateway, and %s/%s reports every %s", gw.Site, gw.ID, g.interval)
	}
	if !math.IsInf(opts.Speed, 1) {
		g.wallStep = time.Duration(float64(g.interval) / opts.Speed)
	}
	if g.format == FormatSparkplug {
		g.rebirth = make(chan struct{}, 1)
	}
	g.points = make([]Point, 0, len(g.sensors))
	g.index = make([]int, 0, len(g.sensors))
	return g, nil
}

// plan decides how many batches each gateway sends and where the
// malformed messages go. The stream is ordered by round, then by gateway
// in fleet order; MaxReadings cuts it at an exact reading, so the
// gateways that come first in the last round send a partial batch.
func (p *Publisher) plan(total int) {
	nGw := len(p.gateways)
	slots := 0 // good batches in the whole stream
	if m := p.opts.MaxReadings; m > 0 {
		full, rem := m/total, m%total
		for _, g := range p.gateways {
			g.ticks = full
			g.partial = min(max(rem, 0), len(g.sensors))
			rem -= len(g.sensors)
			slots += full
			if g.partial > 0 {
				slots++
			}
		}
	} else {
		for _, g := range p.gateways {
			g.ticks = -1
			if d := p.opts.Duration; d > 0 {
				g.ticks = int(d/g.interval) + 1
			}
		}
	}
	for j := range p.opts.Malformed {
		var tick, gw int
		if slots > 0 {
			// Slot positions (j+1)*slots/(n+1) split the stream into
			// n+1 equal parts; slot s is round s/nGw of gateway s%nGw.
			s := (j + 1) * slots / (p.opts.Malformed + 1)
			tick, gw = s/nGw, s%nGw
		} else {
			tick, gw = (j+1)*malformedEveryTicks, j%nGw
		}
		g := p.gateways[gw]
		g.malformed = append(g.malformed, malformedAt{tick: tick, kind: MalformedKind(j % int(malformedKinds))})
	}
}

// Progress returns the counters so far; it is safe to call while Run is
// going, e.g. for a status line. BySensor is left nil.
func (p *Publisher) Progress() Stats {
	st := Stats{
		Messages:  p.messages.Load(),
		Readings:  p.readings.Load(),
		Malformed: p.malformed.Load(),
		Failed:    p.failed.Load(),
		Stalled:   p.stalled.Load(),
	}
	for _, g := range p.gateways {
		st.Gateways = append(st.Gateways, GatewayStats{
			Site: g.site, Gateway: g.id,
			Messages: g.messages.Load(), Malformed: g.nMalformed.Load(), LastSeq: g.lastSeq.Load(),
		})
	}
	return st
}

// Run connects every gateway, publishes until MaxReadings is reached or
// ctx ends, marks the gateways offline and disconnects. It returns
// ctx.Err() when the context ended the run first, which is the normal way
// to stop a run without MaxReadings. A Publisher runs once.
func (p *Publisher) Run(ctx context.Context) (Stats, error) {
	if !p.started.CompareAndSwap(false, true) {
		return Stats{}, errors.New("simulator: publisher already ran")
	}
	if err := p.connect(ctx); err != nil {
		return Stats{}, err
	}
	drain, cancel := drainContext(ctx, p.opts.PublishTimeout)
	defer cancel()

	wallStart := time.Now()
	start := p.opts.Start
	if start.IsZero() {
		start = wallStart
	}
	p.log.Info("simulator publishing", "gateways", len(p.gateways), "interval", p.opts.Interval,
		"speed", p.opts.Speed, "max_readings", p.opts.MaxReadings, "malformed", p.opts.Malformed,
		"incidents", len(p.opts.Incidents)+len(p.opts.Scripted), "device_start", start)
	if p.opts.OnStart != nil {
		p.opts.OnStart(wallStart, start)
	}
	for _, g := range p.gateways {
		for _, s := range g.sensors {
			s.signal.SetStart(start)
		}
	}

	var wg sync.WaitGroup
	errs := make([]error, len(p.gateways))
	for i, g := range p.gateways {
		wg.Go(func() {
			errs[i] = g.run(ctx, drain, wallStart, start)
			g.goodbye()
		})
	}
	wg.Wait()

	st := p.Progress()
	st.BySensor = map[string]int64{}
	for _, g := range p.gateways {
		st.Unconfirmed += g.unconfirmed
		for _, s := range g.sensors {
			st.BySensor[g.site+"/"+s.id] = s.counted
		}
	}
	p.log.Info("simulator done", "messages", st.Messages, "readings", st.Readings, "malformed", st.Malformed,
		"failed", st.Failed, "stalled", st.Stalled, "unconfirmed", st.Unconfirmed)
	if err := errors.Join(errs...); err != nil {
		// Gateways stop with an error only when ctx ends; one
		// ctx.Err() reads better than one per gateway.
		if ctxErr := ctx.Err(); ctxErr != nil {
			return st, ctxErr
		}
		return st, err
	}
	return st, nil
}

// connect dials every gateway at once; if any fails the others are
// closed again so a half fleet never starts.
func (p *Publisher) connect(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(p.gateways))
	for i, g := range p.gateways {
		wg.Go(func() { errs[i] = g.connect(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, g := range p.gateways {
			if g.link != nil {
				g.link.client.Disconnect(0)
			}
		}
		return fmt.Errorf("simulator: %w", err)
	}
	return nil
}

func (g *gateway) connect(ctx context.Context) error {
	timeout := g.p.opts.PublishTimeout
	var reconnect atomic.Bool
	o := clientOptions(g.p.opts.Broker, "sim-"+g.site+"-"+g.id, timeout, g.log)
	if g.format == FormatSparkplug {
		// Every new MQTT session gets the next bdSeq, and its will is
		// the NDEATH carrying it. paho reuses the will when it
		// reconnects by itself, so such a session keeps its bdSeq.
		g.bdSeq = g.sessions % 256
		g.sessions++
		g.born = false
		ncmd := sparkplug.NodeTopic(g.site, sparkplug.NCMD, g.id)
		o.SetBinaryWill(sparkplug.NodeTopic(g.site, sparkplug.NDEATH, g.id), sparkplugDeath(g.bdSeq), qos, false).
			SetOnConnectHandler(func(c mqtt.Client) {
				// A clean session loses its subscriptions, and the
				// broker may have published our NDEATH: subscribe
				// again and be born again.
				if reconnect.CompareAndSwap(false, true) {
					return
				}
				c.Subscribe(ncmd, qos, g.onCommand)
				g.requestRebirth()
			})
	} else {
		o.SetWill(g.status, protocol.StatusOffline, qos, true).
			SetOnConnectHandler(func(c mqtt.Client) {
				// The first online goes out from connect, before any
				// reading; after a reconnect the broker may have published
				// our will, so say online again.
				if !reconnect.CompareAndSwap(false, true) {
					c.Publish(g.status, qos, true, protocol.StatusOnline)
				}
			})
	}
	if g.abrupt {
		// Keep hold of the socket so an outage can drop it without a
		// DISCONNECT packet, as a power cut would.
		o.SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
			d := net.Dialer{Timeout: timeout}
			conn, err := d.DialContext(ctx, "tcp", u.Host)
			if err == nil {
				g.connMu.Lock()
				g.conn = conn
				g.connMu.Unlock()
			}
			return conn, err
		})
	}
	c, err := dial(ctx, o, timeout)
	if err != nil {
		return err
	}
	g.link = &link{client: c, timeout: timeout, log: g.log, failed: &g.p.failed, stalled: &g.p.stalled}
	if g.format == FormatSparkplug {
		// The node is announced by the NBIRTH of its first tick, which
		// carries that tick's readings.
		ncmd := sparkplug.NodeTopic(g.site, sparkplug.NCMD, g.id)
		if err := g.link.await(ctx, c.Subscribe(ncmd, qos, g.onCommand)); err != nil {
			g.link = nil
			c.Disconnect(0)
			return fmt.Errorf("gateway %s/%s subscribe %s: %w", g.site, g.id, ncmd, err)
		}
		return nil
	}
	if err := g.link.await(ctx, c.Publish(g.status, qos, true, protocol.StatusOnline)); err != nil {
		g.link = nil
		c.Disconnect(0)
		return fmt.Errorf("gateway %s/%s online status: %w", g.site, g.id, err)
	}
	return nil
}

// run publishes the gateway's batches, one per tick of device time.
func (g *gateway) run(ctx, drain context.Context, wallStart, start time.Time) error {
	mal := g.malformed
	for tick := 0; g.ticks < 0 || tick < g.ticks || (tick == g.ticks && g.partial > 0); tick++ {
		if err := sleepCtx(ctx, time.Until(wallStart.Add(time.Duration(tick)*g.wallStep))); err != nil {
			return err
		}
		elapsed := time.Duration(tick) * g.interval
		offline, skew := g.state(elapsed)
		if offline != g.offline {
			if err := g.setOffline(ctx, drain, offline, elapsed); err != nil {
				return err
			}
		}
		ts := start.Add(elapsed + skew).UnixMilli()
		select {
		case <-g.rebirth:
			g.log.Info("rebirth", "elapsed", elapsed)
			g.born = false
		default:
		}
		if offline {
			// Off the air: the signals still advance so the values
			// after the outage are the ones they would have been.
			g.sample(elapsed, 0)
			continue
		}
		for len(mal) > 0 && mal[0].tick <= tick {
			if err := g.publishMalformed(ctx, drain, mal[0].kind, ts); err != nil {
				return err
			}
			mal = mal[1:]
		}
		n := len(g.sensors)
		if tick == g.ticks {
			n = g.partial
		}
		if err := g.publishBatch(ctx, drain, elapsed, ts, n); err != nil {
			return err
		}
	}
	// A gateway slower than the run waits for the run's last batch
	// before it signs off, so its offline status comes with the others'.
	if o := g.p.opts; o.Duration > 0 && g.interval != o.Interval && !math.IsInf(o.Speed, 1) {
		last := o.Duration / o.Interval * o.Interval
		return sleepCtx(ctx, time.Until(wallStart.Add(time.Duration(float64(last)/o.Speed))))
	}
	return nil
}

// state is the gateway's condition at elapsed under its incidents.
func (g *gateway) state(elapsed time.Duration) (offline bool, skew time.Duration) {
	for _, gi := range g.incidents {
		offline = offline || gi.Offline(elapsed)
		skew += gi.ClockOffset(elapsed)
	}
	return offline, skew
}

// setOffline publishes the gateway's retained status when an incident
// takes it off the air or gives it back. The retained "offline" is what
// the broker publishes from the will of a gateway that lost power; doing
// it ourselves keeps the session, so the gateway's seq carries on
// without a gap when it returns.
func (g *gateway) setOffline(ctx, drain context.Context, offline bool, elapsed time.Duration) error {
	status := protocol.StatusOnline
	if offline {
		status = protocol.StatusOffline
	}
	switch {
	case g.abrupt && offline:
		// Closing the socket first means the client's DISCONNECT can
		// no longer reach the broker, which therefore publishes the
		// will; stopping the client then keeps it from reconnecting.
		g.connMu.Lock()
		if g.conn != nil {
			g.conn.Close()
		}
		g.connMu.Unlock()
		g.link.client.Disconnect(0)
		g.link = nil
	case g.abrupt:
		if err := g.connect(ctx); err != nil {
			return err
		}
	case g.format == FormatSparkplug && offline:
		death := sparkplug.NodeTopic(g.site, sparkplug.NDEATH, g.id)
		if _, err := g.link.deliver(ctx, drain, death, false, sparkplugDeath(g.bdSeq)); err != nil {
			return err
		}
		g.born = false
	case g.format == FormatSparkplug:
		// Back on the air: the next message is an NBIRTH.
	default:
		if _, err := g.link.deliver(ctx, drain, g.status, true, []byte(status)); err != nil {
			return err
		}
	}
	g.log.Info("gateway status", "status", status, "elapsed", elapsed)
	g.offline = offline
	return nil
}

// sample fills g.points with the first n sensors' values at elapsed.
// Every sensor draws its noise each tick, incident or not, so a sensor's
// values after an incident are the ones it would have had anyway. A
// sensor an incident takes offline is left out.
func (g *gateway) sample(elapsed time.Duration, n int) {
	g.points, g.index = g.points[:0], g.index[:0]
	for i, s := range g.sensors {
		v, level := s.signal.sample(elapsed)
		reading := v
		active := 0
		for j, inc := range s.incidents {
			if out, ok := inc.Apply(s.ref, elapsed, level, v); ok {
				v = out
				if !math.IsNaN(out) {
					v = s.signal.quantizeToward(out, level)
				}
				if st, ok := inc.(StuckSensor); ok && st.Value == nil {
					// A frozen output holds what it last reported, or
					// what it reads now when it has reported nothing.
					if s.active != j+1 {
						s.frozen = reading
						if s.sampled {
							s.frozen = s.last
						}
					}
					v = s.frozen
				}
				active = j + 1
				break
			}
		}
		if !math.IsNaN(v) {
			s.last, s.sampled = v, true
		}
		if active != s.active {
			if active > 0 {
				g.log.Info("incident started", "sensor", s.id, "incident", fmt.Sprintf("%T", s.incidents[active-1]), "elapsed", elapsed)
			} else {
				g.log.Info("incident over", "sensor", s.id, "elapsed", elapsed)
			}
			s.active = active
		}
		if i < n && !math.IsNaN(v) {
			g.points = append(g.points, Point{Sensor: s.id, Value: v, Decimals: s.signal.Decimals()})
			g.index = append(g.index, i)
		}
	}
}

func (g *gateway) publishBatch(ctx, drain context.Context, elapsed time.Duration, ts int64, n int) error {
	g.sample(elapsed, n)
	if len(g.points) == 0 {
		return nil // every sensor is offline: a gateway sends no empty batch
	}
	topic, seq := g.topic, g.seq+1
	switch g.format {
	case FormatLP:
		g.buf = AppendLines(g.buf[:0], ts, g.points)
	case FormatSparkplug:
		if g.born {
			seq %= 256
			g.buf = sparkplugData(ts, seq, g.points, g.index)
		} else {
			topic, seq = sparkplug.NodeTopic(g.site, sparkplug.NBIRTH, g.id), 0
			g.buf = sparkplugBirth(ts, g.bdSeq, g.ids, g.points, g.index)
		}
	default:
		g.buf = AppendBatch(g.buf[:0], ts, seq, g.points)
	}
	if err := g.send(ctx, drain, topic); err != nil {
		return err
	}
	g.seq = seq
	g.born = true
	g.lastSeq.Store(g.seq)
	for _, i := range g.index {
		g.sensors[i].counted++
	}
	g.messages.Add(1)
	g.p.messages.Add(1)
	g.p.readings.Add(int64(len(g.points)))
	return nil
}

func (g *gateway) publishMalformed(ctx, drain context.Context, kind MalformedKind, ts int64) error {
	switch g.format {
	case FormatLP:
		g.buf = AppendMalformedLP(g.buf[:0], kind, ts, g.sensors[0].id)
	case FormatSparkplug:
		g.buf = AppendMalformedSparkplug(g.buf[:0], kind, ts)
	default:
		g.buf = AppendMalformed(g.buf[:0], kind, ts, g.sensors[0].id)
	}
	if err := g.send(ctx, drain, g.topic); err != nil {
		return err
	}
	g.log.Debug("malformed message published", "kind", kind)
	g.nMalformed.Add(1)
	g.p.malformed.Add(1)
	return nil
}

// send delivers g.buf on topic.
func (g *gateway) send(ctx, drain context.Context, topic string) error {
	kept, err := g.link.deliver(ctx, drain, topic, false, g.buf)
	if kept {
		g.buf = nil // paho may still hold it
	}
	if errors.Is(err, errUnconfirmed) {
		g.unconfirmed++
		return ctx.Err()
	}
	return err
}

// goodbye marks the gateway offline and disconnects. A clean stop sends
// no will, yet the gateway is gone all the same.
func (g *gateway) goodbye() {
	if g.link == nil {
		return
	}
	c := g.link.client
	if g.p.opts.PlannedStop {
		c.Disconnect(250)
		return
	}
	var tok mqtt.Token
	if g.format == FormatSparkplug {
		// A Sparkplug node says goodbye with the NDEATH its will holds.
		tok = c.Publish(sparkplug.NodeTopic(g.site, sparkplug.NDEATH, g.id), qos, false, sparkplugDeath(g.bdSeq))
	} else {
		tok = c.Publish(g.status, qos, true, protocol.StatusOffline)
	}
	if !tok.WaitTimeout(g.p.opts.PublishTimeout) || tok.Error() != nil {
		g.log.Warn("offline status not acknowledged", "err", tok.Error())
	}
	c.Disconnect(250)
}

// onCommand handles an NCMD to the edge node; it runs on a paho
// goroutine. Only a rebirth request means anything to a simulated node.
func (g *gateway) onCommand(_ mqtt.Client, m mqtt.Message) {
	var p spb.Payload
	if err := proto.Unmarshal(m.Payload(), &p); err != nil {
		g.log.Warn("NCMD is not Sparkplug B", "err", err)
		return
	}
	for _, mt := range p.Metrics {
		if mt.GetName() == sparkplug.RebirthMetric && mt.GetBooleanValue() {
			g.requestRebirth()
			return
		}
	}
}

// requestRebirth makes the next message an NBIRTH. Requests that come
// before it went out need no second one.
func (g *gateway) requestRebirth() {
	select {
	case g.rebirth <- struct{}{}:
	default:
	}
}
