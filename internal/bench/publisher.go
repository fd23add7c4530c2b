package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/riskmon/riskmon/protocol"
	"github.com/riskmon/riskmon/sensors"
	"github.com/riskmon/riskmon/simulator"
)

// publisher sends JSON batches of readings at QoS 1 for every gateway of a
// fleet over a few connections, at full speed or at a fixed rate. Each
// gateway's device time is the wall clock, strictly increasing, so every
// reading is a point of its own in storage.
type publisher struct {
	broker      string
	conns       int
	batch       int
	maxInFlight int
	gws         []pubSource
	acked       atomic.Int64 // readings acknowledged by the broker
}

// pubSource is one gateway with its sensors' values, each its normal
// value from the simulator so that no rule fires.
type pubSource struct {
	site, id string
	sensors  []string
	values   []string
}

func newPubSources(f simulator.Fleet) ([]pubSource, error) {
	reg, err := f.Registry(sensors.DefaultCatalog())
	if err != nil {
		return nil, err
	}
	var out []pubSource
	for _, gw := range f.Gateways() {
		src := pubSource{site: gw.Site, id: gw.ID}
		for _, id := range gw.Sensors {
			s, _ := reg.Lookup(gw.Site, id)
			sig, err := f.Signal(s, 1)
			if err != nil {
				return nil, err
			}
			src.sensors = append(src.sensors, id)
			src.values = append(src.values, strconv.FormatFloat(sig.Sample(0), 'f', sig.Decimals(), 64))
		}
		out = append(out, src)
	}
	return out, nil
}

type pubGateway struct {
	topic  string
	src    *pubSource
	next   int   // sensor the next batch starts at
	lastMS int64 // device time of the last batch
	seq    int64
}

// run publishes readings (rounded up to whole batches) and returns once
// the broker has acknowledged them all; rate 0 means as fast as the
// broker takes them.
func (p *publisher) run(ctx context.Context, readings int64, rate float64) error {
	msgs := (readings + int64(p.batch) - 1) / int64(p.batch)
	var wg sync.WaitGroup
	errs := make([]error, p.conns)
	for c := range p.conns {
		var mine []*pubGateway
		for i := c; i < len(p.gws); i += p.conns {
			g := &p.gws[i]
			mine = append(mine, &pubGateway{topic: protocol.ReadingsTopic(g.site, g.id), src: g})
		}
		n := msgs / int64(p.conns)
		if int64(c) < msgs%int64(p.conns) {
			n++
		}
		var every time.Duration
		if rate > 0 {
			every = time.Duration(float64(time.Second) * float64(p.batch) * float64(p.conns) / rate)
		}
		wg.Go(func() { errs[c] = p.conn(ctx, c, mine, n, every) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (p *publisher) conn(ctx context.Context, id int, gws []*pubGateway, msgs int64, every time.Duration) error {
	if len(gws) == 0 || msgs == 0 {
		return nil
	}
	o := mqtt.NewClientOptions().AddBroker(p.broker).SetClientID(fmt.Sprintf("bench-pub-%d-%d", id, time.Now().UnixNano())).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).SetWriteTimeout(10 * time.Second)
	cl := mqtt.NewClient(o)
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fmt.Errorf("publisher %d: connect: %v", id, tok.Error())
	}
	defer cl.Disconnect(250)
	type pending struct {
		tok mqtt.Token
		n   int
	}
	inflight := make(chan pending, p.maxInFlight)
	ackErr := make(chan error, 1)
	go func() {
		var err error
		for pd := range inflight {
			if !pd.tok.WaitTimeout(60*time.Second) || pd.tok.Error() != nil {
				if err == nil {
					err = fmt.Errorf("publisher %d: publish not acknowledged: %v", id, pd.tok.Error())
				}
				continue
			}
			p.acked.Add(int64(pd.n))
		}
		ackErr <- err
	}()
	start := time.Now()
	var buf []byte
	for k := range msgs {
		if every > 0 {
			if d := time.Until(start.Add(time.Duration(k) * every)); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		g := gws[int(k)%len(gws)]
		g.seq++
		g.lastMS = max(time.Now().UnixMilli(), g.lastMS+1)
		buf = append(buf[:0], `{"ts":`...)
		buf = strconv.AppendInt(buf, g.lastMS, 10)
		buf = append(buf, `,"seq":`...)
		buf = strconv.AppendInt(buf, g.seq, 10)
		buf = append(buf, `,"readings":[`...)
		for i := range p.batch {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, `{"sensor":"`...)
			buf = append(buf, g.src.sensors[g.next]...)
			buf = append(buf, `","value":`...)
			buf = append(buf, g.src.values[g.next]...)
			buf = append(buf, '}')
			g.next = (g.next + 1) % len(g.src.sensors)
		}
		buf = append(buf, "]}"...)
		// paho keeps the payload until it is acknowledged: a copy each.
		inflight <- pending{cl.Publish(g.topic, 1, false, append([]byte(nil), buf...)), p.batch}
	}
	close(inflight)
	if err := <-ackErr; err != nil {
		return err
	}
	return ctx.Err()
}
