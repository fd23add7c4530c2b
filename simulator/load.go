package simulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/riskmon/riskmon/sensors"
)

// Load defaults.
const (
	DefaultBatchSize   = 10
	DefaultMaxInFlight = 64
)

// LoadOptions configure a load run.
type LoadOptions struct {
	// Broker is the MQTT broker URL, e.g. tcp://127.0.0.1:1883, or
	// several separated by commas (the nodes of a broker cluster).
	Broker string
	// Fleet supplies the gateways and sensor ids, so riskmon's registry
	// accepts every reading; SyntheticFleet builds one of any size.
	Fleet Fleet
	// Catalog the fleet is checked against; nil means
	// sensors.DefaultCatalog().
	Catalog *sensors.Catalog
	// Gateways is how many of the fleet's gateways publish, each over its
	// own client; 0 means all of them.
	Gateways int
	// BatchSize is the number of readings per message; 0 means
	// DefaultBatchSize. No gateway may have fewer sensors, since a batch
	// never names a sensor twice.
	BatchSize int
	// MaxInFlight is how many unacknowledged publishes one client may
	// have out; 0 means DefaultMaxInFlight. Pipelining is what lets QoS 1
	// reach the broker's rate rather than one round trip per message.
	MaxInFlight int
	// Readings is the total to publish, split evenly over the gateways.
	Readings int64
	// Seed picks the reading values.
	Seed int64
	// PublishTimeout bounds connecting, flags slow acknowledgements and
	// is the grace period for outstanding publishes when ctx ends; 0
	// means DefaultPublishTimeout.
	PublishTimeout time.Duration
	// Logger receives problems; nil discards them.
	Logger *slog.Logger
}

// LoadResult counts a load run. Messages and Readings count only
// acknowledged publishes.
type LoadResult struct {
	Messages, Readings int64
	// Failed, Stalled and Unconfirmed mean what they mean in Stats.
	Failed, Stalled, Unconfirmed int64
	// Elapsed runs from the first publish to the last acknowledgement.
	Elapsed  time.Duration
	Gateways []GatewayLoad
}

// GatewayLoad is the per-message timing of one load gateway. Index i
// holds the message with seq i+1; times are wall-clock Unix nanoseconds.
type GatewayLoad struct {
	Site, Gateway, Topic string
	// Sent is when the message was handed to the client.
	Sent []int64
	// Acked is when its PUBACK was seen, 0 if never.
	Acked []int64
}

// SentAt returns when the message seq of a gateway was published, for a
// consumer that sees (site, gateway, seq) and wants its latency.
func (r *LoadResult) SentAt(site, gateway string, seq uint64) (time.Time, bool) {
	for i := range r.Gateways {
		g := &r.Gateways[i]
		if g.Site != site || g.Gateway != gateway {
			continue
		}
		if seq == 0 || seq > uint64(len(g.Sent)) || g.Sent[seq-1] == 0 {
			return time.Time{}, false
		}
		return time.Unix(0, g.Sent[seq-1]), true
	}
	return time.Time{}, false
}

// Load publishes pre-built batches as fast as the broker acknowledges
// them. Reading values come from the same signal models as a Publisher
// but are sampled once when the batches are built: the point is the
// message rate, not the values.
type Load struct {
	opts     LoadOptions
	log      *slog.Logger
	gateways []*loadGateway
	started  atomic.Bool

	messages atomic.Int64
	readings atomic.Int64
	failed   atomic.Int64
	stalled  atomic.Int64
}

type loadGateway struct {
	l        *Load
	site, id string
	topic    string
	log      *slog.Logger
	// bodies are the `"readings":[...]}` tails of successive messages,
	// cycled; each names BatchSize distinct sensors.
	bodies   [][]byte
	sensors  []Point // one sample per sensor, for the partial last body
	readings int64   // this gateway's share of the total
	link     *link

	sent, acked []int64
	unconfirmed int64
	first, last int64 // first publish and last acknowledgement, Unix ns
}

// NewLoad checks opts and builds every gateway's batches.
func NewLoad(opts LoadOptions) (*Load, error) {
	if len(brokerURLs(opts.Broker)) == 0 {
		return nil, errors.New("simulator load: broker URL is required")
	}
	if opts.Readings <= 0 {
		return nil, errors.New("simulator load: readings must be positive")
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.MaxInFlight == 0 {
		opts.MaxInFlight = DefaultMaxInFlight
	}
	if opts.PublishTimeout == 0 {
		opts.PublishTimeout = DefaultPublishTimeout
	}
	if opts.BatchSize < 0 || opts.MaxInFlight < 0 || opts.Gateways < 0 {
		return nil, errors.New("simulator load: gateways, batch size and max in-flight must not be negative")
	}
	if opts.Catalog == nil {
		opts.Catalog = sensors.DefaultCatalog()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	reg, err := opts.Fleet.Registry(opts.Catalog)
	if err != nil {
		return nil, fmt.Errorf("simulator load: %w", err)
	}
	gws := opts.Fleet.Gateways()
	switch {
	case len(gws) == 0:
		return nil, errors.New("simulator load: fleet has no gateways")
	case opts.Gateways > len(gws):
		return nil, fmt.Errorf("simulator load: %d gateways asked for, the fleet has %d (make a bigger SyntheticFleet)", opts.Gateways, len(gws))
	case opts.Gateways == 0:
		opts.Gateways = len(gws)
	}
	gws = gws[:opts.Gateways]

	l := &Load{opts: opts, log: opts.Logger}
	n := int64(len(gws))
	for i, gw := range gws {
		if len(gw.Sensors) < opts.BatchSize {
			return nil, fmt.Errorf("simulator load: gateway %s/%s has %d sensors, fewer than the batch size %d", gw.Site, gw.ID, len(gw.Sensors), opts.BatchSize)
		}
		g := &loadGateway{
			l: l, site: gw.Site, id: gw.ID, topic: gw.ReadingsTopic(),
			log:      l.log.With("site", gw.Site, "gateway", gw.ID),
			readings: opts.Readings / n,
		}
		if int64(i) < opts.Readings%n {
			g.readings++
		}
		for _, id := range gw.Sensors {
			s, _ := reg.Lookup(gw.Site, id)
			sig, err := opts.Fleet.Signal(s, opts.Seed)
			if err != nil {
				return nil, fmt.Errorf("simulator load: %w", err)
			}
			g.sensors = append(g.sensors, Point{Sensor: id, Value: sig.Sample(0), Decimals: sig.Decimals()})
		}
		g.buildBodies(opts.BatchSize)
		msgs := (g.readings + int64(opts.BatchSize) - 1) / int64(opts.BatchSize)
		g.sent, g.acked = make([]int64, msgs), make([]int64, msgs)
		l.gateways = append(l.gateways, g)
	}
	return l, nil
}

// buildBodies pre-encodes the message tails. Message k carries sensors
// k*size .. k*size+size-1 modulo the gateway's sensors, so every sensor
// gets its share; the pattern repeats after n/gcd(n, size) messages.
func (g *loadGateway) buildBodies(size int) {
	n := len(g.sensors)
	cycle := n / gcd(n, size)
	points := make([]Point, size)
	for k := range cycle {
		for i := range points {
			points[i] = g.sensors[(k*size+i)%n]
		}
		g.bodies = append(g.bodies, appendReadings(nil, points))
	}
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Progress returns the acknowledged messages and readings so far; it is
// safe to call while Run is going.
func (l *Load) Progress() (messages, readings int64) {
	return l.messages.Load(), l.readings.Load()
}

// Run connects the gateways and publishes until every reading is
// acknowledged or ctx ends (then it returns ctx.Err() with the counts so
// far). A Load runs once.
func (l *Load) Run(ctx context.Context) (LoadResult, error) {
	if !l.started.CompareAndSwap(false, true) {
		return LoadResult{}, errors.New("simulator load: already ran")
	}
	timeout := l.opts.PublishTimeout
	var wg sync.WaitGroup
	errs := make([]error, len(l.gateways))
	for i, g := range l.gateways {
		wg.Go(func() {
			o := clientOptions(l.opts.Broker, "load-"+g.site+"-"+g.id, timeout, g.log)
			c, err := dial(ctx, o, timeout)
			if err != nil {
				errs[i] = err
				return
			}
			g.link = &link{client: c, timeout: timeout, log: g.log, failed: &l.failed, stalled: &l.stalled}
		})
	}
	wg.Wait()
	defer func() {
		for _, g := range l.gateways {
			if g.link != nil {
				g.link.client.Disconnect(250)
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return LoadResult{}, fmt.Errorf("simulator load: %w", err)
	}

	drain, cancel := drainContext(ctx, timeout)
	defer cancel()
	for i, g := range l.gateways {
		wg.Go(func() { errs[i] = g.run(ctx, drain) })
	}
	wg.Wait()

	res := LoadResult{
		Messages: l.messages.Load(), Readings: l.readings.Load(),
		Failed: l.failed.Load(), Stalled: l.stalled.Load(),
	}
	first, last := int64(math.MaxInt64), int64(0)
	for _, g := range l.gateways {
		res.Unconfirmed += g.unconfirmed
		res.Gateways = append(res.Gateways, GatewayLoad{Site: g.site, Gateway: g.id, Topic: g.topic, Sent: g.sent, Acked: g.acked})
		if g.first != 0 {
			first = min(first, g.first)
		}
		last = max(last, g.last)
	}
	if last > first {
		res.Elapsed = time.Duration(last - first)
	}
	if errors.Join(errs...) != nil {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		return res, fmt.Errorf("simulator load: %w", errors.Join(errs...))
	}
	return res, nil
}

// inflight is a publish waiting for its acknowledgement.
type inflight struct {
	payload  []byte
	index    int
	readings int64
	token    mqtt.Token
}

// run pipelines the gateway's messages: the sender publishes while a
// free buffer is left, and the acknowledger waits for the tokens in order
// and hands the buffers back. The buffer pool is what bounds the
// messages in flight.
func (g *loadGateway) run(ctx, drain context.Context) error {
	free := make(chan []byte, g.l.opts.MaxInFlight)
	for range g.l.opts.MaxInFlight {
		free <- make([]byte, 0, 64+len(g.bodies[0]))
	}
	pending := make(chan inflight, g.l.opts.MaxInFlight)
	acked := make(chan struct{})
	go func() {
		defer close(acked)
		g.acknowledge(ctx, drain, pending, free)
	}()

	err := g.send(ctx, pending, free)
	close(pending)
	<-acked
	return err
}

func (g *loadGateway) send(ctx context.Context, pending chan<- inflight, free chan []byte) error {
	size := int64(g.l.opts.BatchSize)
	var lastTS int64
	for i := range g.sent {
		var buf []byte
		select {
		case buf = <-free:
		case <-ctx.Done():
			return ctx.Err()
		}
		body := g.bodies[i%len(g.bodies)]
		n := min(size, g.readings-int64(i)*size)
		if n < size {
			body = appendReadings(nil, g.sensors[:n]) // the one partial batch
		}
		// Device time is the wall clock, but strictly increasing per
		// gateway so no two batches of a sensor share a timestamp and
		// overwrite each other in storage. Past 1000 messages a second
		// per gateway it runs ahead of the wall clock.
		now := time.Now()
		lastTS = max(now.UnixMilli(), lastTS+1)
		buf = append(buf[:0], `{"ts":`...)
		buf = strconv.AppendInt(buf, lastTS, 10)
		buf = append(buf, `,"seq":`...)
		buf = strconv.AppendInt(buf, int64(i)+1, 10)
		buf = append(buf, ',')
		buf = append(buf, body...)

		g.sent[i] = now.UnixNano()
		if i == 0 {
			g.first = g.sent[0]
		}
		tok := g.link.client.Publish(g.topic, qos, false, buf)
		pending <- inflight{payload: buf, index: i, readings: n, token: tok}
	}
	return nil
}

// acknowledge waits for each publish in order. Acknowledgements come back
// in order on one connection, so waiting in order costs nothing.
func (g *loadGateway) acknowledge(ctx, drain context.Context, pending <-chan inflight, free chan<- []byte) {
	for p := range pending {
		err := g.link.await(drain, p.token)
		if err != nil && !errors.Is(err, errUnconfirmed) {
			// Refused: go through the retrying path, which stops
			// trying when ctx ends.
			g.l.failed.Add(1)
			g.log.Warn("publish failed, sending again", "seq", p.index+1, "err", err)
			_, err = g.link.deliver(ctx, drain, g.topic, false, p.payload)
		}
		switch {
		case err == nil:
			now := time.Now().UnixNano()
			g.acked[p.index], g.last = now, now
			g.l.messages.Add(1)
			g.l.readings.Add(p.readings)
		case errors.Is(err, errUnconfirmed):
			g.unconfirmed++
		}
		// paho may still hold the slice even after the token completed:
		// a reconnect completes the token of a message it is about to
		// resend from its store. Never hand the buffer out again.
		free <- make([]byte, 0, cap(p.payload))
	}
}
